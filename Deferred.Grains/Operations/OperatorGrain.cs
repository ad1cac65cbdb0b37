using Deferred.Storage;
using Deferred.Storage.Resilience;
using Orleans.Concurrency;

namespace Deferred.Operations;

/// <summary>
/// Lists and counts through the store's catalog (keyset pages, never OFFSET), and applies bulk actions as lifecycle
/// transitions of each task's own grain: a bulk retry is many <see cref="IDeferredTaskGrain.RetryDeadAsync"/> calls, not
/// an UPDATE that bypasses the grains.
/// </summary>
// Holds no state: reentrant, so a long bulk action does not hold up the dashboard's lists and counts on the same silo.
[StatelessWorker]
[Reentrant]
internal sealed class OperatorGrain(IDeferredTaskCatalog catalog, IGrainFactory grains, StoreResilience resilience) : Grain, IOperatorGrain
{
    private const int BulkPage = 200;
    private const int BulkParallelism = 16;

    public async Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        TaskListing.Validate(query);
        var after = TaskListing.Decode(query.Filter, query.PageToken);
        var rows = await Store("list tasks", () => catalog.ListAsync(query.Filter, after, query.PageSize, CancellationToken.None));
        var next = rows.Count == query.PageSize ? TaskListing.Encode(query.Filter, new TaskListKey(rows[^1].NextRunAt, rows[^1].TaskId)) : null;
        return new DeferredTaskPage(rows, next);
    }

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync() => Store("count tasks", () => catalog.CountByStatusAndTypeAsync(CancellationToken.None));

    public Task<int> RetryDeadAsync(DeferredTaskFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var dead = filter with { Status = DeferredTaskStatus.Dead };
        TaskListing.Validate(new DeferredTaskQuery { Filter = dead, PageSize = BulkPage });
        return Store("retry dead tasks", () => ForEachAsync(dead, id => grains.GetGrain<IDeferredTaskGrain>(id).RetryDeadAsync()), bulk: true);
    }

    // A task listed as dead may have been retried since (waiting or running): the grain deletes it only if it is still
    // dead, so a purge never removes a task an operator brought back.
    public Task<int> PurgeDeadAsync(DateTimeOffset olderThan) =>
        Store(
            "purge dead tasks",
            () => ForEachAsync(new DeferredTaskFilter { Status = DeferredTaskStatus.Dead, DueBefore = olderThan }, id => grains.GetGrain<TaskGrain.IPurgeableTask>(id).PurgeIfDeadAsync()),
            bulk: true);

    /// <summary>
    /// Runs a call that reads the catalog. An unreachable database becomes <see cref="DeferredStoreUnavailableException"/>,
    /// the one typed exception a caller can tell apart (and the only one of these that crosses to an Orleans client:
    /// Npgsql's exceptions have no Orleans codec, so a client would get a serialization error instead). The cause is
    /// logged on this silo as the start of an outage, never sent to the caller.
    /// </summary>
    private async Task<T> Store<T>(string what, Func<Task<T>> call, bool bulk = false)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex) && (bulk || ex is not DeferredStoreUnavailableException))
        {
            if (ex is not DeferredStoreUnavailableException)
            {
                resilience.Unreachable(ex);
            }

            throw new DeferredStoreUnavailableException(bulk
                ? $"Deferred could not reach its task store, so it could not {what} to the end; tasks it reached before keep their change. Run it again when the database is back."
                : $"Deferred could not reach its task store, so it could not {what}; nothing was changed. Try again when the database is back.");
        }
    }

    /// <summary>
    /// Applies <paramref name="action"/> to every task matching <paramref name="filter"/>, page by page. Tasks an action
    /// changes may leave the filter (a retried task is no longer dead), so the keyset moves past each page either way.
    /// </summary>
    private async Task<int> ForEachAsync(DeferredTaskFilter filter, Func<string, Task<bool>> action)
    {
        var done = 0;
        TaskListKey? after = null;
        while (true)
        {
            var page = await catalog.ListAsync(filter, after, BulkPage, CancellationToken.None);
            await Parallel.ForEachAsync(page, new ParallelOptions { MaxDegreeOfParallelism = BulkParallelism }, async (task, _) =>
            {
                if (await action(task.TaskId))
                {
                    Interlocked.Increment(ref done);
                }
            });

            if (page.Count < BulkPage)
            {
                return done;
            }

            after = new TaskListKey(page[^1].NextRunAt, page[^1].TaskId);
        }
    }
}
