using System.Text.Json.Serialization;

namespace Deferred.Lifecycle;

/// <summary>
/// A task as it is stored: one immutable value per version of its row. Only the functions of
/// <see cref="TaskLifecycle"/> make a new one from an old one; the grain writes what they return.
/// Both stores hold exactly these fields (the default store as typed columns of <c>deferred_tasks</c>, the stock
/// store as camelCase JSON in <c>orleansstorage</c>); see <c>docs/state-machine.md</c>.
/// </summary>
internal sealed record TaskRecord
{
    /// <summary>The Orleans state name of task rows (<c>graintypestring</c> in <c>orleansstorage</c>).</summary>
    public const string StateName = "deferred-task";

    /// <summary>The stored name of the task type, looked up in the handler registry.</summary>
    public string TaskType { get; init; } = "";

    /// <summary>The task object, Orleans-serialized as its declared type (no CLR type names inside).</summary>
    public byte[] Payload { get; init; } = [];

    /// <summary>Pending, Failed or Dead. Running is never stored.</summary>
    public DeferredTaskStatus Status { get; init; }

    /// <summary>Attempts that have finished and failed.</summary>
    public int Attempts { get; init; }

    /// <summary>The most attempts the task gets.</summary>
    public int MaxAttempts { get; init; }

    /// <summary>When the task was committed.</summary>
    public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>When the next attempt is due.</summary>
    public DateTimeOffset NextRunAt { get; init; }

    /// <summary>True while a durable reminder is registered to wake the task (stores that wake far tasks by reminders).</summary>
    public bool HasReminder { get; init; }

    /// <summary>
    /// The silo (Orleans <c>SiloAddress</c>, parsable form) holding the task. The orphan sweep adopts a task only when
    /// this silo is gone. Null when released by a clean stop, or on rows written before ownership existed.
    /// </summary>
    public string? Owner { get; init; }

    /// <summary>
    /// The in-flight marker: set (to the start time) just before a watched attempt's handler starts, cleared when its
    /// outcome is written. A new activation that reads it set knows the previous one went away mid-attempt.
    /// </summary>
    public DateTimeOffset? RunningSince { get; init; }

    /// <summary>Times an attempt was found in flight after its silo went away.</summary>
    public int Interruptions { get; init; }

    /// <summary>Times the handler snoozed the task (<c>snooze</c>): runs that did not count as attempts.</summary>
    public int Snoozes { get; init; }

    /// <summary>The last failed attempt's error, or why the task is dead.</summary>
    public DeferredTaskError? LastError { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the enqueue's producer span: every attempt continues that trace.</summary>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> of the enqueue's span, when there is one.</summary>
    public string? TraceState { get; init; }

    /// <summary>The enqueuing code's baggage, as a W3C <c>baggage</c> header value; the handler sees it.</summary>
    public string? Baggage { get; init; }

    /// <summary>
    /// The ordering key (<see cref="DeferredEnqueueOptions.OrderingKey"/>): the task starts only when no task of the same key
    /// enqueued before it is still stored, and only while it holds the key. Null for unordered tasks.
    /// </summary>
    public string? OrderingKey { get; init; }

    /// <summary>
    /// The carried Orleans <c>RequestContext</c> entries (<c>DeferredOptions.CarriedRequestContextKeys</c>),
    /// Orleans-serialized; restored around every attempt. Null when none were carried.
    /// </summary>
    public byte[]? RequestContext { get; init; }

    /// <summary>
    /// True when the caller chose the task's id (<see cref="DeferredEnqueueOptions.TaskId"/>): when its row is deleted the
    /// default store remembers the id for <c>CompletedIdRetention</c>, so a repeated enqueue does not run it again.
    /// </summary>
    public bool CallerChosenId { get; init; }

    /// <summary>
    /// Set only in memory, by a store that could not read the row: why. Such a record stands in for the row until
    /// <see cref="TaskLifecycle.MarkUnreadable"/> stores it as a dead task; it is never stored itself.
    /// </summary>
    [JsonIgnore]
    public DeferredTaskError? ReadFailure { get; init; }

    /// <summary>Pending or failed: the task will run again without an operator.</summary>
    [JsonIgnore]
    public bool IsLive => Status is DeferredTaskStatus.Pending or DeferredTaskStatus.Failed;

    /// <summary>
    /// What callers see of this record; <paramref name="running"/> while an attempt is in flight, with what it last
    /// reported (<paramref name="progress"/>).
    /// </summary>
    public DeferredTaskInfo ToInfo(string taskId, bool running, DeferredTaskProgress? progress = null) => new()
    {
        TaskId = taskId,
        TaskType = TaskType,
        Status = running ? DeferredTaskStatus.Running : Status,
        Attempts = Attempts,
        MaxAttempts = MaxAttempts,
        EnqueuedAt = EnqueuedAt,
        NextRunAt = Status == DeferredTaskStatus.Dead ? null : NextRunAt,
        LastError = LastError,
        Interruptions = Interruptions,
        Snoozes = Snoozes,
        Progress = progress,
    };
}
