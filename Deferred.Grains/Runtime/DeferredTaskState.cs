using System.Text.Json.Serialization;

namespace Deferred.Runtime;

/// <summary>
/// A task's stored row. Written as JSON (see <see cref="Storage.DeferredTaskStateSerializer"/>) so operators can read
/// status, attempts and errors in SQL, and so fields can be added without breaking rows written earlier.
/// The task object itself is the Orleans-serialized <see cref="Payload"/>.
/// </summary>
internal sealed class DeferredTaskState
{
    /// <summary>The Orleans state name of task rows: <c>graintypestring</c> in <c>orleansstorage</c>.</summary>
    public const string StateName = "deferred-task";

    /// <summary>The stored name of the task type, looked up in the handler registry.</summary>
    public string TaskType { get; set; } = "";

    /// <summary>The task object, Orleans-serialized as its declared type (no CLR type names inside).</summary>
    public byte[] Payload { get; set; } = [];

    /// <summary>Pending, Failed or Dead. Running is never stored.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<DeferredTaskStatus>))]
    public DeferredTaskStatus Status { get; set; }

    /// <summary>Attempts that have finished and failed.</summary>
    public int Attempts { get; set; }

    /// <summary>The most attempts the task gets.</summary>
    public int MaxAttempts { get; set; }

    /// <summary>When the task was committed.</summary>
    public DateTimeOffset EnqueuedAt { get; set; }

    /// <summary>When the next attempt is due.</summary>
    public DateTimeOffset NextRunAt { get; set; }

    /// <summary>True while a durable reminder is registered to wake the task.</summary>
    public bool HasReminder { get; set; }

    /// <summary>
    /// The silo (Orleans <c>SiloAddress</c>, parsable form) that last wrote the row: the one holding the task. The
    /// orphan sweep adopts a task only when this silo is gone. Null on rows written before ownership existed.
    /// </summary>
    public string? Owner { get; set; }

    /// <summary>
    /// Set (to the start time) just before an attempt's handler starts, and cleared when its outcome is written.
    /// A new activation that reads it set knows the previous one went away mid-attempt.
    /// </summary>
    public DateTimeOffset? RunningSince { get; set; }

    /// <summary>Times an attempt was found in flight after its silo went away.</summary>
    public int Interruptions { get; set; }

    /// <summary>The last failed attempt's error.</summary>
    public DeferredTaskError? LastError { get; set; }

    /// <summary>Set when the stored row could not be read and this state stands in for it; never stored.</summary>
    [JsonIgnore]
    public bool NeedsRewrite { get; set; }

    /// <summary>A copy, so a failed write can be rolled back in memory.</summary>
    public DeferredTaskState Clone() => (DeferredTaskState)MemberwiseClone();

    public DeferredTaskInfo ToInfo(string taskId, bool running) => new()
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
    };
}
