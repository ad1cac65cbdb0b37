namespace Deferred;

/// <summary>
/// When a periodic task runs: a cron expression in a time zone (<see cref="Cron"/>) or a fixed interval
/// (<see cref="Every"/>), what happens to occurrences missed while no silo could run them (<see cref="Missed"/>), and
/// the options each occurrence's task gets. Register one in code with <c>siloBuilder.AddDeferredSchedule</c>, or at run
/// time with <see cref="IDeferredTasks.ScheduleAsync{TTask}"/>. Every occurrence runs once per cluster as a task with the
/// id <c>schedule:{name}:{occurrence, UTC, yyyyMMddTHHmmssfffZ}</c>.
/// </summary>
/// <remarks>
/// The factories check what they can at once; the full check (the cron syntax too) runs where the schedule is
/// registered or stored, and fails with an <see cref="ArgumentException"/> naming the bad value before anything is stored.
/// </remarks>
[GenerateSerializer, Immutable, Alias("deferred.schedule.v1")]
public sealed record DeferredSchedule
{
    /// <summary>The shortest interval <see cref="Every"/> accepts: occurrences are at most one a second.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// With <see cref="MissedOccurrences.Skip"/>: how late an occurrence may still run. Older ones are skipped (the
    /// "misfire threshold" of other schedulers). With <see cref="MissedOccurrences.RunOnce"/>: how late the oldest due
    /// occurrence may be for a pass to count as late rather than after an outage, and run each occurrence. One minute.
    /// </summary>
    public static readonly TimeSpan SkipGracePeriod = TimeSpan.FromMinutes(1);

    /// <summary>The longest schedule name: an occurrence's task id (<see cref="DeferredTaskId.MaxLength"/>) holds it with a prefix and the time.</summary>
    public const int MaxNameLength = 64;

    private DeferredSchedule()
    {
    }

    /// <summary>
    /// Checks a schedule name: 1 to <see cref="MaxNameLength"/> characters from <c>A-Z a-z 0-9 - _ .</c> (it becomes part
    /// of every occurrence's task id).
    /// </summary>
    /// <param name="name">The name to check.</param>
    /// <returns>Null when the name is valid; otherwise why it is not.</returns>
    public static string? ValidateName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "the schedule name is empty";
        }

        if (name.Length > MaxNameLength)
        {
            return $"the schedule name is {name.Length} characters long; the limit is {MaxNameLength}";
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return $"the schedule name contains '{c}'; use only letters, digits and - _ .";
            }
        }

        return null;
    }

    /// <summary>The cron expression (5 fields, or 6 with seconds first); null for an interval schedule.</summary>
    [Id(0)] public string? CronExpression { get; private init; }

    /// <summary>The interval; null for a cron schedule.</summary>
    [Id(1)] public TimeSpan? Interval { get; private init; }

    /// <summary>The IANA or Windows time zone id a cron expression is read in; null for UTC (and for intervals).</summary>
    [Id(2)] public string? TimeZone { get; private init; }

    /// <summary>What happens to occurrences missed while the cluster was down. Default <see cref="MissedOccurrences.RunOnce"/>.</summary>
    [Id(3)] public MissedOccurrences Missed { get; init; } = MissedOccurrences.RunOnce;

    /// <summary>The most attempts each occurrence's task gets; null uses <c>DeferredOptions.DefaultMaxAttempts</c>.</summary>
    [Id(4)] public int? MaxAttempts { get; init; }

    /// <summary>
    /// Runs at the times a cron expression gives, read in <paramref name="timeZone"/>. Five fields
    /// (<c>minute hour day-of-month month day-of-week</c>) or six with seconds first (<c>*/10 * * * * *</c>); the
    /// fields are counted to tell which. Parsed by Cronos, which also accepts <c>@hourly</c>, <c>@daily</c> and the like.
    /// Across a daylight-saving change a time the clock skips runs at the change, and a time it passes twice runs once
    /// (an expression with a step or range in the hour field, such as <c>0 */1 * * *</c>, runs in both passes).
    /// </summary>
    /// <param name="expression">The cron expression.</param>
    /// <param name="timeZone">An IANA (<c>Europe/Berlin</c>) or Windows (<c>W. Europe Standard Time</c>) time zone id; null for UTC.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentException">The expression is blank, or the time zone is unknown.</exception>
    public static DeferredSchedule Cron(string expression, string? timeZone = null)
    {
        if (string.IsNullOrWhiteSpace(expression))
        {
            throw new ArgumentException("The cron expression is empty; give one such as '0 * * * *' (every hour) or '*/10 * * * * *' (every 10 seconds).", nameof(expression));
        }

        if (timeZone is not null)
        {
            _ = FindTimeZone(timeZone);
        }

        return new DeferredSchedule { CronExpression = expression.Trim(), TimeZone = timeZone };
    }

    /// <summary>
    /// Runs every <paramref name="interval"/>. The occurrences are whole multiples of the interval since
    /// 1970-01-01T00:00Z, so they do not shift when silos restart: <c>Every(TimeSpan.FromHours(1))</c> runs on the hour
    /// (UTC), <c>Every(TimeSpan.FromMinutes(15))</c> at :00, :15, :30 and :45.
    /// </summary>
    /// <param name="interval">At least <see cref="MinInterval"/>, in whole milliseconds.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The interval is shorter than a second or not whole milliseconds.</exception>
    public static DeferredSchedule Every(TimeSpan interval)
    {
        if (IntervalProblem(interval) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, problem);
        }

        return new DeferredSchedule { Interval = interval };
    }

    /// <summary>The schedule as text: <c>cron '0 9 * * 1-5' in Europe/Berlin</c> or <c>every 00:05:00</c>.</summary>
    public override string ToString() =>
        CronExpression is { } cron
            ? $"cron '{cron}' in {TimeZone ?? "UTC"}"
            : $"every {Interval?.ToString("c", System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Why <paramref name="interval"/> is not a valid interval, or null when it is.</summary>
    internal static string? IntervalProblem(TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
        {
            return $"The schedule interval is {interval}; it must be greater than zero (at least {MinInterval.TotalSeconds:0} second).";
        }

        if (interval < MinInterval)
        {
            return $"The schedule interval is {interval}; it must be at least {MinInterval.TotalSeconds:0} second (occurrences are at most one a second).";
        }

        return interval.Ticks % TimeSpan.TicksPerMillisecond != 0
            ? $"The schedule interval is {interval}; it must be whole milliseconds."
            : null;
    }

    /// <summary>Finds an IANA or Windows time zone by id, or throws an <see cref="ArgumentException"/> naming it.</summary>
    internal static TimeZoneInfo FindTimeZone(string timeZone)
    {
        if (string.IsNullOrWhiteSpace(timeZone))
        {
            throw new ArgumentException("The time zone is blank; give an IANA id such as 'Europe/Berlin', or null for UTC.", nameof(timeZone));
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"The time zone '{timeZone}' is not known on this machine; give an IANA id such as 'Europe/Berlin' or a Windows id such as 'W. Europe Standard Time'.", nameof(timeZone), ex);
        }
    }
}

/// <summary>What a schedule does with occurrences that came due while no silo could run them (the cluster was down, the schedule's silos were gone).</summary>
[GenerateSerializer]
public enum MissedOccurrences
{
    /// <summary>
    /// All missed occurrences together run once, as the latest of them. The default. A pass that is only late (its
    /// oldest due occurrence at most <see cref="DeferredSchedule.SkipGracePeriod"/> old) runs each occurrence instead,
    /// so a short interval loses no tick to a pause.
    /// </summary>
    RunOnce = 0,

    /// <summary>Every missed occurrence runs (up to 1,000 a pass, the rest in the next passes).</summary>
    RunAll = 1,

    /// <summary>
    /// Occurrences more than <see cref="DeferredSchedule.SkipGracePeriod"/> late are skipped; later ones run. For work
    /// that is pointless once its time has passed.
    /// </summary>
    Skip = 2,
}

/// <summary>Where a schedule was defined.</summary>
[GenerateSerializer]
public enum DeferredScheduleSource
{
    /// <summary>Registered in code with <c>siloBuilder.AddDeferredSchedule</c>: written at every start of a silo that registers it.</summary>
    Code = 0,

    /// <summary>Created at run time with <see cref="IDeferredTasks.ScheduleAsync{TTask}"/>; its task is stored with it.</summary>
    Runtime = 1,
}

/// <summary>A stored schedule, as the operator sees it.</summary>
[GenerateSerializer, Immutable, Alias("deferred.schedule-info.v1")]
public sealed record DeferredScheduleInfo
{
    /// <summary>The schedule's name, unique in the service.</summary>
    [Id(0)] public required string Name { get; init; }

    /// <summary>The stored task type name of its occurrences.</summary>
    [Id(1)] public required string TaskType { get; init; }

    /// <summary>The schedule as text (<c>cron '0 9 * * 1-5' in Europe/Berlin</c>, <c>every 00:05:00</c>).</summary>
    [Id(2)] public required string Spec { get; init; }

    /// <summary>The time zone a cron expression is read in (<c>UTC</c> for intervals).</summary>
    [Id(3)] public required string TimeZone { get; init; }

    /// <summary>The missed-occurrence policy.</summary>
    [Id(4)] public MissedOccurrences Missed { get; init; }

    /// <summary>True while paused: no occurrence runs.</summary>
    [Id(5)] public bool Paused { get; init; }

    /// <summary>When the next occurrence is due (while paused: when it was due when paused).</summary>
    [Id(6)] public DateTimeOffset NextOccurrence { get; init; }

    /// <summary>The last occurrence enqueued; null before the first.</summary>
    [Id(7)] public DateTimeOffset? LastOccurrence { get; init; }

    /// <summary>Code or run time.</summary>
    [Id(8)] public DeferredScheduleSource Source { get; init; }

    /// <summary>The most attempts each occurrence gets.</summary>
    [Id(9)] public int MaxAttempts { get; init; }
}
