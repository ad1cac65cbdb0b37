namespace Deferred.Storage.Resilience;

/// <summary>Asks the database whether it answers: how <see cref="StoreResilience"/> learns that an outage has ended.</summary>
internal interface IStoreProbe
{
    /// <summary>Completes when the database answered one statement; throws when it did not.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
