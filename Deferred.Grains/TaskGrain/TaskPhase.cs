using Deferred.Execution;

namespace Deferred.TaskGrain;

/// <summary>
/// What a task's activation is doing: its one in-memory mode, with the data only that mode needs. A phase that waits
/// (<see cref="HasTimer"/>) owns the activation's one timer, and says what the timer is for; the others hold none.
/// The stored row says the rest (pending, failed, dead, parked on a reminder, gone).
/// </summary>
internal abstract record TaskPhase
{
    /// <summary>True when the one timer is armed (or has fired and its callback waits for the lock) for this phase.</summary>
    public virtual bool HasTimer => false;

    /// <summary>True while an attempt is in flight or its outcome is being stored: reads report the task as running.</summary>
    public virtual bool Busy => false;

    /// <summary>Nothing in hand: no row known, or the row is parked for the store's far wake-up, or dead.</summary>
    public sealed record Idle : TaskPhase
    {
        public static readonly Idle Instance = new();
    }

    /// <summary>This activation ran the task to its end and deleted its row (succeeded, or cancelled while running).</summary>
    public sealed record Completed : TaskPhase
    {
        public static readonly Completed Instance = new();
    }

    /// <summary>
    /// Due soon: the timer starts the attempt. <paramref name="Announced"/>: the execution gate already counts it (a task
    /// due at once is counted before its timer fires, so recovery's backlog limit sees it).
    /// </summary>
    public sealed record Due(ExecutionGate.Reservation? Announced) : TaskPhase
    {
        public override bool HasTimer => true;
    }

    /// <summary>
    /// Another task holds the ordering key: the timer looks again after a backoff, or at once when a task of the key ends
    /// on this silo. <paramref name="Waits"/>: the looks so far that found the key held.
    /// </summary>
    public sealed record KeyWait(int Waits) : TaskPhase
    {
        public override bool HasTimer => true;
    }

    /// <summary>
    /// The attempt could not store its in-flight marker: the timer tries again with backoff.
    /// <paramref name="Failures"/>: the starts in a row that could not store it.
    /// </summary>
    public sealed record BackingOff(int Failures) : TaskPhase
    {
        public override bool HasTimer => true;
    }

    /// <summary>
    /// An attempt is in flight since <paramref name="Since"/>. <paramref name="Cancel"/> signals the handler's token when
    /// an operator cancels (<paramref name="CancelRequested"/>); <paramref name="StartFailures"/> carries the back-off
    /// count in case the marker cannot be stored again.
    /// </summary>
    public sealed record AttemptInFlight(DateTimeOffset Since, CancellationTokenSource Cancel, int StartFailures, bool CancelRequested = false) : TaskPhase
    {
        public override bool Busy => true;
    }

    /// <summary>
    /// The handler has returned and the delete (succeed, or cancel when <paramref name="Cancelled"/>) did not land yet:
    /// the timer tries the delete again, never the task. Reads still say running.
    /// </summary>
    public sealed record Recording(DateTimeOffset Since, bool Cancelled, bool Retrying = false) : TaskPhase
    {
        public override bool Busy => true;

        public override bool HasTimer => Retrying;
    }

    /// <summary>
    /// An enqueue's insert outlived its window and may still commit: the timer reads the row once the store answers.
    /// <paramref name="Failures"/>: the reads so far that could not settle it.
    /// </summary>
    public sealed record Verifying(int Failures) : TaskPhase
    {
        public override bool HasTimer => true;
    }
}
