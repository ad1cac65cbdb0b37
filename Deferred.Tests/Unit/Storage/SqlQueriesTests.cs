using System.Reflection;
using Deferred.Storage;
using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// The statements Deferred runs against the files that hold them: <c>SqlQueries</c> names each embedded
/// <c>.sql</c> file by a property, the file name in Pascal case, and nothing else (storage.md, "SQL files").
/// </summary>
public sealed class SqlQueriesTests
{
    private const string Prefix = "Deferred.Queries.";

    private static readonly Assembly Runtime = typeof(SqlQueries).Assembly;

    [Fact]
    public void Every_embedded_statement_has_the_property_its_file_name_gives()
    {
        var properties = Properties().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        var unnamed = Embedded().Keys.Where(file => !properties.Contains(PropertyName(file))).Order(StringComparer.Ordinal).ToList();

        Assert.True(unnamed.Count == 0, $"Embedded statements that no SqlQueries property names (add one named after the file, or delete the file): {string.Join(", ", unnamed.Select(f => $"{f}.sql → {PropertyName(f)}"))}");
    }

    [Fact]
    public void Every_property_returns_the_file_its_name_gives()
    {
        var files = Embedded().ToDictionary(e => PropertyName(e.Key), StringComparer.Ordinal);
        var problems = new List<string>();

        foreach (var property in Properties())
        {
            if (!files.TryGetValue(property.Name, out var file))
            {
                problems.Add($"{property.Name}: no embedded file of that name");
                continue;
            }

            string sql;
            try
            {
                sql = (string)property.GetValue(null)!;
            }
            catch (TargetInvocationException ex)
            {
                problems.Add($"{property.Name}: {ex.InnerException?.Message}");
                continue;
            }

            if (sql != file.Value)
            {
                problems.Add($"{property.Name}: returns another statement than {file.Key}.sql");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Every_sql_file_of_the_runtime_is_embedded()
    {
        // A file the project's globs do not pick up (a folder other than Storage/Sql or Storage/*/Sql) would be
        // missing at run time; the tests above only see what was embedded.
        var root = Path.Combine(Repository.Root, "Deferred.Grains");
        var embedded = Embedded();

        var left = Directory.EnumerateFiles(root, "*.sql", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("bin/", StringComparison.Ordinal) && !f.StartsWith("obj/", StringComparison.Ordinal))
            .Where(f => !embedded.ContainsKey(Path.GetFileNameWithoutExtension(f)))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.NotEmpty(embedded);
        Assert.True(left.Count == 0, $"SQL files under Deferred.Grains/ that are not embedded: {string.Join(", ", left)}");
    }

    private static IEnumerable<PropertyInfo> Properties() =>
        typeof(SqlQueries).GetProperties(BindingFlags.Public | BindingFlags.Static).Where(p => p.PropertyType == typeof(string));

    /// <summary>The embedded statements by file name without <c>.sql</c>, with their text.</summary>
    private static Dictionary<string, string> Embedded() =>
        Runtime.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(
                n => n.EndsWith(".sql", StringComparison.Ordinal) ? n[Prefix.Length..^".sql".Length] : n[Prefix.Length..],
                n =>
                {
                    using var reader = new StreamReader(Runtime.GetManifestResourceStream(n)!);
                    return reader.ReadToEnd();
                },
                StringComparer.Ordinal);

    /// <summary><c>tasks-claim-unowned</c> → <c>TasksClaimUnowned</c>.</summary>
    private static string PropertyName(string file) =>
        string.Concat(file.Split('-').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));
}
