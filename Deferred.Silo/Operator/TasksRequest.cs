using System.Globalization;

namespace Deferred.Silo.Operator;

/// <summary>
/// A parsed <c>tasks</c> command line: the verb, its task id or filter, and <c>--json</c>. Parsing needs no cluster,
/// so bad usage is reported (exit code 2) before the command connects to anything.
/// </summary>
internal sealed record TasksRequest
{
    private const string Filters = "[--type T] [--due-from ISO] [--due-before ISO] [--error TEXT]";
    private const string Sources = "[--from-cluster|--from-database]";

    /// <summary>Every verb's usage, in the order the full usage line lists them.</summary>
    private static readonly (string Verb, string Usage)[] Usages =
    [
        ("list", $"tasks list [--status pending|failed|dead] {Filters} [--page-size N] [--page-token TOKEN] {Sources} [--json]"),
        ("show", $"tasks show ID {Sources} [--json]"),
        ("retry", $"tasks retry ID [--json] | tasks retry --all-dead {Filters} [--detach] [--json]"),
        ("run-now", "tasks run-now ID [--json]"),
        ("cancel", "tasks cancel ID [--json]"),
        ("delete", "tasks delete ID [--json]"),
        ("purge", "tasks purge --older-than ISO [--detach] [--json]"),
        ("stats", $"tasks stats {Sources} [--json]"),
        ("action", "tasks action ACTION-ID [--cancel] [--json]"),
        ("schedules", "tasks schedules [--json]"),
        ("pause-schedule", "tasks pause-schedule NAME [--json]"),
        ("resume-schedule", "tasks resume-schedule NAME [--json]"),
        ("remove-schedule", "tasks remove-schedule NAME [--json]"),
    ];

    /// <summary>The usage line of every verb.</summary>
    public static string FullUsage { get; } = "Usage: " + string.Join(" | ", Usages.Select(u => u.Usage));

    /// <summary>list, show, retry, run-now, cancel, delete, purge, stats, action, or one of the schedule verbs.</summary>
    public required string Verb { get; init; }

    /// <summary>The task a per-task verb acts on.</summary>
    public string? TaskId { get; init; }

    /// <summary>The schedule pause-schedule, resume-schedule and remove-schedule act on.</summary>
    public string? ScheduleName { get; init; }

    /// <summary>The filter of list and of retry --all-dead.</summary>
    public DeferredTaskFilter Filter { get; init; } = new();

    /// <summary>list: tasks per page.</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>list: where to continue.</summary>
    public string? PageToken { get; init; }

    /// <summary>retry: every dead task matching <see cref="Filter"/> rather than one id.</summary>
    public bool AllDead { get; init; }

    /// <summary>retry --all-dead and purge: start the bulk action and return, rather than watch it to its end.</summary>
    public bool Detach { get; init; }

    /// <summary>action: the bulk action to show (or cancel).</summary>
    public string? ActionId { get; init; }

    /// <summary>action: cancel it.</summary>
    public bool CancelAction { get; init; }

    /// <summary>purge: dead tasks whose last attempt was due before this.</summary>
    public DateTimeOffset? OlderThan { get; init; }

    /// <summary>Machine-readable output.</summary>
    public bool Json { get; init; }

    /// <summary>Where a read verb reads: through a silo, falling back to the database when none answers (the default), or only one of them.</summary>
    public ReadSource Source { get; init; }

    /// <summary>
    /// list, show and stats: they only read, so they can be answered from the database when no silo runs. Every other
    /// verb changes tasks (or asks a silo about a bulk action) and needs the cluster.
    /// </summary>
    public bool IsRead => Verb is "list" or "show" or "stats";

    /// <summary>This verb's usage line.</summary>
    public string Usage => UsageOf(Verb);

    /// <summary>The usage line of <paramref name="verb"/>, or of every verb when it is not one.</summary>
    public static string UsageOf(string? verb) =>
        Usages.FirstOrDefault(u => u.Verb == verb).Usage is { } usage ? "Usage: " + usage : FullUsage;

    /// <summary>
    /// Parses <c>VERB [ID] [--option value]...</c>; on bad usage writes one line (what is wrong, then the usage) to
    /// <paramref name="stderr"/> and returns null.
    /// </summary>
    public static TasksRequest? Parse(string[] args, TextWriter stderr)
    {
        var verb = args.Length > 0 ? args[0] : null;
        try
        {
            return Parse(verb, args.Length > 0 ? args[1..] : []);
        }
        catch (ArgumentException ex)
        {
            stderr.WriteLine($"tasks{(Usages.Any(u => u.Verb == verb) ? " " + verb : "")}: {TaskOutput.OneLine(ex.Message)}. {UsageOf(verb)}");
            return null;
        }
    }

    private static TasksRequest Parse(string? verb, string[] rest)
    {
        if (verb is null)
        {
            throw new ArgumentException("no verb given");
        }

        if (Usages.All(u => u.Verb != verb))
        {
            throw new ArgumentException($"unknown verb '{verb}'");
        }

        var request = new TasksRequest { Verb = verb };
        var filter = new DeferredTaskFilter();
        var filtered = false;
        var options = new CommandArgs(rest);
        while (options.MoveNext())
        {
            var name = options.Name;
            switch (verb, name)
            {
                case (_, "--json"):
                    request = request with { Json = true };
                    break;
                case ("list", "--status"):
                    filter = filter with { Status = ParseStatus(options) };
                    break;
                case ("list" or "retry", "--type"):
                    filter = filter with { TaskType = options.Value() };
                    filtered = true;
                    break;
                case ("list" or "retry", "--due-from"):
                    filter = filter with { DueFrom = Time(options) };
                    filtered = true;
                    break;
                case ("list" or "retry", "--due-before"):
                    filter = filter with { DueBefore = Time(options) };
                    filtered = true;
                    break;
                case ("list" or "retry", "--error"):
                    filter = filter with { ErrorContains = options.Value() };
                    filtered = true;
                    break;
                case ("list", "--page-size"):
                    var size = options.Number(1);
                    request = request with
                    {
                        PageSize = size <= DeferredTaskQuery.MaxPageSize
                            ? size
                            : throw new ArgumentException($"--page-size must be at most {DeferredTaskQuery.MaxPageSize}, not '{size}'"),
                    };
                    break;
                case ("list" or "show" or "stats", "--from-cluster" or "--from-database"):
                    var source = name == "--from-cluster" ? ReadSource.Cluster : ReadSource.Database;
                    request = request with
                    {
                        Source = request.Source == ReadSource.Any || request.Source == source
                            ? source
                            : throw new ArgumentException("give --from-cluster or --from-database, not both"),
                    };
                    break;
                case ("list", "--page-token"):
                    request = request with { PageToken = options.Value() };
                    break;
                case ("retry", "--all-dead"):
                    request = request with { AllDead = true };
                    break;
                case ("retry" or "purge", "--detach"):
                    request = request with { Detach = true };
                    break;
                case ("action", "--cancel"):
                    request = request with { CancelAction = true };
                    break;
                case ("action", _) when !name.StartsWith('-'):
                    request = request with
                    {
                        ActionId = request.ActionId is null
                            ? (Guid.TryParseExact(name, "N", out _) ? name : throw new ArgumentException($"'{TaskOutput.OneLine(name.Length > 64 ? name[..64] + "…" : name)}' is not a bulk action id: it is 32 hexadecimal digits, as retry --all-dead and purge print"))
                            : throw new ArgumentException($"one bulk action id only, not '{request.ActionId}' and '{name}'"),
                    };
                    break;
                case ("purge", "--older-than"):
                    request = request with { OlderThan = Time(options) };
                    break;
                case ("pause-schedule" or "resume-schedule" or "remove-schedule", _) when !name.StartsWith('-'):
                    request = request with
                    {
                        ScheduleName = request.ScheduleName is null
                            ? (DeferredSchedule.ValidateName(name) is { } bad ? throw new ArgumentException($"'{name}' is not a schedule name: {bad}") : name)
                            : throw new ArgumentException($"one schedule name only, not '{request.ScheduleName}' and '{name}'"),
                    };
                    break;
                case ("show" or "retry" or "run-now" or "cancel" or "delete", _) when !name.StartsWith('-'):
                    request = request with
                    {
                        TaskId = request.TaskId is null
                            ? (DeferredTaskId.Validate(name) is { } why ? throw new ArgumentException($"'{name}' is not a task id: {why}") : name)
                            : throw new ArgumentException($"one task id only, not '{request.TaskId}' and '{name}'"),
                    };
                    break;
                default:
                    throw name.StartsWith('-') ? options.Unknown() : new ArgumentException($"unexpected argument '{name}'");
            }
        }

        request = request with { Filter = filter };
        return verb switch
        {
            "show" or "run-now" or "cancel" or "delete" when request.TaskId is null => throw new ArgumentException("a task id is needed"),
            "retry" when request.AllDead && request.TaskId is not null => throw new ArgumentException("give a task id or --all-dead, not both"),
            "retry" when !request.AllDead && request.TaskId is null => throw new ArgumentException("a task id or --all-dead is needed"),
            "retry" when !request.AllDead && filtered => throw new ArgumentException("filters go with --all-dead only"),
            "retry" when !request.AllDead && request.Detach => throw new ArgumentException("--detach goes with --all-dead only"),
            "action" when request.ActionId is null => throw new ArgumentException("a bulk action id is needed"),
            "pause-schedule" or "resume-schedule" or "remove-schedule" when request.ScheduleName is null => throw new ArgumentException("a schedule name is needed"),
            "purge" when request.OlderThan is null => throw new ArgumentException("--older-than is needed"),
            _ => request,
        };
    }

    private static DeferredTaskStatus ParseStatus(CommandArgs options)
    {
        var text = options.Value();
        return text.ToUpperInvariant() switch
        {
            "PENDING" => DeferredTaskStatus.Pending,
            "FAILED" => DeferredTaskStatus.Failed,
            "DEAD" => DeferredTaskStatus.Dead,
            _ => throw new ArgumentException($"--status must be pending, failed or dead (running is never stored), not '{text}'"),
        };
    }

    // ISO 8601 only, so that a date means the same on every machine: a day, or a time with an optional fraction
    // and an optional offset; a time without an offset is UTC.
    private static readonly string[] TimeFormats =
    [
        "yyyy-MM-dd",
        .. from time in new[] { "HH:mm", "HH:mm:ss", "HH:mm:ss.FFFFFFF" }
           from zone in new[] { "", "'Z'", "zzz" }
           select $"yyyy-MM-dd'T'{time}{zone}",
    ];

    private static DateTimeOffset Time(CommandArgs options)
    {
        var name = options.Name;
        var text = options.Value();
        return DateTimeOffset.TryParseExact(text, TimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new ArgumentException($"{name} must be an ISO 8601 date or time such as 2026-01-31 or 2026-01-31T08:00:00Z, not '{text}'");
    }
}

/// <summary>Where a read verb (list, show, stats) reads.</summary>
internal enum ReadSource
{
    /// <summary>Through a silo; from the database when no silo answers.</summary>
    Any,

    /// <summary>Through a silo only: no silo, no answer (exit 1).</summary>
    Cluster,

    /// <summary>From the database only, without asking the cluster.</summary>
    Database,
}
