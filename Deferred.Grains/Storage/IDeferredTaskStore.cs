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

    /// <summary>
    /// Where the store can end a task in the transaction of its handler's own writes (transactional handlers): the
    /// transactions; otherwise null, and a silo with a transactional handler refuses to start on it.
    /// </summary>
    IAttemptTransactions? Transactions { get; }
}

/// <summary>
/// Transactions for the attempts of transactional handlers: the handler writes in the transaction, and the task's end
/// (the delete of its row, its ordering key, its concurrency lease) commits with those writes, or none of it does.
/// </summary>
internal interface IAttemptTransactions
{
    /// <summary>Opens a connection of the store's pool and begins the attempt's transaction on it.</summary>
    Task<IAttemptTransaction> BeginAsync(CancellationToken cancellationToken);
}

/// <summary>One attempt's open transaction. Disposing it without <see cref="CompleteAsync"/> rolls it back.</summary>
internal interface IAttemptTransaction : IAsyncDisposable
{
    /// <summary>The transaction the handler is given.</summary>
    System.Data.Common.DbTransaction Transaction { get; }

    /// <summary>
    /// Ends the task in the transaction and commits: deletes its row at <see cref="AttemptEnd.Version"/>, gives back its
    /// ordering key and lease. Never throws for the attempt's own reasons; the result says what came of it.
    /// </summary>
    Task<AttemptCommit> CompleteAsync(AttemptEnd end);
}

/// <summary>What ends a task in its attempt's transaction: its row at the version the attempt ran from, and what it holds.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="Version">The row's version (the activation's ETag).</param>
/// <param name="TaskType">The task's stored type name (its lease is per type).</param>
/// <param name="LeaseSlot">The cluster concurrency slot the attempt holds, if any.</param>
internal readonly record struct AttemptEnd(string TaskId, string Version, string TaskType, int? LeaseSlot);

/// <summary>What came of committing an attempt's transaction.</summary>
internal enum AttemptCommitResult
{
    /// <summary>The handler's writes and the task's end are durable together.</summary>
    Committed,

    /// <summary>The row changed under the attempt: rolled back, nothing of it is stored.</summary>
    Superseded,

    /// <summary>The handler committed or rolled back the transaction itself; the row was not touched.</summary>
    Ended,

    /// <summary>The commit did not land (the database refused it, or could not be reached): nothing of the attempt is stored.</summary>
    Failed,
}

/// <summary>The result of <see cref="IAttemptTransaction.CompleteAsync"/>, with the error when it <see cref="AttemptCommitResult.Failed"/>.</summary>
internal readonly record struct AttemptCommit(AttemptCommitResult Result, Exception? Error = null);

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
