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
        TaskListing.PageAsync(query, (filter, after, limit) => resilience.OperatorReadAsync("list tasks", () => catalog.ListAsync(filter, after, limit, CancellationToken.None)));

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync() => resilience.OperatorReadAsync("count tasks", () => catalog.CountByStatusAndTypeAsync(CancellationToken.None));
}
