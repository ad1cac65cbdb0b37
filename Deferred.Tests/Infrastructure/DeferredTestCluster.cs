using Deferred.Recovery;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace Deferred.Tests.Infrastructure;

/// <summary>
/// A real Orleans cluster (TestingHost, in-process) running Deferred against a real PostgreSQL database, with a
/// ServiceId of its own so tests sharing the database never see each other's rows. <see cref="RestartAsync"/>
/// stops every silo and starts a new cluster with the same ServiceId and database: what a full restart does.
/// </summary>
internal sealed class DeferredTestCluster : IAsyncDisposable
{
    private readonly Action<DeferredOptions>? _configure;
    private readonly Action<ISiloBuilder>? _configureSilo;
    private Action<IClientBuilder>? _configureClient;
    private readonly short _silos;

    private DeferredTestCluster(TestDatabase database, string serviceId, short silos, Action<DeferredOptions>? configure, Action<ISiloBuilder>? configureSilo, DeferredStore store)
    {
        Database = database;
        ServiceId = serviceId;
        Store = store;
        Rows = new TaskRows(database, serviceId, store);
        _silos = silos;
        _configure = configure;
        _configureSilo = configureSilo;
        Probe = Probe.For(serviceId);
    }

    public TestDatabase Database { get; }

    /// <summary>The task store under test.</summary>
    public DeferredStore Store { get; }

    /// <summary>Direct access to this service's task rows.</summary>
    public TaskRows Rows { get; }

    public string ServiceId { get; }

    public Probe Probe { get; }

    public InProcessTestCluster Cluster { get; private set; } = null!;

    /// <summary>Enqueue from an external client (runs on whichever gateway receives the call).</summary>
    public IDeferredTasks Client => Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTasks>();

    public static async Task<DeferredTestCluster> StartAsync(
        Action<DeferredOptions>? configure = null,
        short silos = 1,
        Action<ISiloBuilder>? configureSilo = null,
        TestDatabase? database = null,
        string? serviceId = null,
        DeferredStore store = DeferredStore.Postgres,
        Action<IClientBuilder>? configureClient = null)
    {
        var cluster = new DeferredTestCluster(database ?? await TestDatabase.Shared, serviceId ?? "t-" + Guid.NewGuid().ToString("N")[..12], silos, configure, configureSilo, store)
        {
            _configureClient = configureClient,
        };
        try
        {
            await cluster.DeployAsync();
        }
        catch
        {
            await cluster.Cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary><see cref="IDeferredTasks"/> as seen from inside silo <paramref name="index"/>: tasks run on that silo.</summary>
    public IDeferredTasks OnSilo(int index) => Cluster.Silos[index].ServiceProvider.GetRequiredService<IDeferredTasks>();

    /// <summary>The startup scan of silo <paramref name="index"/>.</summary>
    public OrphanSweep Recovery(int index = 0) => Cluster.Silos[index].ServiceProvider.GetRequiredService<OrphanSweep>();

    public StrandedTaskAudit Audit(int index = 0) => Cluster.Silos[index].ServiceProvider.GetRequiredService<StrandedTaskAudit>();

    public Housekeeping Housekeeping(int index = 0) => Cluster.Silos[index].ServiceProvider.GetRequiredService<Housekeeping>();

    public Task<long> CountRowsAsync() => Rows.CountAsync();

    /// <summary>The execution gate of silo <paramref name="index"/> (running attempts, shutdown state).</summary>
    public Execution.ExecutionGate Gate(int index) => Cluster.Silos[index].ServiceProvider.GetRequiredService<Execution.ExecutionGate>();

    /// <summary>The address silo <paramref name="index"/> writes as a task's owner.</summary>
    public string OwnerOf(int index) => Cluster.Silos[index].SiloAddress.ToParsableString();

    /// <summary>Stops silo <paramref name="index"/> without a graceful shutdown: its peers must find out it is dead.</summary>
    public Task KillSiloAsync(int index) => Cluster.KillSiloAsync(Cluster.Silos[index]);

    /// <summary>Stops silo <paramref name="index"/> gracefully.</summary>
    public Task StopSiloAsync(int index) => Cluster.StopSiloAsync(Cluster.Silos[index]);

    public async Task RestartAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await DeployAsync();
    }

    public async Task StopAsync() => await Cluster.StopAllSilosAsync();

    private async Task DeployAsync()
    {
        var builder = new InProcessTestClusterBuilder(_silos);
        builder.Options.ServiceId = ServiceId;
        builder.Options.ClusterId = ServiceId;
        builder.ConfigureSilo((_, silo) =>
        {
            // Declare a killed silo dead within a few seconds (Orleans' defaults take about half a minute).
            silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
            });
            silo.AddDeferredTasks(o =>
            {
                o.ConnectionString = Database.ConnectionString;
                o.Store = Store;
                _configure?.Invoke(o);
            });
            silo.Services.AddDeferredTaskHandler<ProbeTask, ProbeHandler>();
            _configureSilo?.Invoke(silo);
        });
        builder.ConfigureClient(client =>
        {
            client.AddDeferredTasksClient();
            _configureClient?.Invoke(client);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cluster.StopAllSilosAsync();
        }
        finally
        {
            await Cluster.DisposeAsync();
        }
    }
}
