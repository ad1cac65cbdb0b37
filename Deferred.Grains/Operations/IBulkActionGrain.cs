namespace Deferred.Operations;

/// <summary>
/// One bulk action (<see cref="DeferredBulkAction"/>), keyed by its id: it lists the matching tasks once, when prepared,
/// and then goes through exactly that list, in its silo, whatever happens to the caller.
/// </summary>
internal interface IBulkActionGrain : IGrainWithStringKey
{
    // Listing 100,000 tasks takes seconds; millions may take longer than Orleans' default 30 s response timeout.
    [ResponseTimeout("00:10:00")]
    Task<DeferredBulkAction> PrepareAsync(DeferredBulkActionKind kind, DeferredTaskFilter filter);

    Task<DeferredBulkAction?> StartAsync();

    Task<DeferredBulkAction?> GetAsync();

    Task<DeferredBulkAction?> CancelAsync();
}
