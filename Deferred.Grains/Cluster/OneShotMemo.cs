using System.Collections.Concurrent;

namespace Deferred.Cluster;

/// <summary>
/// What this silo knows about a task until its activation loads it once: a fresh id (no row to read), a row it just
/// wrote or claimed (no read needed), a task it just adopted (watch its first attempt). Each entry is taken once by
/// <see cref="TryConsume"/>. Entries that no activation takes here (the task was placed elsewhere, or its call failed
/// first) are bounded by clearing the whole memo at <see cref="Capacity"/>, which only costs those tasks the shortcut.
/// </summary>
internal sealed class OneShotMemo<TValue>
{
    public const int Capacity = 100_000;
    private readonly ConcurrentDictionary<string, TValue> _entries = new(StringComparer.Ordinal);

    // ConcurrentDictionary.Count takes every lock of the table; on the enqueue path that serialised the enqueuers.
    private int _count;

    /// <summary>Remembers <paramref name="value"/> for <paramref name="taskId"/>, replacing an earlier one.</summary>
    public void Set(string taskId, TValue value)
    {
        if (Volatile.Read(ref _count) >= Capacity)
        {
            _entries.Clear();
            Volatile.Write(ref _count, 0);
        }

        if (_entries.TryAdd(taskId, value))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            _entries[taskId] = value;
        }
    }

    /// <summary>Takes what is remembered for <paramref name="taskId"/>; false when nothing is.</summary>
    public bool TryConsume(string taskId, out TValue value)
    {
        if (!_entries.TryRemove(taskId, out value!))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
