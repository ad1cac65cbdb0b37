using System.Text.RegularExpressions;
using Deferred.Storage;
using Deferred.Storage.Postgres;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// Every statement whose rows go through <c>TaskRowReader</c> returns the columns it reads: the read's select list
/// and the claims' RETURNING lists, parsed from their SQL.
/// </summary>
public sealed partial class TaskRowReaderTests
{
    [Fact]
    public void The_read_selects_the_columns_the_row_reader_reads()
    {
        var read = Columns(SelectList(SqlQueries.TasksRead));

        Assert.Equal(Sorted(TaskRowReader.Columns), Sorted(read));
    }

    [Theory]
    [InlineData(nameof(SqlQueries.TasksClaim))]
    [InlineData(nameof(SqlQueries.TasksClaimUnowned))]
    public void A_claim_returns_the_columns_of_the_read_and_whether_the_row_was_released(string statement)
    {
        var sql = (string)typeof(SqlQueries).GetProperty(statement)!.GetValue(null)!;
        var read = Columns(SelectList(SqlQueries.TasksRead));

        var claim = Columns(ReturningList(sql));

        // PostgresCatalog reads "released" itself, next to the row.
        Assert.Contains("released", claim);
        Assert.Equal(Sorted(read), Sorted(claim.Where(c => c != "released")));
    }

    [Theory]
    [InlineData("t.task_id, t.last_error::text, c.owner IS NULL AS released", new[] { "task_id", "last_error", "released" })]
    [InlineData("task_id,\n       version", new[] { "task_id", "version" })]
    [InlineData("coalesce(a, b) AS x, y", new[] { "x", "y" })]
    public void The_parser_names_columns_as_PostgreSQL_does(string list, string[] expected) =>
        Assert.Equal(expected, Columns(list));

    /// <summary>The text between the first SELECT and its FROM, comments left out.</summary>
    private static string SelectList(string sql)
    {
        var match = SelectPattern().Match(WithoutComments(sql));
        Assert.True(match.Success, $"No SELECT … FROM in:\n{sql}");
        return match.Groups["list"].Value;
    }

    /// <summary>The text after RETURNING, up to the statement's end, comments left out.</summary>
    private static string ReturningList(string sql)
    {
        var match = ReturningPattern().Match(WithoutComments(sql));
        Assert.True(match.Success, $"No RETURNING in:\n{sql}");
        return match.Groups["list"].Value;
    }

    /// <summary>
    /// The names PostgreSQL gives the items of a select or RETURNING list: the alias after AS, else the column of
    /// <c>[table.]column[::type]</c>. Anything else fails the test rather than being guessed.
    /// </summary>
    private static List<string> Columns(string list)
    {
        var names = new List<string>();
        foreach (var item in SplitTopLevel(list))
        {
            var alias = AliasPattern().Match(item);
            var column = ColumnPattern().Match(item);
            Assert.True(alias.Success || column.Success, $"Cannot name the list item \"{item}\": give it an alias (AS name).");
            names.Add(alias.Success ? alias.Groups["name"].Value : column.Groups["name"].Value);
        }

        Assert.True(names.Count == names.Distinct(StringComparer.Ordinal).Count(), $"A column is listed twice: {string.Join(", ", names)}");
        return names;
    }

    /// <summary>Splits at the commas outside parentheses.</summary>
    private static IEnumerable<string> SplitTopLevel(string list)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < list.Length; i++)
        {
            depth += list[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (list[i] == ',' && depth == 0)
            {
                yield return list[start..i].Trim();
                start = i + 1;
            }
        }

        yield return list[start..].Trim();
    }

    private static string WithoutComments(string sql) => CommentPattern().Replace(sql, "");

    private static string[] Sorted(IEnumerable<string> names) => names.Order(StringComparer.Ordinal).ToArray();

    [GeneratedRegex(@"--[^\n]*")]
    private static partial Regex CommentPattern();

    [GeneratedRegex(@"\bSELECT\b(?<list>.*?)\bFROM\b", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex SelectPattern();

    [GeneratedRegex(@"\bRETURNING\b(?<list>[^;]*)", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex ReturningPattern();

    [GeneratedRegex(@"\sAS\s+(?<name>\w+)$", RegexOptions.IgnoreCase)]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^(\w+\.)?(?<name>\w+)(::\w+)?$")]
    private static partial Regex ColumnPattern();
}
