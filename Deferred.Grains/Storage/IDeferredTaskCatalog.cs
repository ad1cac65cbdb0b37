using Deferred.Cluster;

namespace Deferred.Storage;

/// <summary>
/// One page of a sweep: how many orphaned tasks it adopted, which of them to resume now as adopted from a silo
/// that went away (their attempts are watched), and which to resume plainly (released by a silo that stopped cleanly).
/// </summary>
internal sealed record OrphanPage(int Adopted, IReadOnlyList<string> AdoptNow, IReadOnlyList<string> ResumeNow);

/// <summary>
/// The runtime's one read path into the store beyond single-task state: the orphan sweep, counts and the operator
/// listing. The PostgreSQL implementations are the only places above which no Npgsql type appears.
/// </summary>
internal interface IDeferredTaskCatalog
{
    /// <summary>
    /// Finds live tasks whose owner is gone (per <paramref name="owners"/>) and adopts them for this silo, one page
    /// at a time; the caller resumes each page before the next is taken, so adoption runs at the speed of resumption.
    /// </summary>
    IAsyncEnumerable<OrphanPage> SweepAsync(OwnerView owners, string me, DateTimeOffset now, int pageSize, CancellationToken cancellationToken);

    /// <summary>
    /// Pages of live tasks owned by <paramref name="me"/> that were due by <paramref name="dueBefore"/>: what the
    /// stranded-task audit checks against the activations this silo holds.
    /// </summary>
    IAsyncEnumerable<IReadOnlyList<string>> ListOwnDueAsync(string me, DateTimeOffset dueBefore, int pageSize, CancellationToken cancellationToken);

    /// <summary>
    /// Hands this silo's live tasks back as it stops cleanly (the default store clears their owner), so whoever
    /// adopts them knows they were not in flight at a crash. Returns how many; 0 where the store cannot.
    /// </summary>
    Task<int> ReleaseAsync(string me, CancellationToken cancellationToken);

    /// <summary>How many tasks of this service are stored, by status name.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken);

    /// <summary>
    /// One page of the operator listing: up to <paramref name="limit"/> stored tasks of this service, live and dead,
    /// matching <paramref name="filter"/> (every set field must match: <see cref="DeferredTaskFilter.Status"/> and
    /// <see cref="DeferredTaskFilter.TaskType"/> exactly, next run at or after <see cref="DeferredTaskFilter.DueFrom"/>
    /// and before <see cref="DeferredTaskFilter.DueBefore"/>, <see cref="DeferredTaskFilter.ErrorContains"/> in the last
    /// error's type or message, ignoring case), in (next run, task id) order, strictly after <paramref name="after"/>
    /// when it is given. Keyset paging: pass the last task's <see cref="TaskListKey"/> for the next page. The filter is
    /// not validated here (<see cref="TaskListing.Validate(DeferredTaskQuery)"/> does that for callers).
    /// </summary>
    Task<IReadOnlyList<DeferredTaskSummary>> ListAsync(DeferredTaskFilter filter, TaskListKey? after, int limit, CancellationToken cancellationToken);

    /// <summary>How many tasks of this service are stored, by status and task type, ordered by type, then status.</summary>
    Task<IReadOnlyList<DeferredTaskCount>> CountByStatusAndTypeAsync(CancellationToken cancellationToken);
}
