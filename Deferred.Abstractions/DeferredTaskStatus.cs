namespace Deferred;

/// <summary>
/// The states a stored task can be in. The set is closed; <c>docs/state-machine.md</c> draws the transitions.
/// A completed task has no state: its row is deleted.
/// </summary>
public enum DeferredTaskStatus
{
    /// <summary>Committed and waiting for its first attempt (now or at its run time).</summary>
    Pending = 0,

    /// <summary>An attempt is running right now. Never stored: it is reported by the live task only.</summary>
    Running = 1,

    /// <summary>At least one attempt failed and another is scheduled.</summary>
    Failed = 2,

    /// <summary>Out of attempts, given up by its retry policy, or unreadable; kept for an operator and never re-run automatically.</summary>
    Dead = 3,

    /// <summary>
    /// Not stored any more: the task left the store (completed, or was cancelled or deleted) a short while ago. Reported
    /// only by an enqueue of its caller-chosen id within <c>DeferredOptions.CompletedIdRetention</c>.
    /// </summary>
    Completed = 4,
}
