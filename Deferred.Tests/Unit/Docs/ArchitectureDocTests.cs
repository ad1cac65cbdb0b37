using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Deferred.Storage;
using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// Holds <c>docs/architecture.md</c> to the code of <c>Deferred.Grains</c>: the "Uses" table lists exactly the
/// folders each folder uses, the folder graph has no cycle the doc does not accept by name, the layer table agrees
/// with the uses, and the store seam's table names exactly the members of <see cref="IDeferredTaskStore"/>. The uses
/// are read from the source files (no compiler): <c>using Deferred.X</c> directives, qualified names
/// (<c>Deferred.X.Type</c>, or <c>X.Type</c> inside <c>namespace Deferred.*</c>), and names of types declared in
/// exactly one other folder (so a use through a parent namespace is seen). Needs no database.
/// </summary>
public sealed partial class ArchitectureDocTests
{
    private static readonly Lazy<Code> Source = new(() => Code.Read(Path.Combine(Repository.Root, "Deferred.Grains")));

    [Fact]
    public void Uses_table_lists_exactly_the_uses_in_the_code()
    {
        var code = Source.Value;
        var table = UsesTable(Doc());
        var problems = new List<string>();

        foreach (var folder in code.Folders)
        {
            if (!table.TryGetValue(folder, out var listed))
            {
                problems.Add($"{folder}/ has no row in the Uses table.");
                continue;
            }

            var actual = code.Uses(folder);
            foreach (var used in actual.Keys.Where(u => !listed.Contains(u)).Order(StringComparer.Ordinal))
            {
                problems.Add($"{folder}/ uses {used}/ (not listed): {Evidence(actual[used])}");
            }

            foreach (var stale in listed.Where(u => !actual.ContainsKey(u)).Order(StringComparer.Ordinal))
            {
                problems.Add($"{folder}/ is listed as using {stale}/, but nothing in {folder}/ does.");
            }
        }

        problems.AddRange(table.Keys.Where(f => !code.Folders.Contains(f)).Select(f => $"The Uses table has a row for {f}/, which is not a folder of Deferred.Grains."));
        Assert.True(problems.Count == 0, "docs/architecture.md's Uses table does not match the code:" + Environment.NewLine + Lines(problems));
    }

    [Fact]
    public void Folder_graph_has_no_cycle_but_the_accepted_ones()
    {
        var code = Source.Value;
        var accepted = AcceptedCycles(Doc());
        var problems = new List<string>();
        var cycles = Cycles(code);

        foreach (var (cycle, members) in cycles)
        {
            if (!accepted.Any(a => a.SetEquals(members)))
            {
                var steps = cycle.Zip(cycle.Skip(1), (from, to) => $"    {from}/ -> {to}/: {Evidence(code.Uses(from)[to])}");
                var more = members.Count > cycle.Count - 1 ? $" (its component also holds {string.Join(", ", members.Where(f => !cycle.Contains(f)).Order(StringComparer.Ordinal).Select(f => f + "/"))})" : "";
                problems.Add($"Cycle {string.Join(" -> ", cycle.Select(f => f + "/"))}{more}:{Environment.NewLine}{string.Join(Environment.NewLine, steps)}");
            }
        }

        foreach (var stale in accepted.Where(a => !cycles.Any(c => a.SetEquals(c.Members))))
        {
            problems.Add($"The doc accepts a cycle among {string.Join(", ", stale.Order(StringComparer.Ordinal).Select(f => f + "/"))}, but the code has no such cycle.");
        }

        Assert.True(problems.Count == 0, "The folders of Deferred.Grains have a cycle docs/architecture.md does not accept:" + Environment.NewLine + Lines(problems));
    }

    [Fact]
    public void Layer_table_puts_every_use_below_its_user()
    {
        var code = Source.Value;
        var layers = LayerTable(Doc());
        var accepted = AcceptedCycles(Doc());
        var problems = new List<string>();

        problems.AddRange(code.Folders.Where(f => !layers.ContainsKey(f)).Select(f => $"{f}/ is in no layer."));
        foreach (var folder in code.Folders.Where(layers.ContainsKey))
        {
            foreach (var (used, where) in code.Uses(folder))
            {
                var inAcceptedCycle = accepted.Any(a => a.Contains(folder) && a.Contains(used));
                if (layers.TryGetValue(used, out var usedLayer) && usedLayer >= layers[folder] && !inAcceptedCycle)
                {
                    problems.Add($"{folder}/ (layer {layers[folder]}) uses {used}/ (layer {usedLayer}): {Evidence(where)}");
                }
            }
        }

        Assert.True(problems.Count == 0, "docs/architecture.md's layer table does not match the code:" + Environment.NewLine + Lines(problems));
    }

    [Fact]
    public void Store_seam_table_lists_exactly_the_members_of_the_store()
    {
        var actual = typeof(IDeferredTaskStore)
            .GetMembers(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m is PropertyInfo || m is MethodInfo { IsSpecialName: false })
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        var listed = StoreSeamTable(Doc());

        var missing = actual.Where(m => !listed.Contains(m)).Order(StringComparer.Ordinal).ToList();
        var extra = listed.Where(m => !actual.Contains(m)).Order(StringComparer.Ordinal).ToList();
        Assert.True(
            missing.Count == 0 && extra.Count == 0,
            "docs/architecture.md's store seam table does not match IDeferredTaskStore." + Environment.NewLine +
            (missing.Count == 0 ? "" : $"Not in the table: {string.Join(", ", missing)}{Environment.NewLine}") +
            (extra.Count == 0 ? "" : $"In the table but not on the interface: {string.Join(", ", extra)}{Environment.NewLine}"));
    }

    /// <summary>Known facts, so the reading of the code is trusted before the doc is held to it.</summary>
    [Fact]
    public void Reading_of_the_code_finds_known_uses()
    {
        var code = Source.Value;

        Assert.Contains("Lifecycle", code.Folders);
        Assert.Contains("Hosting", code.Folders);
        Assert.Equal("Lifecycle", code.FolderOfType("TaskLifecycle"));
        Assert.Equal("Storage", code.FolderOfType("IDeferredTaskStore"));
        Assert.Equal("Storage", code.FolderOfType("StoreResilience"));
        Assert.Equal("Client", code.FolderOfType("DeferredTransactionalEnqueuer"));

        // using directives.
        Assert.Contains("Lifecycle", code.Uses("Storage").Keys);
        Assert.Contains("Storage", code.Uses("Hosting").Keys);
        // A qualified name with no using line: Lifecycle.Transition in DeferredLog.
        Assert.Contains("Lifecycle", code.Uses("Diagnostics").Keys);
        // Through the parent namespace: OperatorGrain (namespace Deferred.Operations) names TaskGrain's types.
        Assert.Contains("TaskGrain", code.Uses("Operations").Keys);
        // Lifecycle is pure: it uses no other folder, and nothing in the doc comments or strings counts.
        Assert.Empty(code.Uses("Lifecycle"));
        // A property named as another folder's type (DeferredOptions.ConcurrencyLimits) is not a use of it.
        Assert.Empty(code.Uses("Options"));
        Assert.DoesNotContain("Hosting", code.Folders.SelectMany(f => code.Uses(f).Keys));
    }

    [Fact]
    public void Reading_of_source_text_drops_comments_and_strings()
    {
        const string text = "a /* Deferred.X */ b // Deferred.Y\n\"Deferred.Z\" @\"x\"\"Deferred.W\" $\"{c}\" '\"' \"\"\"\nDeferred.V\n\"\"\" d";
        var stripped = Code.StripCommentsAndStrings(text);
        Assert.DoesNotContain("Deferred", stripped, StringComparison.Ordinal);
        Assert.Equal(["a", "b", "d"], Regex.Matches(stripped, @"\w+").Select(m => m.Value));
    }

    private static string Evidence(SortedSet<string> where) =>
        where.Count <= 3 ? string.Join("; ", where) : string.Join("; ", where.Take(3)) + $"; and {where.Count - 3} more";

    private static string Lines(IEnumerable<string> lines) => string.Join(Environment.NewLine, lines.Select(l => "  " + l)) + Environment.NewLine;

    /// <summary>
    /// One cycle per strongly connected component of more than one folder, as a closed path (first = last), found
    /// by a breadth-first search from the component's first folder back to itself, with all the component's folders.
    /// </summary>
    private static List<(List<string> Path, HashSet<string> Members)> Cycles(Code code)
    {
        var graph = code.Folders.ToDictionary(f => f, f => code.Uses(f).Keys.Order(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var cycles = new List<(List<string>, HashSet<string>)>();
        foreach (var component in StronglyConnected(graph).Where(c => c.Count > 1))
        {
            var start = component.Min(StringComparer.Ordinal)!;
            var previous = new Dictionary<string, string>(StringComparer.Ordinal);
            var queue = new Queue<string>([start]);
            string? last = null;
            while (queue.Count > 0 && last is null)
            {
                var node = queue.Dequeue();
                foreach (var next in graph[node].Where(component.Contains))
                {
                    if (next == start)
                    {
                        last = node;
                        break;
                    }

                    if (previous.TryAdd(next, node))
                    {
                        queue.Enqueue(next);
                    }
                }
            }

            var path = new List<string> { start };
            for (var node = last!; node != start; node = previous[node])
            {
                path.Add(node);
            }

            path.Add(start);
            path.Reverse();
            cycles.Add((path, component));
        }

        return cycles;
    }

    /// <summary>Tarjan's strongly connected components.</summary>
    private static List<HashSet<string>> StronglyConnected(Dictionary<string, List<string>> graph)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var components = new List<HashSet<string>>();

        void Visit(string node)
        {
            var order = index.Count;
            index[node] = order;
            low[node] = order;
            stack.Push(node);
            onStack.Add(node);
            foreach (var next in graph[node].Where(graph.ContainsKey))
            {
                if (index.TryGetValue(next, out var seen))
                {
                    if (onStack.Contains(next))
                    {
                        low[node] = Math.Min(low[node], seen);
                    }
                }
                else
                {
                    Visit(next);
                    low[node] = Math.Min(low[node], low[next]);
                }
            }

            if (low[node] == index[node])
            {
                var component = new HashSet<string>(StringComparer.Ordinal);
                string member;
                do
                {
                    member = stack.Pop();
                    onStack.Remove(member);
                    component.Add(member);
                }
                while (member != node);
                components.Add(component);
            }
        }

        foreach (var node in graph.Keys.Order(StringComparer.Ordinal).Where(n => !index.ContainsKey(n)))
        {
            Visit(node);
        }

        return components;
    }

    // ---- The doc ----

    private static string[] Doc() => File.ReadAllLines(Path.Combine(Repository.Root, "docs", "architecture.md"));

    /// <summary>The rows of the first table under <paramref name="heading"/> whose header row starts with <paramref name="header"/>, as cells.</summary>
    private static List<string[]> Table(string[] lines, string heading, string header)
    {
        var section = Array.FindIndex(lines, l => l.Trim() == heading);
        Assert.True(section >= 0, $"docs/architecture.md has no \"{heading}\" section.");
        var end = Array.FindIndex(lines, section + 1, l => l.StartsWith("## ", StringComparison.Ordinal));
        end = end < 0 ? lines.Length : end;
        var start = Array.FindIndex(lines, section, end - section, l => Regex.IsMatch(l, @"^\|\s*" + Regex.Escape(header) + @"\s*\|"));
        Assert.True(start >= 0, $"docs/architecture.md's \"{heading}\" section has no table headed \"| {header} |\".");
        return lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|')).Select(Cells).ToList();
    }

    private static string[] Cells(string row) => row.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();

    private static string FolderCell(string cell)
    {
        var match = Regex.Match(cell, @"^`(\w+)/`$");
        Assert.True(match.Success, $"\"{cell}\" is not a folder cell like `Storage/`.");
        return match.Groups[1].Value;
    }

    /// <summary>
    /// The Uses table: per folder, the folders it lists. An entry is a folder name, optionally with a sub-namespace
    /// (<c>Storage.Resilience</c> is <c>Storage</c>) and a note in parentheses; "nothing else" lists none.
    /// </summary>
    private static Dictionary<string, HashSet<string>> UsesTable(string[] doc)
    {
        var folders = Source.Value.Folders;
        var table = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var cells in Table(doc, "## Folders and their dependencies", "Folder | Uses"))
        {
            var folder = FolderCell(cells[0]);
            var uses = new HashSet<string>(StringComparer.Ordinal);
            if (!cells[1].StartsWith("nothing", StringComparison.Ordinal))
            {
                foreach (var entry in TopLevelEntries(cells[1]))
                {
                    var name = Regex.Match(entry, @"^`?(\w+)").Groups[1].Value;
                    Assert.True(folders.Contains(name), $"The Uses row of {folder}/ lists \"{entry}\", which does not start with a folder name.");
                    uses.Add(name);
                }
            }

            Assert.True(table.TryAdd(folder, uses), $"The Uses table has two rows for {folder}/.");
        }

        return table;
    }

    /// <summary>The comma-separated entries of a cell, commas inside parentheses kept.</summary>
    private static List<string> TopLevelEntries(string cell)
    {
        var entries = new List<string>();
        var depth = 0;
        var current = new StringBuilder();
        foreach (var c in cell)
        {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            if (c == ',' && depth == 0)
            {
                entries.Add(current.ToString().Trim());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        entries.Add(current.ToString().Trim());
        return entries.Where(e => e.Length > 0).ToList();
    }

    /// <summary>The layer table: folder → layer number.</summary>
    private static Dictionary<string, int> LayerTable(string[] doc)
    {
        var layers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var cells in Table(doc, "## Folders and their dependencies", "Layer | Folders"))
        {
            var layer = int.Parse(cells[0], System.Globalization.CultureInfo.InvariantCulture);
            foreach (var entry in cells[1].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var folder = FolderCell(entry);
                Assert.True(layers.TryAdd(folder, layer), $"{folder}/ is in two layers.");
            }
        }

        return layers;
    }

    /// <summary>
    /// The cycles the doc accepts, each in a line starting "Accepted cycle:" that names its folders as a path
    /// (<c>`A/` → `B/` → `A/`</c>): each as the set of its folders.
    /// </summary>
    private static List<HashSet<string>> AcceptedCycles(string[] doc) =>
        doc.Where(l => l.StartsWith("Accepted cycle:", StringComparison.Ordinal) || l.StartsWith("- Accepted cycle:", StringComparison.Ordinal))
            .Select(l => Regex.Matches(l.Split(['(', ':'], 3)[1], @"`(\w+)/`").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal))
            .ToList();

    /// <summary>The members named in the first column of the store seam table.</summary>
    private static HashSet<string> StoreSeamTable(string[] doc) =>
        Table(doc, "## The store seam", "Member")
            .Select(cells => Regex.Match(cells[0], @"^`(\w+)`").Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);

    // ---- The code ----

    /// <summary>The top-level folders of Deferred.Grains, the types each declares, and what each uses.</summary>
    private sealed partial class Code
    {
        private readonly Dictionary<string, Dictionary<string, SortedSet<string>>> _uses = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string?> _typeFolder = new(StringComparer.Ordinal);

        /// <summary>The namespaces below a folder's own, by folder: <c>Storage.Resilience</c> is a use of <c>Storage/</c>.</summary>
        private static readonly Dictionary<string, HashSet<string>> SubNamespaces = new(StringComparer.Ordinal)
        {
            ["Storage"] = new(StringComparer.Ordinal) { "Postgres", "OrleansAdoNet", "Resilience", "Migrations" },
        };

        private Code(string root, IReadOnlyList<string> folders)
        {
            Folders = folders.ToHashSet(StringComparer.Ordinal);
            var files = folders.ToDictionary(
                f => f,
                f => Directory.EnumerateFiles(Path.Combine(root, f), "*.cs", SearchOption.AllDirectories)
                    .Select(p => (Name: Path.GetRelativePath(root, p).Replace('\\', '/'), Text: StripCommentsAndStrings(File.ReadAllText(p))))
                    .ToList(),
                StringComparer.Ordinal);

            // A type name declared in two folders names neither (null).
            foreach (var (folder, sources) in files)
            {
                foreach (var name in sources.SelectMany(s => Declared(s.Text)).Distinct(StringComparer.Ordinal))
                {
                    _typeFolder[name] = _typeFolder.TryGetValue(name, out var other) && other != folder ? null : folder;
                }
            }

            foreach (var (folder, sources) in files)
            {
                var uses = _uses[folder] = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
                var own = sources.SelectMany(s => Declared(s.Text)).ToHashSet(StringComparer.Ordinal);
                foreach (var (name, text) in sources)
                {
                    foreach (var (used, what) in UsesIn(text, own))
                    {
                        if (used != folder)
                        {
                            (uses.TryGetValue(used, out var where) ? where : uses[used] = new SortedSet<string>(StringComparer.Ordinal)).Add($"{what} in {name}");
                        }
                    }
                }
            }
        }

        public HashSet<string> Folders { get; }

        public static Code Read(string root) =>
            new(root, Directory.GetDirectories(root)
                .Select(Path.GetFileName)
                .OfType<string>()
                .Where(d => d is not ("bin" or "obj") && Directory.EnumerateFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories).Any())
                .ToList());

        /// <summary>The folders <paramref name="folder"/> uses, each with where it does (a name and a file).</summary>
        public Dictionary<string, SortedSet<string>> Uses(string folder) => _uses[folder];

        /// <summary>The one folder declaring a type of this name; null when none or several do.</summary>
        public string? FolderOfType(string name) => _typeFolder.GetValueOrDefault(name);

        /// <summary>The folder of namespace <c>Deferred.X…</c>, given X: X's folder (Hosting/ has no such namespace), if any.</summary>
        private string? FolderOfNamespace(string firstSegment) => Folders.Contains(firstSegment) && firstSegment != "Hosting" ? firstSegment : null;

        private IEnumerable<(string Folder, string What)> UsesIn(string text, HashSet<string> own)
        {
            // using Deferred.X; using static Deferred.X.T; using A = Deferred.X.T;
            foreach (Match m in UsingDirective().Matches(text))
            {
                if (FolderOfNamespace(m.Groups[1].Value) is { } folder)
                {
                    yield return (folder, $"using Deferred.{m.Groups[1].Value}{m.Groups[2].Value}");
                }
            }

            var body = UsingDirective().Replace(text, " ");

            // Deferred.X.T (also global::Deferred.X.T).
            foreach (Match m in QualifiedName().Matches(body))
            {
                if (FolderOfNamespace(m.Groups[1].Value) is { } folder)
                {
                    yield return (folder, $"Deferred.{m.Groups[1].Value}.{m.Groups[2].Value}");
                }
            }

            // Inside namespace Deferred.*: X.T, where X is a folder's namespace and T a type (or sub-namespace) of it.
            if (FileNamespace().Match(body) is { Success: true, Groups: var g } && g[1].Value.StartsWith("Deferred", StringComparison.Ordinal))
            {
                foreach (Match m in RelativeName().Matches(body))
                {
                    var first = m.Groups[1].Value;
                    var second = m.Groups[2].Value;
                    if (FolderOfNamespace(first) is { } folder && !own.Contains(first) && (FolderOfType(second) == folder || IsSubNamespace(first, second)))
                    {
                        yield return (folder, $"{first}.{second}");
                    }
                }
            }

            // A type declared in exactly one other folder, named bare (through a using, or a parent namespace). Not
            // a name being declared after its type (a property called ConcurrencyLimits is not the type), nor one
            // being assigned or named as an argument (an initializer's ConcurrencyLimits = …).
            foreach (Match m in BareIdentifier().Matches(body))
            {
                var name = m.Value;
                if (!own.Contains(name) && FolderOfType(name) is { } folder && !IsDeclaredOrAssigned(body, m))
                {
                    yield return (folder, name);
                }
            }
        }

        private static bool IsDeclaredOrAssigned(string body, Match name)
        {
            var after = body.AsSpan(name.Index + name.Length).TrimStart();
            if ((after.StartsWith("=") && !after.StartsWith("==") && !after.StartsWith("=>")) || (after.StartsWith(":") && !after.StartsWith("::")))
            {
                return true;
            }

            // "Type Name" followed by what ends a declaration's name: a member, a local, a parameter, a tuple element.
            if (after.IsEmpty || after[0] is not ('{' or ';' or '(' or ',' or ')' or '=' or '<'))
            {
                return false;
            }

            var before = body.AsSpan(0, name.Index);
            var trimmed = before.TrimEnd();
            if (trimmed.Length == before.Length || trimmed.Length == 0)
            {
                return false; // no space before: not "Type Name"
            }

            var last = trimmed[^1];
            if (last is '>' or ']' or '?')
            {
                return true;
            }

            var start = trimmed.Length;
            while (start > 0 && (char.IsLetterOrDigit(trimmed[start - 1]) || trimmed[start - 1] == '_'))
            {
                start--;
            }

            return start < trimmed.Length && !TypeFollows.Contains(trimmed[start..].ToString());
        }

        /// <summary>The words after which a name is a type (or an expression), not a declaration's name.</summary>
        private static readonly HashSet<string> TypeFollows = new(StringComparer.Ordinal)
        {
            "new", "return", "is", "as", "case", "in", "out", "ref", "typeof", "nameof", "throw", "await", "params", "this",
            "static", "readonly", "const", "public", "private", "internal", "protected", "sealed", "abstract", "virtual",
            "override", "partial", "async", "required", "volatile", "unsafe", "extern", "file", "class", "struct",
            "interface", "record", "enum", "where", "using", "namespace", "else", "yield", "not", "and", "or", "when",
            "with", "default", "sizeof", "stackalloc", "implicit", "explicit", "operator", "event", "delegate", "fixed",
            "lock", "scoped", "global",
        };

        private static bool IsSubNamespace(string folder, string segment) =>
            SubNamespaces.TryGetValue(folder, out var subs) && subs.Contains(segment);

        /// <summary>The names of the types declared in <paramref name="text"/> (nested ones too).</summary>
        private static IEnumerable<string> Declared(string text) =>
            TypeDeclaration().Matches(text).Select(m => m.Groups[1].Value)
                .Concat(DelegateDeclaration().Matches(text).Select(m => m.Groups[1].Value))
                .Where(n => n is not ("where" or "new" or "class" or "struct"));

        /// <summary>
        /// The text with comments, string and character literals replaced by a space each (an interpolated string's
        /// holes go with it), so that only code is scanned.
        /// </summary>
        public static string StripCommentsAndStrings(string text)
        {
            var result = new StringBuilder(text.Length);
            var i = 0;
            while (i < text.Length)
            {
                var c = text[i];
                var next = i + 1 < text.Length ? text[i + 1] : '\0';
                if (c == '/' && next == '/')
                {
                    while (i < text.Length && text[i] != '\n')
                    {
                        i++;
                    }
                }
                else if (c == '/' && next == '*')
                {
                    var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                    i = end < 0 ? text.Length : end + 2;
                    result.Append(' ');
                }
                else if (c == '\'')
                {
                    i++;
                    while (i < text.Length && text[i] != '\'')
                    {
                        i += text[i] == '\\' ? 2 : 1;
                    }

                    i++;
                    result.Append(' ');
                }
                else if (c is '"' or '@' or '$' && StringStart(text, i) is { } start)
                {
                    i = SkipString(text, i, start);
                    result.Append(' ');
                }
                else
                {
                    result.Append(c);
                    i++;
                }
            }

            return result.ToString();
        }

        /// <summary>At a string literal's start (any of $@"…", @$"…", $"…", @"…", "…", """…"""): its prefix length and whether verbatim.</summary>
        private static (int Prefix, bool Verbatim)? StringStart(string text, int i)
        {
            var j = i;
            var verbatim = false;
            while (j < text.Length && text[j] is '$' or '@')
            {
                verbatim |= text[j] == '@';
                j++;
            }

            if (j >= text.Length || text[j] != '"' || (j > i && i > 0 && (char.IsLetterOrDigit(text[i - 1]) || text[i - 1] == '_')))
            {
                return null;
            }

            return (j - i, verbatim);
        }

        private static int SkipString(string text, int i, (int Prefix, bool Verbatim) start)
        {
            var j = i + start.Prefix;
            var quotes = 0;
            while (j + quotes < text.Length && text[j + quotes] == '"')
            {
                quotes++;
            }

            if (quotes >= 3)
            {
                // Raw string: ends at the same number of quotes.
                var end = text.IndexOf(new string('"', quotes), j + quotes, StringComparison.Ordinal);
                return end < 0 ? text.Length : end + quotes;
            }

            if (quotes == 2)
            {
                return j + 2; // ""
            }

            j++;
            while (j < text.Length)
            {
                if (start.Verbatim && text[j] == '"' && j + 1 < text.Length && text[j + 1] == '"')
                {
                    j += 2;
                }
                else if (!start.Verbatim && text[j] == '\\')
                {
                    j += 2;
                }
                else if (text[j] == '"')
                {
                    return j + 1;
                }
                else
                {
                    j++;
                }
            }

            return j;
        }

        [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(?:global::)?Deferred\.(\w+)((?:\.\w+)*)\s*;", RegexOptions.Multiline)]
        private static partial Regex UsingDirective();

        [GeneratedRegex(@"(?<![\w.])(?:global::)?Deferred\.(\w+)\.(\w+)")]
        private static partial Regex QualifiedName();

        [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
        private static partial Regex FileNamespace();

        [GeneratedRegex(@"(?<![\w.])(\w+)\.(\w+)")]
        private static partial Regex RelativeName();

        [GeneratedRegex(@"(?<![\w.])[A-Z]\w*")]
        private static partial Regex BareIdentifier();

        [GeneratedRegex(@"\b(?:class|struct|interface|enum|record)\s+(?:class\s+|struct\s+)?(\w+)")]
        private static partial Regex TypeDeclaration();

        [GeneratedRegex(@"\bdelegate\s+[\w<>\[\]?,. ]+?\s(\w+)\s*(?:<[^>]*>)?\s*\(")]
        private static partial Regex DelegateDeclaration();
    }
}
