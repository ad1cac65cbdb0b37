using System.Diagnostics;
using System.Globalization;
using Deferred.Operations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Deferred.Silo.Chaos;

/// <summary>
/// <c>chaos-bulk-client --tasks N --run-id ID --out DIR [--max-actions M] [--kill-holder K] [--timeout-seconds S]</c>:
/// the operator side of scripts/chaos-bulk.sh. An Orleans client (ADO.NET clustering) that
/// <list type="number">
/// <item>enqueues N <see cref="ChaosFailTask"/>s with <c>MaxAttempts = 1</c> and waits until all N are dead;</item>
/// <item>retries every dead task of that type as a bulk action (<see cref="IDeferredTaskOperator.PrepareRetryDeadAsync"/>,
/// <see cref="IDeferredTaskOperator.StartBulkActionAsync"/>, then <see cref="IDeferredTaskOperator.GetBulkActionAsync"/>
/// until it finishes), as <c>tasks retry --all-dead</c> does;</item>
/// <item>during each of the first K actions, once it has reached a tenth of its tasks, SIGKILLs the silo that holds
/// it (found with <c>IManagementGrain.GetActivationAddress</c> and DIR/silos.txt, "port pid" lines the script
/// appends at each silo start). The action is held in that silo's memory, so it stops there: the client sees no silo
/// hold it any more ("lost"), waits until every task of the run is dead again (nothing pending or running), and runs
/// the bulk retry again, as an operator would: a new action over what is dead now;</item>
/// <item>stops after the first action that completes (then waits for its tasks to die again), or after M actions.</item>
/// </list>
/// Each action is appended to DIR/actions.txt when it ends: <c>number id started_at ended_at outcome total done skipped
/// failed holder_port</c> (started_at: just before the start call, so every run it caused is later). Kills it makes are
/// appended to DIR/events.txt as <c>time kill pid</c>, like the script's own. Exit 0 when an action completed.
/// </summary>
internal static class ChaosBulkCommand
{
    private static readonly TimeSpan QuietTimeout = TimeSpan.FromMinutes(5);

    public static async Task<int> RunAsync(string[] args)
    {
        int tasks = 2000, maxActions = 6, killHolder = 1, timeoutSeconds = 1800, concurrency = 16;
        string? runId = null, outDir = null;
        const string Usage = "Usage: chaos-bulk-client --tasks N --run-id ID --out DIR [--max-actions M] [--kill-holder K] [--concurrency C] [--timeout-seconds S]";
        var options = new CommandArgs(args);
        try
        {
            while (options.MoveNext())
            {
                switch (options.Name)
                {
                    case "--tasks": tasks = options.Number(1); break;
                    case "--max-actions": maxActions = options.Number(1); break;
                    case "--kill-holder": killHolder = options.Number(0); break;
                    case "--concurrency": concurrency = options.Number(1); break;
                    case "--timeout-seconds": timeoutSeconds = options.Number(1); break;
                    case "--run-id": runId = options.Value(); break;
                    case "--out": outDir = options.Value(); break;
                    default: throw options.Unknown();
                }
            }
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"chaos-bulk-client: {ex.Message}. {Usage}");
            return 2;
        }

        if (runId is null || outDir is null || !Directory.Exists(outDir) || DeferredTaskId.Validate($"chaosbulk-{runId}-0") is not null)
        {
            Console.Error.WriteLine($"chaos-bulk-client: --run-id (letters, digits, '-', '_', '.') and --out (an existing folder) are required. {Usage}");
            return 2;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        var connectionString = SiloHost.ConnectionString(builder.Configuration);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Console.Error.WriteLine("chaos-bulk-client: no connection string; set DEFERRED_PG_CONNECTION or Deferred:ConnectionString.");
            return 2;
        }

        try
        {
            await ChaosRunLedger.EnsureCreatedAsync(connectionString, CancellationToken.None);
        }
        catch (Exception ex) when (ex is ArgumentException or Npgsql.NpgsqlException)
        {
            Console.Error.WriteLine($"chaos-bulk-client: cannot create the run ledger chaos_bulk_runs: {ex.Message}");
            return 1;
        }

        ChaosCluster.UseClient(builder, connectionString);
        using var host = builder.Build();
        await host.StartAsync();
        var deferred = host.Services.GetRequiredService<IDeferredTasks>();
        var operations = host.Services.GetRequiredService<IDeferredTaskOperator>();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var ct = deadline.Token;
        var clock = Stopwatch.StartNew();
        var run = new Run(operations, grains, outDir, tasks, clock);

        try
        {
            // 1. N tasks that fail their only attempt: all dead.
            await Parallel.ForEachAsync(
                Enumerable.Range(0, tasks),
                new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
                async (i, token) =>
                {
                    var taskOptions = new DeferredEnqueueOptions { TaskId = $"chaosbulk-{runId}-{i}", MaxAttempts = 1 };
                    await Retry(() => deferred.EnqueueAsync(new ChaosFailTask { RunId = runId }, taskOptions, token).WaitAsync(TimeSpan.FromSeconds(10), token), token);
                });
            run.Say($"enqueued {tasks}; waiting until all are dead");
            if (!await run.WaitQuietAsync(ct))
            {
                return 1;
            }

            run.Say($"dead={tasks}");

            // 2. The operator's bulk retry, again after each action its silo's death stopped.
            var completed = false;
            for (var number = 1; number <= maxActions && !completed; number++)
            {
                completed = await run.BulkRetryAsync(number, killHolder: number <= killHolder, ct);
                if (!await run.WaitQuietAsync(ct))
                {
                    return 1;
                }
            }

            run.Say($"done actions={run.Actions} completed={(completed ? 1 : 0)} lost={run.Lost}");
            return completed ? 0 : 1;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            run.Say($"gave up after {timeoutSeconds} s");
            return 1;
        }
        finally
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await host.StopAsync(stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Calls <paramref name="call"/> until it returns (a silo killed mid-call, a timeout: again, after a pause).</summary>
    private static async Task<T> Retry<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not ArgumentException)
            {
                await Task.Delay(backoff, cancellationToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    private sealed class Run(IDeferredTaskOperator operations, IGrainFactory grains, string outDir, int tasks, Stopwatch clock)
    {
        private static readonly DeferredTaskFilter Filter = new() { TaskType = ChaosFailTask.TypeName };

        public int Actions { get; private set; }

        public int Lost { get; private set; }

        public void Say(string text) => Console.Error.WriteLine($"chaos-bulk-client: {text} elapsed_ms={clock.ElapsedMilliseconds}");

        /// <summary>
        /// Waits until the run's tasks are all stored and dead (nothing pending, failed or running): the previous
        /// action's retries have all run. False (said) after <see cref="QuietTimeout"/>.
        /// </summary>
        public async Task<bool> WaitQuietAsync(CancellationToken cancellationToken)
        {
            var until = clock.Elapsed + QuietTimeout;
            var lastSaid = TimeSpan.Zero;
            while (true)
            {
                var counts = await Retry(() => operations.CountAsync(cancellationToken), cancellationToken);
                var mine = counts.Where(c => c.TaskType == ChaosFailTask.TypeName).ToList();
                var dead = mine.Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count);
                var other = mine.Where(c => c.Status != DeferredTaskStatus.Dead).Sum(c => c.Count);
                if (dead == tasks && other == 0)
                {
                    return true;
                }

                if (clock.Elapsed > until)
                {
                    Say($"not quiet after {QuietTimeout.TotalSeconds:0} s: dead={dead} other={other} of {tasks}");
                    return false;
                }

                if (clock.Elapsed - lastSaid >= TimeSpan.FromSeconds(5))
                {
                    Say($"waiting: dead={dead} not_dead={other} of {tasks}");
                    lastSaid = clock.Elapsed;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }

        /// <summary>One bulk retry of every dead task of the run, watched to its end; true when it completed.</summary>
        public async Task<bool> BulkRetryAsync(int number, bool killHolder, CancellationToken cancellationToken)
        {
            // Nothing changes until the start, so a prepare whose silo died is simply prepared again (a new action).
            var prepared = await Retry(() => operations.PrepareRetryDeadAsync(Filter, cancellationToken), cancellationToken);
            Actions++;
            var holderPort = await HolderPortAsync(prepared.Id);
            Say($"action {number} {prepared.Id}: will retry {prepared.Total} dead task(s); held by the silo on port {holderPort?.ToString(CultureInfo.InvariantCulture) ?? "?"}");

            var startedAt = DateTimeOffset.UtcNow;
            DeferredBulkAction? state;
            try
            {
                state = await operations.StartBulkActionAsync(prepared.Id, cancellationToken).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Unknown whether it started: what a silo holds says.
                Say($"action {number}: start failed ({ex.GetType().Name}); asking the cluster");
                state = await Retry(() => operations.GetBulkActionAsync(prepared.Id, cancellationToken), cancellationToken);
            }

            var killed = false;
            var last = state;
            var lastSaid = clock.Elapsed;
            var failedCalls = 0;
            var lastFailureSaid = TimeSpan.FromSeconds(-5);
            while (state is { IsFinished: false })
            {
                if (killHolder && !killed && holderPort is { } port && state.Total - state.Remaining >= Math.Max(1, state.Total / 10))
                {
                    killed = KillHolder(port, number, state);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
                try
                {
                    state = await operations.GetBulkActionAsync(prepared.Id, cancellationToken).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Its silo was just killed: calls fail until the cluster has declared it dead, then the action is
                    // held by no silo (null). Said at most every 5 s.
                    failedCalls++;
                    if (clock.Elapsed - lastFailureSaid >= TimeSpan.FromSeconds(5))
                    {
                        Say($"action {number}: progress calls failed {failedCalls} time(s) so far; the last: {ex.GetType().Name}: {TaskOutput(ex.Message)}; asking again");
                        lastFailureSaid = clock.Elapsed;
                    }

                    continue;
                }

                last = state ?? last;
                if (clock.Elapsed - lastSaid >= TimeSpan.FromSeconds(1) && state is not null)
                {
                    Say($"action {number}: {state.Total - state.Remaining} of {state.Total} reached, {state.Done} retried, {state.Skipped} skipped, {state.Failed} failed");
                    lastSaid = clock.Elapsed;
                }
            }

            var endedAt = DateTimeOffset.UtcNow;
            var outcome = state is null ? "lost" : state.State.ToString().ToLowerInvariant();
            if (state is null)
            {
                Lost++;
            }

            var end = state ?? last ?? prepared;
            Say($"action {number} {prepared.Id}: {outcome}; {(state is null ? "last seen: " : "")}{end.Done} retried, {end.Skipped} skipped, {end.Failed} failed of {end.Total}; {failedCalls} progress call(s) failed");
            await File.AppendAllTextAsync(
                Path.Combine(outDir, "actions.txt"),
                string.Join(' ', number, prepared.Id, Stamp(startedAt), Stamp(endedAt), outcome, end.Total, end.Done, end.Skipped, end.Failed, holderPort ?? 0) + "\n",
                CancellationToken.None);
            return state is { State: DeferredBulkActionState.Completed };
        }

        private static string TaskOutput(string message) => message.Split('\n')[0];

        private async Task<int?> HolderPortAsync(string actionId)
        {
            try
            {
                var address = await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grains.GetGrain<IBulkActionGrain>(actionId));
                return address?.Endpoint.Port;
            }
            catch (Exception ex)
            {
                Say($"cannot find the silo holding {actionId}: {ex.GetType().Name}: {TaskOutput(ex.Message)}");
                return null;
            }
        }

        /// <summary>SIGKILLs the silo listening on <paramref name="port"/> (its latest pid in silos.txt); true when it did.</summary>
        private bool KillHolder(int port, int number, DeferredBulkAction state)
        {
            var pid = File.ReadLines(Path.Combine(outDir, "silos.txt"))
                .Select(line => line.Split(' '))
                .Where(f => f.Length == 2 && f[0] == port.ToString(CultureInfo.InvariantCulture))
                .Select(f => int.Parse(f[1], CultureInfo.InvariantCulture))
                .LastOrDefault();
            if (pid == 0)
            {
                Say($"action {number}: no pid for the silo on port {port} in silos.txt; not killed");
                return true;
            }

            try
            {
                using var process = Process.GetProcessById(pid);
                var at = DateTimeOffset.UtcNow;
                process.Kill();
                File.AppendAllText(Path.Combine(outDir, "events.txt"), $"{Stamp(at)} kill {pid}\n");
                Say($"action {number}: SIGKILL of the silo holding it (port {port}, pid {pid}) at {state.Total - state.Remaining} of {state.Total} reached");
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                Say($"action {number}: could not kill pid {pid}: {ex.Message}");
            }

            return true;
        }

        private static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
    }
}
