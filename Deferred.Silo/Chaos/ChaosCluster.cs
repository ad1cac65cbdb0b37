using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Deferred.Silo.Chaos;

/// <summary>How the chaos clients join the cluster that scripts/chaos.sh and chaos-bulk.sh run (ADO.NET clustering).</summary>
internal static class ChaosCluster
{
    /// <summary>
    /// An Orleans client of the silos listed in the membership table of <paramref name="connectionString"/>'s database,
    /// with <c>Orleans:ClusterId</c>/<c>Orleans:ServiceId</c> from configuration. A call whose silo was killed is
    /// retried after 5 s rather than Orleans' default 30 s; the gateway list is re-read every 5 s.
    /// </summary>
    public static void UseClient(HostApplicationBuilder builder, string connectionString)
    {
        var orleans = builder.Configuration.GetSection("Orleans");
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = orleans["ClusterId"] ?? "deferred";
                o.ServiceId = orleans["ServiceId"] ?? "deferred";
            });
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            client.Services.AddDeferredTasksClient();
        });
    }
}
