using System.Collections.Concurrent;

namespace Deferred.Storage.Postgres;

/// <summary>
/// Ids this silo has just generated for new tasks. A generated id cannot have a row yet, so the store answers the
/// activation's read from here instead of asking the database: one round trip less per enqueue. If the id
/// existed after all, the insert reports a conflict and the grain re-reads.
/// </summary>
internal sealed class FreshTaskIds
{
    // Entries are removed when the activation reads them; the cap bounds what enqueues that never reach the
    // local store (placed elsewhere, or failed first) can leave behind.
    private const int Capacity = 100_000;
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);

    // ConcurrentDictionary.Count takes every lock of the table; on the enqueue path that serialised the enqueuers.
    private int _count;

    public void Add(string taskId)
    {
        if (Volatile.Read(ref _count) >= Capacity)
        {
            _ids.Clear();
            Volatile.Write(ref _count, 0);
        }

        if (_ids.TryAdd(taskId, 0))
        {
            Interlocked.Increment(ref _count);
        }
    }

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

/// <summary>
/// Rows this silo has just inserted in a batch enqueue, kept until their activation reads them once: the read is
/// answered from here instead of the database. Safe because every write is conditional on the version: should a row
/// have changed meanwhile, the activation's first write finds the conflict and reads it again.
/// </summary>
internal sealed class JustInsertedRows
{
    private const int Capacity = 100_000;
    private readonly ConcurrentDictionary<string, TaskRow> _rows = new(StringComparer.Ordinal);
    private int _count;

    public void Add(TaskRow row)
    {
        if (Volatile.Read(ref _count) >= Capacity)
        {
            _rows.Clear();
            Volatile.Write(ref _count, 0);
        }

        if (_rows.TryAdd(row.TaskId, row))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            _rows[row.TaskId] = row;
        }
    }

    public bool TryConsume(string taskId, out TaskRow row)
    {
        if (!_rows.TryRemove(taskId, out row!))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
