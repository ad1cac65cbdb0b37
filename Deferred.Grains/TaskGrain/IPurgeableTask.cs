using Orleans.Concurrency;

namespace Deferred.TaskGrain;

/// <summary>The task grain's side of the operator's purge of dead tasks (<c>Operations/OperatorGrain</c>).</summary>
internal interface IPurgeableTask : IGrainWithStringKey
{
    /// <summary>
    /// Deletes the task if it is still dead; false when it is not stored, or was retried since it was listed (also
    /// while that retry runs: answered at once).
    /// </summary>
    [AlwaysInterleave]
    Task<bool> PurgeIfDeadAsync();
}
