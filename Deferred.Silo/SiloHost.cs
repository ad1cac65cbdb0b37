using System.Net;
using Deferred.Silo.Demo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Deferred.Silo;

/// <summary>
/// Builds the sample silo host from appsettings.json, environment variables and the command line.
/// </summary>
/// <remarks>
/// Configuration (section <c>Orleans</c>): <c>ClusteringMode</c> = <c>Localhost</c> (default, one silo) or <c>AdoNet</c>
/// (membership in PostgreSQL, on the same database as the tasks, so any number of silos form one cluster);
/// <c>ClusterId</c>, <c>ServiceId</c>, <c>SiloPort</c>, <c>GatewayPort</c>, <c>AdvertisedIP</c> (default 127.0.0.1);
/// <c>Membership</c> binds Orleans' <see cref="ClusterMembershipOptions"/> (for example <c>ProbeTimeout</c>,
/// <c>NumMissedProbesLimit</c>, which set how fast a dead silo is declared dead). Section <c>Deferred</c> binds
/// <see cref="DeferredOptions"/>; <c>DEFERRED_PG_CONNECTION</c> overrides its connection string.
/// </remarks>
internal static class SiloHost
{
    /// <summary>
    /// The connection string: DEFERRED_PG_CONNECTION when set (what scripts/postgres.sh uses), else
    /// Deferred:ConnectionString from configuration.
    /// </summary>
    public static string? ConnectionString(IConfiguration configuration) =>
        Environment.GetEnvironmentVariable("DEFERRED_PG_CONNECTION") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : configuration[$"{DeferredOptions.SectionName}:{nameof(DeferredOptions.ConnectionString)}"];

    public static HostApplicationBuilder CreateBuilder(string[] args, Action<ISiloBuilder>? configureSilo = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        var configuration = builder.Configuration;
        var orleans = configuration.GetSection("Orleans");
        var clustering = orleans["ClusteringMode"] ?? "Localhost";
        var siloPort = orleans.GetValue("SiloPort", 11111);
        var gatewayPort = orleans.GetValue("GatewayPort", 30000);
        var serviceId = orleans["ServiceId"] ?? "deferred";
        var clusterId = orleans["ClusterId"] ?? "deferred";
        var connectionString = ConnectionString(configuration);
        builder.UseOrleans(silo =>
        {
            if (string.Equals(clustering, "AdoNet", StringComparison.OrdinalIgnoreCase))
            {
                if (!IPAddress.TryParse(orleans["AdvertisedIP"] ?? "127.0.0.1", out var advertised))
                {
                    throw new ArgumentException($"Orleans:AdvertisedIP '{orleans["AdvertisedIP"]}' is not an IP address.");
                }

                // Membership rows live in the same PostgreSQL database (migration 0004 created the tables).
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                });
                silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: false);
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = serviceId;
                });
            }
            else if (string.Equals(clustering, "Localhost", StringComparison.OrdinalIgnoreCase))
            {
                silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: gatewayPort, serviceId: serviceId, clusterId: clusterId);
            }
            else
            {
                throw new ArgumentException($"Orleans:ClusteringMode '{clustering}' is not known; use Localhost or AdoNet.");
            }

            silo.Configure<ClusterMembershipOptions>(orleans.GetSection("Membership"));
            silo.AddDeferredTasks(options =>
            {
                configuration.GetSection(DeferredOptions.SectionName).Bind(options);
                options.ConnectionString = connectionString;
            });
            configureSilo?.Invoke(silo);
        });

        // The sample task type, so a plain `run` silo can serve demo and chaos tasks too.
        builder.Services.AddSingleton<DemoLedger>();
        builder.Services.AddDeferredTaskHandler<DemoTask, DemoTaskHandler>();

        // Its transactional sibling (scripts/chaos.sh --transactional), where the store has transactions (the default).
        if (!string.Equals(configuration[$"{DeferredOptions.SectionName}:Store"], nameof(DeferredStore.OrleansAdoNet), StringComparison.OrdinalIgnoreCase))
        {
            builder.Services.AddDeferredTransactionalTaskHandler<DemoTransactionalTask, DemoTransactionalTaskHandler>();
        }

        // The bulk-retry chaos run's task (scripts/chaos-bulk.sh), which always fails.
        builder.Services.AddSingleton<Chaos.ChaosRunLedger>();
        builder.Services.AddDeferredTaskHandler<Chaos.ChaosFailTask, Chaos.ChaosFailTaskHandler>();

        Telemetry.AddIfConfigured(builder);
        builder.Services.AddHealthChecks().AddDeferredTasks();

        // Long enough for Deferred's shutdown grace period (default 20 s) plus the abandon wait (5 s).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(45));
        return builder;
    }
}
