namespace Deferred.TaskGrain;

/// <summary>
/// What a task's activation is doing: its one in-memory mode. Each phase that waits has exactly one timer with one
/// purpose; the others hold none.
/// </summary>
internal enum TaskPhase
{
    /// <summary>No row is known here: a new activation before its enqueue, or the task was deleted.</summary>
    Empty,

    /// <summary>Live and due later than the timer threshold: the store's far wake-up (poller or reminder) brings it back.</summary>
    Parked,

    /// <summary>Live and due soon: the due timer is armed and starts the attempt.</summary>
    Waiting,

    /// <summary>An attempt is in flight.</summary>
    Running,

    /// <summary>The handler succeeded and the delete has not landed yet; the completion timer retries it. Reads say Running.</summary>
    Recording,

    /// <summary>An enqueue's insert outlived its window; the verification timer reads the row once the store answers.</summary>
    Verifying,

    /// <summary>An attempt could not start (its in-flight marker could not be stored); the backoff timer tries again.</summary>
    BackingOff,

    /// <summary>Dead: nothing runs until an operator retries or deletes it.</summary>
    Dead,

    /// <summary>This activation ran the task to success and deleted its row.</summary>
    Completed,
}
