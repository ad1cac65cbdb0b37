using Orleans.Hosting;

namespace Deferred.Tests.Infrastructure;

/// <summary>
/// Base of the lifecycle test classes. Each has one subclass per store, so the same tests run against the
/// default store and against the stock Orleans ADO.NET provider.
/// </summary>
public abstract class StoreConformance
{
    protected abstract DeferredStore Store { get; }

    private protected Task<DeferredTestCluster> StartAsync(
        Action<DeferredOptions>? configure = null,
        short silos = 1,
        Action<ISiloBuilder>? configureSilo = null,
        TestDatabase? database = null,
        string? serviceId = null) =>
        DeferredTestCluster.StartAsync(configure, silos, configureSilo, database, serviceId, Store);
}
