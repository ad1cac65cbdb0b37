using Deferred.Cluster;

namespace Deferred.Storage.Postgres;

/// <summary>
/// Ids this silo has just generated for new tasks. A generated id cannot have a row yet, so the store answers the
/// activation's read from here instead of asking the database: one round trip less per enqueue. If the id
/// existed after all, the insert reports a conflict and the grain re-reads.
/// </summary>
internal sealed class FreshTaskIds
{
    private readonly OneShotMemo<bool> _ids = new();

    public void Add(string taskId) => _ids.Set(taskId, true);

    public bool TryConsume(string taskId) => _ids.TryConsume(taskId, out _);
}

/// <summary>
/// Rows this silo has just inserted in a batch enqueue or claimed in a sweep, kept until their activation reads them
/// once: the read is answered from here instead of the database. Safe because every write is conditional on the
/// version: should a row have changed meanwhile, the activation's first write finds the conflict and reads it again.
/// </summary>
internal sealed class JustInsertedRows
{
    private readonly OneShotMemo<TaskRow> _rows = new();

    public void Add(TaskRow row) => _rows.Set(row.TaskId, row);

    public bool TryConsume(string taskId, out TaskRow row) => _rows.TryConsume(taskId, out row);
}
