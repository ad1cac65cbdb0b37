using Deferred.Storage;
using Deferred.Storage.Resilience;
using Orleans.Concurrency;

namespace Deferred.Operations;

/// <summary>
/// Lists and counts through the store's catalog (keyset pages, never OFFSET). Bulk actions are <see cref="BulkActionGrain"/>s.
/// </summary>
// Holds no state: reentrant, so a slow count does not hold up the dashboard's lists on the same silo.
[StatelessWorker]
[Reentrant]
internal sealed class OperatorGrain(IDeferredTaskCatalog catalog, StoreResilience resilience) : Grain, IOperatorGrain
{
    public Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query) =>
        TaskListing.PageAsync(query, (filter, after, limit) => Store("list tasks", () => catalog.ListAsync(filter, after, limit, CancellationToken.None)));

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync() => Store("count tasks", () => catalog.CountByStatusAndTypeAsync(CancellationToken.None));

    /// <summary>
    /// Runs a call that reads the catalog. An unreachable database becomes <see cref="DeferredStoreUnavailableException"/>,
    /// the one typed exception a caller can tell apart (and the only one of these that crosses to an Orleans client:
    /// Npgsql's exceptions have no Orleans codec, so a client would get a serialization error instead). The cause is
    /// logged on this silo as the start of an outage, never sent to the caller.
    /// </summary>
    private async Task<T> Store<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex) && ex is not DeferredStoreUnavailableException)
        {
            resilience.Unreachable(ex);
            throw new DeferredStoreUnavailableException($"Deferred could not reach its task store, so it could not {what}; nothing was changed. Try again when the database is back.");
        }
    }
}
