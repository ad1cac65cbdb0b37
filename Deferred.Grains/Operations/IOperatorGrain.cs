namespace Deferred.Operations;

/// <summary>
/// The silo side of <see cref="IDeferredTaskOperator"/>'s reads: a stateless worker on every silo, so a
/// client's call lands on any silo, which queries its store's catalog. Bulk changes are <see cref="IBulkActionGrain"/>s.
/// </summary>
internal interface IOperatorGrain : IGrainWithIntegerKey
{
    Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query);

    Task<IReadOnlyList<DeferredTaskCount>> CountAsync();
}
