using Deferred.Dashboard.Api;
using Deferred.Dashboard.Hosting;
using Deferred.Dashboard.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Deferred dashboard's services.</summary>
public static class DeferredDashboardServiceCollectionExtensions
{
    /// <summary>
    /// Adds what <c>MapDeferredDashboard</c> needs: the page's assets, the shared count cache, and the in-process
    /// listener on the meter <c>Deferred</c> that feeds the page's rates and queue-wait figures (this process's attempts
    /// only). The dashboard also needs <see cref="Deferred.IDeferredTaskOperator"/>, which <c>AddDeferredTasks</c> (silo)
    /// and <c>AddDeferredTasksClient</c> (Orleans client) register.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection AddDeferredDashboard(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<LocalMetrics>();
        services.TryAddSingleton<CountsCache>();
        services.TryAddSingleton<DashboardAssets>();
        return services;
    }
}
