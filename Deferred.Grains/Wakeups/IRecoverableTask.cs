using Orleans.Concurrency;

namespace Deferred.Wakeups;

/// <summary>
/// The task grain as the silo's own wake-ups see it (the due-time poller, the orphan sweep, the stranded-task audit).
/// Internal: app code has no reason to call these, so they are not on <see cref="IDeferredTaskGrain"/>.
/// </summary>
internal interface IRecoverableTask : IGrainWithStringKey
{
    /// <summary>
    /// Makes sure a stored, live task is scheduled in this activation: due tasks run, future ones wait. Harmless to
    /// call at any time. True when a pending or failed task is stored (or this activation just completed it).
    /// </summary>
    [AlwaysInterleave]
    Task<bool> ResumeAsync();

    /// <summary>
    /// Like <see cref="ResumeAsync"/>, for a task adopted from a silo that went away: from now on each attempt stores
    /// an in-flight marker before it starts, so a task that takes silos down is counted and quarantined. Interleaves:
    /// the due-time poller may have started the task here before the sweep's call arrives, and the call must not wait
    /// for that attempt.
    /// </summary>
    [AlwaysInterleave]
    Task<bool> AdoptAsync();

    /// <summary>
    /// A task of this task's ordering key ended on this silo: a task waiting for its key looks again now rather than
    /// after its backoff. Does nothing otherwise.
    /// </summary>
    [AlwaysInterleave]
    Task WakeAsync();
}
