using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Deferred.Silo.Operator;

/// <summary>
/// Where the <c>tasks</c> verbs find the cluster and, without one, the database: read the way <see cref="SiloHost"/>
/// forms the silo, from appsettings.json and environment variables (not the command line, whose options are the
/// verb's). <c>Orleans:ClusteringMode</c> <c>Localhost</c> (default; the gateway on 127.0.0.1 at
/// <c>Orleans:GatewayPort</c>, 30000) or <c>AdoNet</c> (the gateways listed in the membership table of the database),
/// with <c>Orleans:ClusterId</c> and <c>Orleans:ServiceId</c>; the database is DEFERRED_PG_CONNECTION or
/// <c>Deferred:ConnectionString</c>, its store <c>Deferred:Store</c> (<c>Postgres</c> by default), as on the silo.
/// </summary>
internal sealed record TasksConnection
{
    public string Clustering { get; init; } = "Localhost";

    public int GatewayPort { get; init; } = 30000;

    public string ClusterId { get; init; } = "deferred";

    public string ServiceId { get; init; } = "deferred";

    /// <summary>The silos' database; null when none is configured (then reads need a silo too).</summary>
    public string? ConnectionString { get; init; }

    /// <summary>The store the silos keep task rows in.</summary>
    public DeferredStore Store { get; init; } = DeferredStore.Postgres;

    /// <exception cref="ArgumentException">A value is not one the silo would accept.</exception>
    public static TasksConnection FromConfiguration(IConfiguration configuration)
    {
        var orleans = configuration.GetSection("Orleans");
        var store = configuration[$"{DeferredOptions.SectionName}:{nameof(DeferredOptions.Store)}"];
        return new TasksConnection
        {
            Clustering = orleans["ClusteringMode"] ?? "Localhost",
            GatewayPort = orleans.GetValue("GatewayPort", 30000),
            ClusterId = orleans["ClusterId"] ?? "deferred",
            ServiceId = orleans["ServiceId"] ?? "deferred",
            ConnectionString = SiloHost.ConnectionString(configuration) is { } connectionString && !string.IsNullOrWhiteSpace(connectionString) ? connectionString : null,
            Store = store is null
                ? DeferredStore.Postgres
                : Enum.TryParse<DeferredStore>(store, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !store.Any(char.IsDigit)
                    ? parsed
                    : throw new ArgumentException($"Deferred:Store '{store}' is not known; use Postgres or OrleansAdoNet"),
        };
    }

    /// <summary>The cluster, for messages (never the connection string: it may hold a password).</summary>
    public string Cluster =>
        string.Equals(Clustering, "AdoNet", StringComparison.OrdinalIgnoreCase)
            ? $"AdoNet clustering, ClusterId '{ClusterId}', ServiceId '{ServiceId}'"
            : $"Localhost clustering, gateway 127.0.0.1:{GatewayPort}, ClusterId '{ClusterId}', ServiceId '{ServiceId}'";

    /// <summary>The database's rows read without a silo, for messages.</summary>
    public string Database => $"ServiceId '{ServiceId}', {(Store == DeferredStore.Postgres ? "table deferred_tasks" : "table orleansstorage")}";

    /// <summary>Sets up the Orleans client like <see cref="SiloHost"/> sets up the silo.</summary>
    /// <exception cref="ArgumentException">The clustering mode is unknown, or AdoNet without a connection string.</exception>
    public void ConfigureClient(HostApplicationBuilder builder)
    {
        if (string.Equals(Clustering, "AdoNet", StringComparison.OrdinalIgnoreCase))
        {
            if (ConnectionString is null)
            {
                throw new ArgumentException("Orleans:ClusteringMode is AdoNet but there is no connection string; set DEFERRED_PG_CONNECTION or Deferred:ConnectionString");
            }

            builder.UseOrleansClient(client =>
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = ConnectionString;
                });
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = ClusterId;
                    o.ServiceId = ServiceId;
                });
                client.AddDeferredTasksClient();
            });
            return;
        }

        if (string.Equals(Clustering, "Localhost", StringComparison.OrdinalIgnoreCase))
        {
            builder.UseOrleansClient(client =>
            {
                client.UseLocalhostClustering(GatewayPort, ServiceId, ClusterId);
                client.AddDeferredTasksClient();
            });
            return;
        }

        throw new ArgumentException($"Orleans:ClusteringMode '{Clustering}' is not known; use Localhost or AdoNet");
    }
}
