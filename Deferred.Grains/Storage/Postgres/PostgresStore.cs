using Deferred.Lifecycle;
using Orleans.Storage;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The default store, <c>Postgres</c>: Deferred's own table <c>deferred_tasks</c> with group commit
/// (<see cref="TaskBatcher"/>). Far tasks are only rows, woken by the due-time poller; a far task with a generated id
/// is inserted without an activation.
/// </summary>
internal sealed class PostgresStore(PostgresGrainStorage storage, PostgresCatalog catalog, FreshTaskIds freshIds, PostgresNewTaskSignal signal, PostgresCompletedIds completedIds, PostgresOrderingKeys orderingKeys, PostgresAttemptTransactions transactions) : IDeferredTaskStore, IDirectTaskInserter
{
    /// <summary>The store's name (<c>Deferred:Store</c>).</summary>
    public const string StoreName = nameof(DeferredStore.Postgres);

    public string Name => StoreName;

    public IGrainStorage GrainStorage => storage;

    public IDeferredTaskCatalog Catalog => catalog;

    public FarWakeup FarWakeup => FarWakeup.Poller;

    public IDueTaskSource DueTasks => catalog;

    public IDirectTaskInserter DirectInsert => this;

    public Task<bool> InsertAsync(string taskId, TaskRecord record) => storage.InsertNewAsync(taskId, record);

    public Task InsertManyAsync(IReadOnlyList<(string TaskId, TaskRecord Record)> rows) => storage.InsertManyAsync(rows);

    public void NoteNewTaskId(string taskId) => freshIds.Add(taskId);

    public int? Backlog => storage.Backlog;

    public INewTaskSignal NewTasks => signal;

    INewTaskSignal? IDeferredTaskStore.NewTasks => NewTasks;

    public IOrderingKeys OrderingKeys => orderingKeys;

    IOrderingKeys? IDeferredTaskStore.OrderingKeys => OrderingKeys;

    public ICompletedTaskIds CompletedIds => completedIds;

    ICompletedTaskIds? IDeferredTaskStore.CompletedIds => CompletedIds;

    public IAttemptTransactions Transactions => transactions;

    IAttemptTransactions? IDeferredTaskStore.Transactions => Transactions;

    IDueTaskSource? IDeferredTaskStore.DueTasks => DueTasks;

    IDirectTaskInserter? IDeferredTaskStore.DirectInsert => DirectInsert;
}
