using Hangfire;
using Hangfire.Logging;
using Hangfire.PostgreSql;

namespace Deferred.Benchmarks.Systems;

/// <summary>The no-op Hangfire job: notes the run in memory and returns.</summary>
public static class HangfireNoOp
{
    /// <summary>Runs task number <paramref name="seq"/>.</summary>
    public static void Run(int seq) => Recorder.OnRun(seq);
}

/// <summary>Hangfire's tunables as the benchmark sets them (see benchmarks/README.md for why).</summary>
internal sealed record HangfireSettings(int WorkerCount, TimeSpan QueuePollInterval, TimeSpan SchedulePollingInterval)
{
    public override string ToString() =>
        $"WorkerCount={WorkerCount}, QueuePollInterval={QueuePollInterval.TotalMilliseconds:F0} ms, SchedulePollingInterval={SchedulePollingInterval.TotalMilliseconds:F0} ms, " +
        "UseNativeDatabaseTransactions=true, EnableLongPolling=false, CompatibilityLevel 1.8.0 with the recommended serializer settings";
}

/// <summary>
/// Hangfire 1.8 with Hangfire.PostgreSql: a <see cref="BackgroundJobServer"/> in this process, jobs enqueued with
/// the storage's own client. Its schema is created by its own installer (PrepareSchemaIfNecessary).
/// </summary>
internal sealed class HangfireSystem(string connectionString, HangfireSettings settings, bool verbose) : IBenchSystem
{
    private PostgreSqlStorage? _storage;
    private BackgroundJobClient? _client;
    private BackgroundJobServer? _server;

    public Task StartAsync(bool seeding, CancellationToken cancellationToken)
    {
        var options = new PostgreSqlStorageOptions
        {
            PrepareSchemaIfNecessary = true,
            UseNativeDatabaseTransactions = true,
            QueuePollInterval = settings.QueuePollInterval,

            // Enqueues come from this process, and Hangfire.PostgreSql already wakes a waiting worker in-process
            // on each committed enqueue; LISTEN/NOTIFY would add a listening connection per fetch and only helps
            // enqueues made by other processes.
            EnableLongPolling = false,
        };
        GlobalConfiguration.Configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseLogProvider(new StderrLogProvider(verbose ? LogLevel.Info : LogLevel.Warn))
            .UsePostgreSqlStorage(c => c.UseNpgsqlConnection(connectionString), options);
        _storage = (PostgreSqlStorage)JobStorage.Current;
        _client = new BackgroundJobClient(_storage);
        if (!seeding)
        {
            _server = new BackgroundJobServer(
                new BackgroundJobServerOptions
                {
                    WorkerCount = settings.WorkerCount,
                    SchedulePollingInterval = settings.SchedulePollingInterval,
                    ServerName = "bench-" + Environment.ProcessId,
                },
                _storage);
        }

        return Task.CompletedTask;
    }

    public Task EnqueueAsync(int seq, TimeSpan? delay, CancellationToken cancellationToken)
    {
        // Hangfire's client API is synchronous: the calling thread waits for the commit.
        _ = delay is null
            ? _client!.Enqueue(() => HangfireNoOp.Run(seq))
            : _client!.Schedule(() => HangfireNoOp.Run(seq), delay.Value);
        return Task.CompletedTask;
    }

    public Task<long> CountPendingAsync(CancellationToken cancellationToken)
    {
        var statistics = _storage!.GetMonitoringApi().GetStatistics();
        return Task.FromResult(statistics.Enqueued + statistics.Processing + statistics.Scheduled);
    }

    public Task MakeDueAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync()
    {
        _server?.SendStop();
        _server?.Dispose();
        _server = null;
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _server?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Hangfire's log lines at or above a level, to stderr (stdout carries only result lines).</summary>
    private sealed class StderrLogProvider(LogLevel minimum) : ILogProvider
    {
        public ILog GetLogger(string name) => new StderrLog(name, minimum);

        private sealed class StderrLog(string name, LogLevel minimum) : ILog
        {
            public bool Log(LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
            {
                if (logLevel < minimum)
                {
                    return false;
                }

                if (messageFunc is not null)
                {
                    Console.Error.WriteLine($"hangfire {logLevel} {name}: {messageFunc()}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
                }

                return true;
            }
        }
    }
}
