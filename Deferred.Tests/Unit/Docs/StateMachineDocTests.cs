using System.Text.RegularExpressions;
using Deferred.Lifecycle;
using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// Holds the diagram in <c>docs/state-machine.md</c> to <see cref="LifecycleTable.All"/>: one arrow per row of the
/// table, labelled with the edge's name, and nothing else. Needs no database.
/// </summary>
public sealed partial class StateMachineDocTests
{
    [Fact]
    public void Diagram_has_exactly_the_edges_of_the_lifecycle_table()
    {
        var arrows = Arrows(MermaidBlock(Path.Combine(Repository.Root, "docs", "state-machine.md")));
        var diagram = new HashSet<string>(arrows, StringComparer.Ordinal);
        var table = new HashSet<string>(LifecycleTable.All.Select(e => Arrow(StateName(e.From), StateName(e.To), LifecycleTable.NameOf(e.Edge))), StringComparer.Ordinal);

        var missing = table.Where(a => !diagram.Contains(a)).Order(StringComparer.Ordinal).ToList();
        var extra = diagram.Where(a => !table.Contains(a)).Order(StringComparer.Ordinal).ToList();
        var repeated = arrows.GroupBy(a => a, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).Order(StringComparer.Ordinal).ToList();

        Assert.True(
            missing.Count == 0 && extra.Count == 0 && repeated.Count == 0,
            "docs/state-machine.md's diagram does not match LifecycleTable.All." + Environment.NewLine +
            List("Missing from the diagram", missing) +
            List("In the diagram but not in the table", extra) +
            List("In the diagram more than once", repeated));
    }

    private static string StateName(TaskState state) => state == TaskState.None ? "[*]" : state.ToString();

    private static string Arrow(string from, string to, string name) => $"{from} --> {to}: {name}";

    private static string List(string title, List<string> arrows) =>
        arrows.Count == 0 ? "" : $"{title}:{Environment.NewLine}{string.Join(Environment.NewLine, arrows.Select(a => "    " + a))}{Environment.NewLine}";

    /// <summary>Every arrow line of the block as "From --> To: name", in order, repeats kept.</summary>
    private static List<string> Arrows(List<string> block) =>
        block.Select(line => ArrowLine().Match(line))
            .Where(m => m.Success)
            .Select(m => Arrow(m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value))
            .ToList();

    /// <summary>The lines of the first <c>```mermaid</c> block of the file.</summary>
    private static List<string> MermaidBlock(string path)
    {
        var lines = File.ReadAllLines(path);
        var start = Array.FindIndex(lines, l => l.Trim() == "```mermaid");
        Assert.True(start >= 0, $"{path} has no ```mermaid block.");
        var block = lines.Skip(start + 1).TakeWhile(l => !l.TrimStart().StartsWith("```", StringComparison.Ordinal)).ToList();
        Assert.True(start + 1 + block.Count < lines.Length, $"The ```mermaid block of {path} is not closed.");
        return block;
    }

    [GeneratedRegex(@"^\s*(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)\s*:\s*([a-z-]+)")]
    private static partial Regex ArrowLine();
}
