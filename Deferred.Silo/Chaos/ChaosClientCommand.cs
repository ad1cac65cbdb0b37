using System.Diagnostics;
using Deferred.Silo.Demo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Deferred.Silo.Chaos;

/// <summary>
/// <c>chaos-client --tasks N --run-id ID --ack-log PATH [--rate R] [--concurrency C] [--timeout-seconds S] [--transactional]</c>:
/// an Orleans client (ADO.NET clustering, so it finds whichever silos are alive) that enqueues N sample tasks at
/// about R per second and appends the id of every acknowledged task to the ack log (and
/// <c>id&lt;TAB&gt;acked_unix_ms&lt;TAB&gt;first_sent_unix_ms</c>, the wall-clock times the acknowledgement arrived and
/// the first call for the id was sent, to <c>PATH.times</c>, for the enqueue-to-start delays of scripts/chaos.sh;
/// the ack log's format stays one id a line). A call that fails (its silo
/// was killed, the database is down) is retried with the same task id, so a retry can never create a second task.
/// Used by scripts/chaos.sh; the run's silos record completions in demo_completions, the sample's own table, which
/// the client creates (if missing) before it enqueues anything, so the script always finds it afterwards. With
/// <c>--transactional</c>, the even-numbered tasks are <see cref="DemoTransactionalTask"/>s, whose completion row commits
/// with the task's end (kind 'transactional' in the ledger), the odd ones plain sample tasks, for comparison.
/// </summary>
internal static class ChaosClientCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        int tasks = 50_000, rate = 500, concurrency = 32, timeoutSeconds = 900;
        string? runId = null, ackLog = null;
        var transactional = false;
        const string Usage = "Usage: chaos-client --tasks N --run-id ID --ack-log PATH [--rate R] [--concurrency C] [--timeout-seconds S] [--transactional]";
        var options = new CommandArgs(args);
        try
        {
            while (options.MoveNext())
            {
                switch (options.Name)
                {
                    case "--tasks": tasks = options.Number(1); break;
                    case "--rate": rate = options.Number(1); break;
                    case "--concurrency": concurrency = options.Number(1); break;
                    case "--timeout-seconds": timeoutSeconds = options.Number(1); break;
                    case "--run-id": runId = options.Value(); break;
                    case "--ack-log": ackLog = options.Value(); break;
                    case "--transactional": transactional = true; break;
                    default: throw options.Unknown();
                }
            }
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"chaos-client: {ex.Message}. {Usage}");
            return 2;
        }

        if (runId is null || ackLog is null || DeferredTaskId.Validate($"chaos-{runId}-0") is not null)
        {
            Console.Error.WriteLine($"chaos-client: --run-id (letters, digits, '-', '_', '.') and --ack-log are required. {Usage}");
            return 2;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        var connectionString = SiloHost.ConnectionString(builder.Configuration);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Console.Error.WriteLine("chaos-client: no connection string; set DEFERRED_PG_CONNECTION or Deferred:ConnectionString.");
            return 2;
        }

        try
        {
            await DemoSchema.EnsureCreatedAsync(connectionString, CancellationToken.None);
        }
        catch (Exception ex) when (ex is ArgumentException or Npgsql.NpgsqlException)
        {
            // The connection string is not echoed (it may hold a password).
            Console.Error.WriteLine($"chaos-client: cannot create the sample's table demo_completions: {ex.Message}");
            return 1;
        }

        ChaosCluster.UseClient(builder, connectionString);
        using var host = builder.Build();
        await host.StartAsync();
        var deferred = host.Services.GetRequiredService<IDeferredTasks>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var clock = Stopwatch.StartNew();
        long acknowledged = 0, failedCalls = 0;
        await using var log = new StreamWriter(ackLog, append: true) { AutoFlush = false };
        await using var timesLog = new StreamWriter(ackLog + ".times", append: true) { AutoFlush = false };

        // The ids sent again after a failed call: scripts/chaos.sh tells the duplicates they cause from the others.
        await using var retriedLog = new StreamWriter(ackLog + ".retried", append: true) { AutoFlush = true };
        var logLock = new SemaphoreSlim(1, 1);
        var progress = ReportAsync();

        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, tasks),
                new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = deadline.Token },
                async (i, ct) =>
                {
                    // Pace: task i is not sent before i / rate seconds into the run.
                    var due = TimeSpan.FromSeconds((double)i / rate) - clock.Elapsed;
                    if (due > TimeSpan.Zero)
                    {
                        await Task.Delay(due, ct);
                    }

                    var options = new DeferredEnqueueOptions { TaskId = $"chaos-{runId}-{i}" };
                    var backoff = TimeSpan.FromMilliseconds(100);
                    var retried = false;
                    var firstSentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    while (true)
                    {
                        try
                        {
                            // With --transactional, every other task is the transactional sample (its completion commits with its end).
                            var enqueue = transactional && i % 2 == 0
                                ? deferred.EnqueueAsync(new DemoTransactionalTask { RunId = runId }, options, ct)
                                : deferred.EnqueueAsync(new DemoTask { RunId = runId }, options, ct);
                            var id = await enqueue.WaitAsync(TimeSpan.FromSeconds(10), ct);
                            var ackedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                            await logLock.WaitAsync(ct);
                            try
                            {
                                await log.WriteLineAsync(id);
                                await timesLog.WriteLineAsync($"{id}\t{ackedAt}\t{firstSentAt}");
                            }
                            finally
                            {
                                logLock.Release();
                            }

                            Interlocked.Increment(ref acknowledged);
                            return;
                        }
                        catch (Exception) when (!ct.IsCancellationRequested)
                        {
                            // Not acknowledged (silo killed mid-call, database down, timeout): same id again.
                            Interlocked.Increment(ref failedCalls);
                            if (!retried)
                            {
                                retried = true;
                                await logLock.WaitAsync(ct);
                                try
                                {
                                    await retriedLog.WriteLineAsync(options.TaskId);
                                }
                                finally
                                {
                                    logLock.Release();
                                }
                            }

                            await Task.Delay(backoff, ct);
                            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                        }
                    }
                });
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            Console.Error.WriteLine($"chaos-client: gave up after {timeoutSeconds} s");
        }

        await progress;
        await log.FlushAsync();
        await timesLog.FlushAsync();
        Console.Error.WriteLine($"chaos-client: done acknowledged={Interlocked.Read(ref acknowledged)} failed_calls={Interlocked.Read(ref failedCalls)} elapsed_ms={clock.ElapsedMilliseconds}");
        await host.StopAsync();
        return Interlocked.Read(ref acknowledged) == tasks ? 0 : 1;

        async Task ReportAsync()
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
            while (await timer.WaitForNextTickAsync(deadline.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default))
            {
                await logLock.WaitAsync();
                try
                {
                    await log.FlushAsync();
                    await timesLog.FlushAsync();
                }
                finally
                {
                    logLock.Release();
                }

                Console.Error.WriteLine($"chaos-client: acknowledged={Interlocked.Read(ref acknowledged)}/{tasks} failed_calls={Interlocked.Read(ref failedCalls)} elapsed_ms={clock.ElapsedMilliseconds}");
                if (Interlocked.Read(ref acknowledged) >= tasks)
                {
                    return;
                }
            }
        }
    }
}
