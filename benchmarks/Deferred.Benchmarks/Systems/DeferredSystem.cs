using Microsoft.Extensions.Configuration;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Hosting;

namespace Deferred.Benchmarks.Systems;

/// <summary>The benchmark's no-op task for Deferred: only its sequence number travels.</summary>
[GenerateSerializer, Alias("bench.noop")]
public sealed record BenchTask
{
    /// <summary>Which task this is, for the in-memory recorder.</summary>
    [Id(0)] public int Seq { get; init; }
}

/// <summary>The no-op handler: notes the run in memory and returns.</summary>
internal sealed class BenchTaskHandler : IDeferredTaskHandler<BenchTask>
{
    public Task ExecuteAsync(BenchTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        Recorder.OnRun(task.Seq);
        return Task.CompletedTask;
    }
}

/// <summary>The no-op transactional handler (system <c>deferred-tx</c>): writes nothing in its transaction, notes the run, returns.</summary>
internal sealed class BenchTransactionalHandler : IDeferredTransactionalHandler<BenchTask>
{
    public Task ExecuteAsync(BenchTask task, DeferredTaskContext context, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        Recorder.OnRun(task.Seq);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Deferred in an in-process Orleans silo (localhost clustering on free ports, a ServiceId of its own), with
/// default options except the store. Tasks are enqueued through the silo's own <see cref="IDeferredTasks"/>, so
/// they run on this silo. With <c>transactional</c> (system <c>deferred-tx</c>) the handler is a no-op transactional
/// one: each task's completion commits in a transaction of its own instead of the group commit.
/// </summary>
internal sealed class DeferredSystem(DeferredStore store, string connectionString, string serviceId, bool verbose, bool transactional = false) : IBenchSystem
{
    private IHost? _host;
    private IDeferredTasks? _tasks;
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(connectionString);
    private bool? _hasTaskTable;

    public async Task StartAsync(bool seeding, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, null, serviceId, serviceId);
            silo.AddDeferredTasks(o =>
            {
                // Extra settings for experiments, e.g. DEFERRED_BENCH_Deferred__QuarantineAfterInterruptions=0.
                new ConfigurationBuilder().AddEnvironmentVariables("DEFERRED_BENCH_").Build().GetSection("Deferred").Bind(o);
                o.ConnectionString = connectionString;
                o.Store = store;
                if (seeding)
                {
                    // Tasks due in an hour stay on in-memory timers (no reminders), so stopping the silo
                    // leaves plain pending rows, which are then made due: what a crashed silo leaves behind.
                    o.TimerThreshold = TimeSpan.FromHours(2);
                }
            });
            if (transactional)
            {
                silo.Services.AddDeferredTransactionalTaskHandler<BenchTask, BenchTransactionalHandler>();
            }
            else
            {
                silo.Services.AddDeferredTaskHandler<BenchTask, BenchTaskHandler>();
            }
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        _host = builder.Build();
        await _host.StartAsync(cancellationToken);
        _tasks = _host.Services.GetRequiredService<IDeferredTasks>();
    }

    public Task EnqueueAsync(int seq, TimeSpan? delay, CancellationToken cancellationToken) =>
        _tasks!.EnqueueAsync(new BenchTask { Seq = seq }, delay is null ? null : new DeferredEnqueueOptions { Delay = delay }, cancellationToken);

    public Task EnqueueBatchAsync(int from, int count, CancellationToken cancellationToken) =>
        _tasks!.EnqueueManyAsync(Enumerable.Range(from, count).Select(seq => new BenchTask { Seq = seq }), null, cancellationToken);

    public async Task<long> CountPendingAsync(CancellationToken cancellationToken)
    {
        // Both stores' tables, whichever exist: the database is this run's alone.
        var sql = "SELECT count(*) FROM orleansstorage WHERE graintypestring = 'deferred-task' AND payloadbinary IS NOT NULL";
        if (await HasTaskTableAsync(cancellationToken))
        {
            sql = $"SELECT ({sql}) + (SELECT count(*) FROM deferred_tasks)";
        }

        await using var command = _dataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task MakeDueAsync(CancellationToken cancellationToken)
    {
        // Per store, as Deferred.Tests' TaskRows does: the stock store keeps the state as JSON in orleansstorage,
        // Deferred's own store has a next_run_at column in deferred_tasks (absent before migration 0007).
        var sql = store == DeferredStore.OrleansAdoNet
            ? """
              UPDATE orleansstorage
              SET payloadbinary = convert_to((convert_from(payloadbinary, 'UTF8')::jsonb
                      || jsonb_build_object('nextRunAt', now() - interval '1 second'))::text, 'UTF8')
              WHERE serviceid = @s AND graintypestring = 'deferred-task' AND payloadbinary IS NOT NULL
              """
            : await HasTaskTableAsync(cancellationToken)
                ? "UPDATE deferred_tasks SET next_run_at = now() - interval '1 second' WHERE service_id = @s"
                : null;
        if (sql is null)
        {
            return;
        }

        await using var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("s", serviceId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task StopAsync()
    {
        if (_host is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _host.StopAsync(timeout.Token);
            }
            finally
            {
                _host.Dispose();
                _host = null;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _host?.Dispose();
        await _dataSource.DisposeAsync();
    }

    private async Task<bool> HasTaskTableAsync(CancellationToken cancellationToken)
    {
        if (_hasTaskTable is null)
        {
            await using var command = _dataSource.CreateCommand("SELECT to_regclass('deferred_tasks') IS NOT NULL");
            _hasTaskTable = (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        return _hasTaskTable.Value;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
