using System.Collections.Concurrent;

namespace Deferred.Cluster;

/// <summary>
/// Tasks this silo has just claimed from a silo that went away, until their activation loads. An activation of one of
/// them is watched from its first attempt (the in-flight marker is stored), whichever call brings it up: the sweep's
/// adopt, or the due-time poller, which sees the claimed rows as this silo's own and may resume one first. Without it,
/// that race started the first attempt on the survivor unwatched.
/// </summary>
internal sealed class AdoptedTasks
{
    // Entries are removed when an activation loads them; the cap bounds what claims that never activate here leave.
    private const int Capacity = 100_000;
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);
    private int _count;

    public void Add(IEnumerable<string> taskIds)
    {
        foreach (var id in taskIds)
        {
            if (Volatile.Read(ref _count) >= Capacity)
            {
                _ids.Clear();
                Volatile.Write(ref _count, 0);
            }

            if (_ids.TryAdd(id, 0))
            {
                Interlocked.Increment(ref _count);
            }
        }
    }

    /// <summary>True (once) when <paramref name="taskId"/> was adopted and not yet loaded.</summary>
    public bool TryConsume(string taskId)
    {
        if (!_ids.TryRemove(taskId, out _))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
