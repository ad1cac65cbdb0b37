using Deferred.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Deferred's health checks for a silo's <c>services.AddHealthChecks()</c>.</summary>
public static class DeferredHealthCheckExtensions
{
    /// <summary>The tag every Deferred check carries, to filter them in a health endpoint.</summary>
    public const string Tag = "deferred";

    /// <summary>
    /// Adds <c>deferred-store</c> (PostgreSQL reachable, schema at the expected version), <c>deferred-batcher</c> (the
    /// store's write queue is not backed up) and <c>deferred-sweep</c> (the orphan sweep ran within its interval). Each
    /// result's description says why it is degraded or unhealthy. Call on a silo that has <c>AddDeferredTasks</c>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddDeferredTasks(this IHealthChecksBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddCheck<StoreHealthCheck>("deferred-store", HealthStatus.Unhealthy, [Tag])
            .AddCheck<BatcherHealthCheck>("deferred-batcher", HealthStatus.Unhealthy, [Tag])
            .AddCheck<SweepHealthCheck>("deferred-sweep", HealthStatus.Degraded, [Tag]);
    }
}
