namespace Deferred;

/// <summary>Which stored tasks a list or bulk action covers. Every field is optional; set ones must all match.</summary>
[GenerateSerializer, Immutable, Alias("deferred.filter.v1")]
public sealed record DeferredTaskFilter
{
    /// <summary>Pending, Failed or Dead (Running is never stored, so it is not a filter).</summary>
    [Id(0)] public DeferredTaskStatus? Status { get; init; }

    /// <summary>The stored task type name, exactly.</summary>
    [Id(1)] public string? TaskType { get; init; }

    /// <summary>Only tasks due at or after this time.</summary>
    [Id(2)] public DateTimeOffset? DueFrom { get; init; }

    /// <summary>Only tasks due before this time.</summary>
    [Id(3)] public DateTimeOffset? DueBefore { get; init; }

    /// <summary>Only tasks whose last error's type or message contains this text (case-insensitive).</summary>
    [Id(4)] public string? ErrorContains { get; init; }
}

/// <summary>A list request: a filter, a page size and where to continue.</summary>
[GenerateSerializer, Immutable, Alias("deferred.query.v1")]
public sealed record DeferredTaskQuery
{
    /// <summary>The largest page size.</summary>
    public const int MaxPageSize = 500;

    /// <summary>Which tasks.</summary>
    [Id(0)] public DeferredTaskFilter Filter { get; init; } = new();

    /// <summary>Tasks per page, 1 to <see cref="MaxPageSize"/>. Default 50.</summary>
    [Id(1)] public int PageSize { get; init; } = 50;

    /// <summary>The <see cref="DeferredTaskPage.NextPageToken"/> of the previous page of the same query; null for the first.</summary>
    [Id(2)] public string? PageToken { get; init; }
}

/// <summary>One page of tasks.</summary>
/// <param name="Tasks">The tasks, in due-time order, then id.</param>
/// <param name="NextPageToken">Where the next page starts; null when this is the last.</param>
[GenerateSerializer, Immutable, Alias("deferred.page.v1")]
public sealed record DeferredTaskPage([property: Id(0)] IReadOnlyList<DeferredTaskSummary> Tasks, [property: Id(1)] string? NextPageToken);

/// <summary>A task as a list shows it.</summary>
[GenerateSerializer, Immutable, Alias("deferred.summary.v1")]
public sealed record DeferredTaskSummary
{
    /// <summary>The task id.</summary>
    [Id(0)] public required string TaskId { get; init; }

    /// <summary>The stored task type name.</summary>
    [Id(1)] public required string TaskType { get; init; }

    /// <summary>The stored status (a running task shows its stored status here; <see cref="IDeferredTaskOperator.ShowAsync"/> says Running).</summary>
    [Id(2)] public DeferredTaskStatus Status { get; init; }

    /// <summary>Failed attempts so far.</summary>
    [Id(3)] public int Attempts { get; init; }

    /// <summary>The most attempts the task gets.</summary>
    [Id(4)] public int MaxAttempts { get; init; }

    /// <summary>When the task was committed.</summary>
    [Id(5)] public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>When the next attempt is due (for dead tasks: when the last was).</summary>
    [Id(6)] public DateTimeOffset NextRunAt { get; init; }

    /// <summary>The last error's type, if any.</summary>
    [Id(7)] public string? LastErrorType { get; init; }

    /// <summary>The last error's message, if any.</summary>
    [Id(8)] public string? LastErrorMessage { get; init; }

    /// <summary>The silo holding the task; null when released.</summary>
    [Id(9)] public string? Owner { get; init; }
}

/// <summary>How many tasks of one type are stored in one status.</summary>
[GenerateSerializer, Immutable, Alias("deferred.count.v1")]
public sealed record DeferredTaskCount([property: Id(0)] DeferredTaskStatus Status, [property: Id(1)] string TaskType, [property: Id(2)] long Count);

/// <summary>One task in detail.</summary>
[GenerateSerializer, Immutable, Alias("deferred.details.v1")]
public sealed record DeferredTaskDetails
{
    /// <summary>Status (Running while an attempt is in flight), attempts, next run, last error with its stack.</summary>
    [Id(0)] public required DeferredTaskInfo Info { get; init; }

    /// <summary>The silo holding the task; null when released.</summary>
    [Id(1)] public string? Owner { get; init; }

    /// <summary>
    /// While the task is Running: when its attempt began. Otherwise the in-flight marker of an attempt whose silo went
    /// away (counted as an interruption when the task is next activated); null when there is none.
    /// </summary>
    [Id(2)] public DateTimeOffset? RunningSince { get; init; }

    /// <summary>The serialized task's size in bytes.</summary>
    [Id(3)] public int PayloadBytes { get; init; }

    /// <summary>The task object as JSON, where it can be rendered (a registered, readable type); else null.</summary>
    [Id(4)] public string? PayloadJson { get; init; }

    /// <summary>The CLR type of the task object, where the stored type name has a handler on the silo.</summary>
    [Id(5)] public string? PayloadType { get; init; }

    /// <summary>The task's ordering key (<see cref="DeferredEnqueueOptions.OrderingKey"/>); null when it has none.</summary>
    [Id(6)] public string? OrderingKey { get; init; }
}

/// <summary>What <see cref="IDeferredTaskOperator.CancelAsync"/> did.</summary>
[GenerateSerializer]
public enum DeferredCancelOutcome
{
    /// <summary>No such task is stored.</summary>
    NotStored = 0,

    /// <summary>The task was waiting; it is removed.</summary>
    Cancelled = 1,

    /// <summary>An attempt is running; its token is signalled and the task is removed when the handler returns.</summary>
    Signalled = 2,

    /// <summary>The task is dead; nothing was cancelled (delete it instead).</summary>
    NotLive = 3,
}
