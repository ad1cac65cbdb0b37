using System.Collections.Concurrent;

namespace Deferred.Cluster;

/// <summary>
/// The task ids that have an activation on this silo right now. The stranded-task audit uses it to find rows this
/// silo owns that no activation holds (for example after Orleans deactivated a duplicate activation), without
/// calling every grain.
/// </summary>
internal sealed class LocalTasks
{
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);

    public void Add(string taskId) => _ids[taskId] = 0;

    public void Remove(string taskId) => _ids.TryRemove(taskId, out _);

    public bool Contains(string taskId) => _ids.ContainsKey(taskId);
}
