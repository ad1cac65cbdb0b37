namespace Deferred.Operations;

/// <summary>
/// The silo side of <see cref="IDeferredTaskOperator"/>'s reads and bulk actions: a stateless worker on every silo, so a
/// client's call lands on any silo, which queries its store's catalog. Changes go to the task grains, one by one.
/// </summary>
internal interface IOperatorGrain : IGrainWithIntegerKey
{
    Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query);

    Task<IReadOnlyList<DeferredTaskCount>> CountAsync();

    Task<int> RetryDeadAsync(DeferredTaskFilter filter);

    Task<int> PurgeDeadAsync(DateTimeOffset olderThan);
}
