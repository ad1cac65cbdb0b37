using Deferred.Lifecycle;
using Orleans.Storage;

namespace Deferred.Storage;

/// <summary>
/// A task store, as the runtime sees it: the one seam between the lifecycle and a database. A store is registered
/// on the silo builder (<c>UseDeferredPostgresStore()</c>, <c>UseDeferredOrleansAdoNetStore()</c>) and declares
/// what it can do; nothing outside a store asks which store it is.
/// </summary>
internal interface IDeferredTaskStore
{
    /// <summary>The store's name, as <c>Deferred:Store</c> selects it.</summary>
    string Name { get; }

    /// <summary>Task rows as Orleans grain state (the ETag is the row version: every write is conditional).</summary>
    IGrainStorage GrainStorage { get; }

    /// <summary>Reads and claims beyond one task: the orphan sweep, the stranded-task audit, release, counts.</summary>
    IDeferredTaskCatalog Catalog { get; }

    /// <summary>How tasks due beyond the timer threshold are woken.</summary>
    FarWakeup FarWakeup { get; }

    /// <summary>With <see cref="Lifecycle.FarWakeup.Poller"/>: the due-time index the poller reads; otherwise null.</summary>
    IDueTaskSource? DueTasks { get; }

    /// <summary>
    /// When the store can insert a new far task's row without an activation (the poller wakes it later): the insert;
    /// otherwise null and every enqueue goes through the task's grain.
    /// </summary>
    IDirectTaskInserter? DirectInsert { get; }

    /// <summary>Where the store can tell silos about tasks stored outside them (app transactions): the signal; otherwise null.</summary>
    INewTaskSignal? NewTasks { get; }

    /// <summary>
    /// The store's ordering keys when it can order tasks by <see cref="DeferredEnqueueOptions.OrderingKey"/> (it can find
    /// the stored tasks of a key in enqueue order); null for a store that cannot, which refuses keyed tasks at enqueue.
    /// </summary>
    IOrderingKeys? OrderingKeys { get; }

    /// <summary>Row operations waiting to be sent, where the store queues them (group commit); null when it does not.</summary>
    int? Backlog { get; }

    /// <summary>Where the store remembers the ids of completed caller-id tasks (<c>CompletedIdRetention</c>): those ids; otherwise null.</summary>
    ICompletedTaskIds? CompletedIds { get; }

    /// <summary>A hint that <paramref name="taskId"/> was generated here a moment ago, so its activation need not read a row.</summary>
    void NoteNewTaskId(string taskId);
}

/// <summary>Turns of ordering keys, in the store: who may run the next task of a key.</summary>
internal interface IOrderingKeys
{
    /// <summary>True when <paramref name="taskId"/> holds <paramref name="key"/> (now, or already): no earlier task of the key is stored and no other task holds it.</summary>
    Task<bool> TryTakeAsync(string key, string taskId, CancellationToken cancellationToken);

    /// <summary>Gives <paramref name="key"/> back after the row of <paramref name="taskId"/> was deleted; best effort (a hold whose row is gone is free anyway).</summary>
    Task ReleaseAsync(string key, string taskId);
}

/// <summary>The due-time index of a store whose far tasks are woken by the poller.</summary>
internal interface IDueTaskSource
{
    /// <summary>
    /// Up to <paramref name="pageSize"/> live tasks of <paramref name="owner"/> due in (<paramref name="from"/>,
    /// <paramref name="to"/>], in due-time order after the keyset (<paramref name="afterDue"/>, <paramref name="afterId"/>).
    /// </summary>
    Task<IReadOnlyList<(string TaskId, DateTimeOffset DueAt)>> ListDueAsync(
        string owner, DateTimeOffset from, DateTimeOffset to, DateTimeOffset afterDue, string afterId, int pageSize, CancellationToken cancellationToken);
}

/// <summary>A signal that tasks were stored outside the silos (by app code in its own transaction).</summary>
internal interface INewTaskSignal
{
    /// <summary>
    /// Opens one listening connection and calls <paramref name="onNewTasks"/> once it listens (for anything committed
    /// while nothing listened) and whenever tasks of this service were committed outside the silos. Ends, by throwing,
    /// when the connection does, or when <paramref name="cancellationToken"/> is cancelled: the caller's loop
    /// (<c>Recovery/NotificationListener</c>) opens it again with backoff; signals missed meanwhile are covered by the
    /// periodic sweep.
    /// </summary>
    Task ListenOnceAsync(Action onNewTasks, CancellationToken cancellationToken);
}

/// <summary>Inserts the row of a new task with a freshly generated id, without an activation.</summary>
internal interface IDirectTaskInserter
{
    /// <summary>True when inserted; false when the id exists.</summary>
    Task<bool> InsertAsync(string taskId, TaskRecord record);

    /// <summary>Inserts every row in one transaction, or none (then it throws).</summary>
    Task InsertManyAsync(IReadOnlyList<(string TaskId, TaskRecord Record)> rows);
}

/// <summary>The Orleans grain-storage name under which the selected store holds task rows.</summary>
internal static class TaskStorage
{
    /// <summary>The provider name the task grain's persistent state uses.</summary>
    public const string ProviderName = "deferred-tasks";
}

/// <summary>The ids of caller-id tasks that left the store a short while ago, as a store remembers them.</summary>
internal interface ICompletedTaskIds
{
    /// <summary>When the task <paramref name="taskId"/> left the store, if within the retention; otherwise null.</summary>
    Task<DateTimeOffset?> CompletedAtAsync(string taskId);

    /// <summary>Forgets the ids older than the retention (a bounded number per call); returns how many.</summary>
    Task<int> ForgetExpiredAsync(CancellationToken cancellationToken);
}
