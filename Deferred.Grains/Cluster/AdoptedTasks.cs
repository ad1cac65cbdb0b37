namespace Deferred.Cluster;

/// <summary>
/// Tasks this silo has just claimed from a silo that went away, until their activation loads. An activation of one of
/// them is watched from its first attempt (the in-flight marker is stored), whichever call brings it up: the sweep's
/// adopt, or the due-time poller, which sees the claimed rows as this silo's own and may resume one first. Without it,
/// that race started the first attempt on the survivor unwatched.
/// </summary>
internal sealed class AdoptedTasks
{
    private readonly OneShotMemo<bool> _ids = new();

    public void Add(IEnumerable<string> taskIds)
    {
        foreach (var id in taskIds)
        {
            _ids.Set(id, true);
        }
    }

    /// <summary>True (once) when <paramref name="taskId"/> was adopted and not yet loaded.</summary>
    public bool TryConsume(string taskId) => _ids.TryConsume(taskId, out _);
}
