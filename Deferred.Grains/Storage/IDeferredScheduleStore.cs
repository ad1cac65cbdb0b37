using Deferred.Lifecycle;

namespace Deferred.Storage;

/// <summary>
/// Where schedules live and how their occurrences become tasks: the schedule side of the store seam. Only a store
/// that can insert task rows in the transaction that advances a schedule has one (the default store); the stock store
/// has none, and schedules are refused there.
/// </summary>
internal interface IDeferredScheduleStore
{
    /// <summary>
    /// Creates or replaces a schedule. A changed timing takes <see cref="ScheduleDefinition.NextAt"/>; an unchanged one
    /// keeps the stored next occurrence; a pause is kept. Returns null when a runtime definition meets a code schedule of
    /// the same name (refused, nothing changed).
    /// </summary>
    Task<ScheduleUpsert?> UpsertAsync(ScheduleDefinition definition, CancellationToken cancellationToken);

    /// <summary>One schedule, or null.</summary>
    Task<StoredSchedule?> ReadAsync(string name, CancellationToken cancellationToken);

    /// <summary>Every schedule of the service, by name (without payloads).</summary>
    Task<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Removes a schedule; false when there was none.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken);

    /// <summary>Pauses a schedule; false when there is none.</summary>
    Task<bool> PauseAsync(string name, CancellationToken cancellationToken);

    /// <summary>Resumes a paused schedule at <paramref name="nextAt"/> if it is still at <paramref name="version"/>; false otherwise.</summary>
    Task<bool> ResumeAsync(string name, int version, DateTimeOffset nextAt, CancellationToken cancellationToken);

    /// <summary>
    /// One scheduler pass, in one transaction: claims up to <paramref name="limit"/> due schedules this silo can fire
    /// (locked; silos passing together take different ones), asks <paramref name="plan"/> for each one's occurrence tasks
    /// and next occurrence (given the database's clock), inserts the tasks (an id that exists inserts nothing), advances
    /// the schedules, and commits. Returns what it fired.
    /// </summary>
    Task<IReadOnlyList<FiredSchedule>> FireDueAsync(
        IReadOnlyCollection<string> codeNames,
        IReadOnlyCollection<string> taskTypes,
        int limit,
        Func<StoredSchedule, DateTimeOffset, ScheduleFiring> plan,
        CancellationToken cancellationToken);

    /// <summary>The database's clock, against which every next occurrence is computed.</summary>
    Task<DateTimeOffset> NowAsync(CancellationToken cancellationToken);

    /// <summary>The earliest next occurrence among the schedules this silo can fire (null when none), and the database's clock.</summary>
    Task<(DateTimeOffset? NextAt, DateTimeOffset Now)> NextDueAsync(
        IReadOnlyCollection<string> codeNames, IReadOnlyCollection<string> taskTypes, CancellationToken cancellationToken);
}

/// <summary>A schedule to store.</summary>
/// <param name="Name">The schedule name.</param>
/// <param name="TaskType">The stored task type name.</param>
/// <param name="Payload">Runtime: the serialized task; code: null.</param>
/// <param name="Cron">The cron expression, or null.</param>
/// <param name="IntervalMs">The interval in milliseconds, or null.</param>
/// <param name="TimeZone">The time zone id (<c>UTC</c> for intervals).</param>
/// <param name="Missed">The missed-occurrence policy.</param>
/// <param name="MaxAttempts">Attempts per occurrence.</param>
/// <param name="Source">Code or run time.</param>
/// <param name="Definition">The definition as text, to tell a change.</param>
/// <param name="NextAt">The first occurrence after now, taken when the timing is new or changed.</param>
internal sealed record ScheduleDefinition(
    string Name,
    string TaskType,
    byte[]? Payload,
    string? Cron,
    long? IntervalMs,
    string TimeZone,
    MissedOccurrences Missed,
    int MaxAttempts,
    DeferredScheduleSource Source,
    string Definition,
    DateTimeOffset NextAt);

/// <summary>What an upsert did.</summary>
/// <param name="Created">True when the schedule is new.</param>
/// <param name="Changed">True when its definition is new or differs from the stored one.</param>
/// <param name="NextAt">Its next occurrence as stored now.</param>
internal sealed record ScheduleUpsert(bool Created, bool Changed, DateTimeOffset NextAt);

/// <summary>A stored schedule row.</summary>
internal sealed record StoredSchedule
{
    public required string Name { get; init; }

    public required string TaskType { get; init; }

    public byte[]? Payload { get; init; }

    public string? Cron { get; init; }

    public long? IntervalMs { get; init; }

    public required string TimeZone { get; init; }

    /// <summary>The stored policy name (RunOnce, RunAll, Skip).</summary>
    public required string Missed { get; init; }

    public int MaxAttempts { get; init; }

    public bool Paused { get; init; }

    public DateTimeOffset NextAt { get; init; }

    public DateTimeOffset? LastOccurrence { get; init; }

    public DeferredScheduleSource Source { get; init; }

    public int Version { get; init; }
}

/// <summary>What one claimed schedule fires in a pass: the occurrence tasks and where the schedule moves.</summary>
/// <param name="Tasks">The occurrences' task rows, with their deterministic ids.</param>
/// <param name="NextAt">The schedule's next occurrence.</param>
/// <param name="LastOccurrence">The last occurrence enqueued by this pass; null when none was.</param>
/// <param name="Pause">True to pause the schedule (its stored definition cannot be read).</param>
internal sealed record ScheduleFiring(IReadOnlyList<(string TaskId, TaskRecord Record)> Tasks, DateTimeOffset NextAt, DateTimeOffset? LastOccurrence, bool Pause = false)
{
    /// <summary>Extra detail for the log: occurrences skipped or collapsed by the policy.</summary>
    public int NotRun { get; init; }
}

/// <summary>One schedule a pass fired.</summary>
/// <param name="Schedule">The schedule as claimed.</param>
/// <param name="Firing">What the plan said.</param>
/// <param name="Inserted">The task ids the pass stored (an id that existed is missing).</param>
internal sealed record FiredSchedule(StoredSchedule Schedule, ScheduleFiring Firing, IReadOnlyList<string> Inserted);
