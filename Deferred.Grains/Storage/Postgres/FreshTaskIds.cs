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

    public void Add(string taskId)
    {
        if (_ids.Count >= Capacity)
        {
            _ids.Clear();
        }

        _ids.TryAdd(taskId, 0);
    }

    public bool TryConsume(string taskId) => _ids.TryRemove(taskId, out _);
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

    public void Add(TaskRow row)
    {
        if (_rows.Count >= Capacity)
        {
            _rows.Clear();
        }

        _rows[row.TaskId] = row;
    }

    public bool TryConsume(string taskId, out TaskRow row) => _rows.TryRemove(taskId, out row!);
}
