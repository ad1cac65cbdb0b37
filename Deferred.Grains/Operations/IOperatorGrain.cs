namespace Deferred.Operations;

/// <summary>
/// The silo side of <see cref="IDeferredTaskOperator"/>'s reads and bulk actions: a stateless worker on every silo, so a
/// client's call lands on any silo, which queries its store's catalog. Changes go to the task grains, one by one.
/// </summary>
internal interface IOperatorGrain : IGrainWithIntegerKey
{
    Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query);

    Task<IReadOnlyList<DeferredTaskCount>> CountAsync();

    // Bulk actions go through every matching task's grain, 16 at a time: tens of thousands take longer than Orleans'
    // default 30 s response timeout, after which the caller would be told it failed while the work went on.
    [ResponseTimeout("00:30:00")]
    Task<int> RetryDeadAsync(DeferredTaskFilter filter);

    [ResponseTimeout("00:30:00")]
    Task<int> PurgeDeadAsync(DateTimeOffset olderThan);
}
