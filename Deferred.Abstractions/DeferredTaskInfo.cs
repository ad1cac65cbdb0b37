namespace Deferred;

/// <summary>A snapshot of a stored task, as returned by <see cref="IDeferredTasks.GetAsync"/>.</summary>
[GenerateSerializer, Immutable, Alias("deferred.info.v1")]
public sealed record DeferredTaskInfo
{
    /// <summary>The task's id.</summary>
    [Id(0)] public required string TaskId { get; init; }

    /// <summary>The stored name of the task type.</summary>
    [Id(1)] public required string TaskType { get; init; }

    /// <summary>Where the task is in its lifecycle.</summary>
    [Id(2)] public DeferredTaskStatus Status { get; init; }

    /// <summary>How many attempts have finished (failed) so far; a running attempt is not counted yet.</summary>
    [Id(3)] public int Attempts { get; init; }

    /// <summary>The most attempts the task gets.</summary>
    [Id(4)] public int MaxAttempts { get; init; }

    /// <summary>When the task was committed.</summary>
    [Id(5)] public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>When the next attempt is due; null for dead tasks.</summary>
    [Id(6)] public DateTimeOffset? NextRunAt { get; init; }

    /// <summary>The last attempt's error, if any attempt failed.</summary>
    [Id(7)] public DeferredTaskError? LastError { get; init; }

    /// <summary>
    /// How many times an attempt of this task was found in flight after its silo went away (crashed or was
    /// killed). A task that reaches <c>DeferredOptions.QuarantineAfterInterruptions</c> is quarantined as
    /// <see cref="DeferredTaskStatus.Dead"/>.
    /// </summary>
    [Id(8)] public int Interruptions { get; init; }

    /// <summary>
    /// For <see cref="DeferredTaskStatus.Completed"/> (an enqueue of a recently completed caller-chosen id): when the task
    /// left the store. Null otherwise.
    /// </summary>
    [Id(9)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>
    /// How many times the handler snoozed the task (<see cref="DeferredSnoozeException"/>): runs that waited without
    /// counting as attempts. Bounded by <c>DeferredOptions.MaxSnoozes</c>.
    /// </summary>
    [Id(10)] public int Snoozes { get; init; }

    /// <summary>
    /// What the running attempt last reported (<see cref="DeferredTaskContext.ReportProgressAsync"/>); null when no attempt
    /// runs or it reported nothing.
    /// </summary>
    [Id(11)] public DeferredTaskProgress? Progress { get; init; }
}
