using Deferred.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace Deferred.Storage.OrleansAdoNet;

/// <summary>
/// The stock store, <c>OrleansAdoNet</c>: Orleans' own ADO.NET grain storage on <c>orleansstorage</c>, one round trip
/// per operation. It cannot claim rows in SQL or insert rows outside a grain, so far tasks are woken by durable
/// reminders and every enqueue goes through the task's grain.
/// </summary>
internal sealed class OrleansAdoNetStore(IServiceProvider services, OrleansAdoNetCatalog catalog) : IDeferredTaskStore
{
    /// <summary>The store's name (<c>Deferred:Store</c>).</summary>
    public const string StoreName = nameof(DeferredStore.OrleansAdoNet);

    /// <summary>The name the stock ADO.NET grain storage is registered under.</summary>
    public const string GrainStorageName = "deferred-tasks-stock";

    private IGrainStorage? _storage;

    public string Name => StoreName;

    // Resolved on first use: Orleans builds the provider only when this store is the one selected.
    public IGrainStorage GrainStorage => _storage ??= services.GetRequiredKeyedService<IGrainStorage>(GrainStorageName);

    public IDeferredTaskCatalog Catalog => catalog;

    public FarWakeup FarWakeup => FarWakeup.Reminder;

    public IDueTaskSource? DueTasks => null;

    public IDirectTaskInserter? DirectInsert => null;

    public int? Backlog => null;

    public INewTaskSignal? NewTasks => null;

    // Task rows are JSON in orleansstorage: there is no index to find a key's tasks in enqueue order.
    public IOrderingKeys? OrderingKeys => null;

    // Rows are deleted by Orleans' own statement: no id is remembered.
    public ICompletedTaskIds? CompletedIds => null;

    // Orleans' storage deletes the row on its own connection: no handler's transaction can include it.
    public IAttemptTransactions? Transactions => null;

    public void NoteNewTaskId(string taskId)
    {
        // Every activation reads its row; nothing to note.
    }
}
