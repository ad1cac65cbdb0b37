using Deferred.Storage;
using Orleans.Concurrency;

namespace Deferred.Operations;

/// <summary>
/// Lists and counts through the store's catalog (keyset pages, never OFFSET). Bulk actions are <see cref="BulkActionGrain"/>s.
/// </summary>
// Holds no state: reentrant, so a slow count does not hold up the dashboard's lists on the same silo.
[StatelessWorker]
[Reentrant]
internal sealed class OperatorGrain(IDeferredTaskCatalog catalog) : Grain, IOperatorGrain
{
    public async Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        TaskListing.Validate(query);
        var after = TaskListing.Decode(query.Filter, query.PageToken);
        var rows = await catalog.ListAsync(query.Filter, after, query.PageSize, CancellationToken.None);
        var next = rows.Count == query.PageSize ? TaskListing.Encode(query.Filter, new TaskListKey(rows[^1].NextRunAt, rows[^1].TaskId)) : null;
        return new DeferredTaskPage(rows, next);
    }

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync() => catalog.CountByStatusAndTypeAsync(CancellationToken.None);
}
