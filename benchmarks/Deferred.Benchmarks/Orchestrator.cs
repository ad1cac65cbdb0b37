using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Deferred.Benchmarks;

/// <summary>
/// The parent process: for every scenario and system, creates a fresh database, runs the system in a child
/// process of its own (so start-up, memory and JIT are per system), collects its result lines and drops the
/// database. Systems run one after another, never at the same time.
/// </summary>
internal sealed class Orchestrator(BenchOptions options, string connectionString)
{
    private readonly List<(int Run, BenchResult Result)> _results = [];
    private readonly Dictionary<string, double> _maxRates = new(StringComparer.Ordinal);
    private readonly NpgsqlConnectionStringBuilder _server = new(connectionString);

    public async Task<int> RunAsync()
    {
        var clock = Stopwatch.StartNew();
        var machine = await MachineInfo.ReadAsync(AdminConnectionString());
        Console.Error.WriteLine($"bench: {(options.Quick ? "quick" : "full")} run; systems {string.Join(",", options.Systems)}; scenarios {string.Join(",", options.Scenarios)}; {options.Runs} run(s); {options.Concurrency} enqueuers");
        Console.Error.WriteLine($"bench: {machine.Summary}");
        for (var run = 1; run <= options.Runs; run++)
        {
            foreach (var scenario in options.Scenarios)
            {
                foreach (var system in options.Systems)
                {
                    if (scenario == "batch" && system != "deferred")
                    {
                        Console.Error.WriteLine($"bench: {system} batch: only the deferred system has a batch enqueue in one commit, skipped");
                        continue;
                    }

                    if (system.StartsWith("pg-", StringComparison.Ordinal) && scenario != "throughput")
                    {
                        Console.Error.WriteLine($"bench: {system} {scenario}: not applicable (the database alone has no scheduler), skipped");
                        continue;
                    }

                    if (system == "orleans-ceiling" && scenario is "recovery" or "delayed")
                    {
                        Console.Error.WriteLine($"bench: {system} {scenario}: not applicable (the ceiling stores nothing), skipped");
                        continue;
                    }

                    foreach (var result in await RunScenarioAsync(system, scenario))
                    {
                        _results.Add((run, result));
                        if (result is { Scenario: "throughput", Error: null } && !_maxRates.ContainsKey(system))
                        {
                            _maxRates[system] = result.TasksPerSecond;
                        }
                    }
                }
            }
        }

        var elapsed = clock.Elapsed;
        foreach (var line in Report.RatioLines(_results))
        {
            // On stdout, one line per run: the speed targets' ratios (docs/performance.md) without arithmetic.
            Console.WriteLine(line);
        }

        Console.Error.WriteLine($"bench: finished in {elapsed.TotalSeconds:F1} s");
        if (options.ReportPath is { } path)
        {
            await Report.WriteAsync(path, options, machine, _results, elapsed);
            Console.Error.WriteLine($"bench: wrote {path}");
        }

        return 0;
    }

    private async Task<IReadOnlyList<BenchResult>> RunScenarioAsync(string system, string scenario)
    {
        var serviceId = $"bench-{system}-{scenario}-{Guid.NewGuid():N}"[..40];
        switch (scenario)
        {
            case "soak":
                return await InFreshDatabaseAsync(system, scenario, cs => RunChildAsync(Spec(system, scenario, serviceId, options.SoakTasks), cs, echo: true));

            case "throughput" or "batch":
                return await InFreshDatabaseAsync(system, scenario, cs => RunChildAsync(Spec(system, scenario, serviceId, system is "deferred" or "deferred-tx" or "pg-batch" ? options.ThroughputTasksDeferred : options.ThroughputTasks), cs, echo: true));

            case "latency":
            {
                if (options.LatencyRate is { } fixedRate)
                {
                    _maxRates[system] = 2 * fixedRate;
                }

                if (!_maxRates.TryGetValue(system, out var max))
                {
                    // No throughput figure from this invocation: measure one first (not reported).
                    var calibration = Math.Min(options.ThroughputTasks, 5_000);
                    Console.Error.WriteLine($"bench: {system} latency: measuring the maximum rate first ({calibration} tasks)");
                    var measured = await InFreshDatabaseAsync(system, "calibrate", cs => RunChildAsync(Spec(system, "throughput", serviceId + "c", calibration), cs, echo: false));
                    var ok = measured.FirstOrDefault(r => r.Error is null && r.Scenario == "throughput");
                    if (ok is null)
                    {
                        return Emit([BenchResult.Failed(system, scenario, "could not measure the maximum rate: " + (measured.Count > 0 ? measured[0].Error : "no result"))]);
                    }

                    max = _maxRates[system] = ok.TasksPerSecond;
                }

                var spec = Spec(system, scenario, serviceId, 0) with { Rate = max / 2, Seconds = options.LatencySeconds };
                return await InFreshDatabaseAsync(system, scenario, cs => RunChildAsync(spec, cs, echo: true));
            }

            case "recovery":
                return await InFreshDatabaseAsync(system, scenario, async cs =>
                {
                    var rows = system is "deferred" or "deferred-tx" ? options.RecoveryTasksDeferred : options.RecoveryTasks;
                    var seeded = await RunChildAsync(Spec(system, ChildRunner.RecoverySeed, serviceId, rows), cs, echo: true);
                    return seeded.Count > 0 ? seeded : await RunChildAsync(Spec(system, scenario, serviceId, rows), cs, echo: true);
                });

            case "delayed":
            {
                var tasks = system is "deferred" or "deferred-tx" ? options.DelayedTasksDeferred : options.DelayedTasks;
                var spec = Spec(system, scenario, serviceId, tasks) with { ShortTasks = options.DelayedShortTasks };
                return await InFreshDatabaseAsync(system, scenario, cs => RunChildAsync(spec, cs, echo: true));
            }

            default:
                throw new UsageException($"unknown scenario '{scenario}'");
        }
    }

    private RunSpec Spec(string system, string scenario, string serviceId, int tasks) =>
        new(system, scenario, tasks, 0, 0, 0, options.Concurrency, system is "deferred" or "deferred-tx" or "orleans-ceiling" ? options.WarmupOrleans : options.Warmup, serviceId, options.TimeoutSeconds, options.Hangfire, options.Verbose);

    /// <summary>CREATE DATABASE bench_&lt;system&gt;_&lt;scenario&gt;_&lt;random&gt;, migrated for Deferred; dropped afterwards.</summary>
    private async Task<IReadOnlyList<BenchResult>> InFreshDatabaseAsync(string system, string scenario, Func<string, Task<IReadOnlyList<BenchResult>>> body)
    {
        var name = $"bench_{system}_{scenario}_{Guid.NewGuid():N}"[..48].Replace('-', '_');
        await using (var admin = new NpgsqlConnection(AdminConnectionString()))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        var database = new NpgsqlConnectionStringBuilder(connectionString) { Database = name }.ConnectionString;
        try
        {
            if (system.StartsWith("deferred", StringComparison.Ordinal))
            {
                await DeferredSchema.MigrateAsync(database);
            }

            return await body(database);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            return Emit([BenchResult.Failed(system, scenario, $"{ex.GetType().Name}: {ex.Message}")]);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(AdminConnectionString());
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }

    /// <summary>Runs this program again as <c>run --system ... --scenario ...</c> and collects its result lines.</summary>
    private async Task<IReadOnlyList<BenchResult>> RunChildAsync(RunSpec spec, string database, bool echo)
    {
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath ?? "dotnet",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(Orchestrator).Assembly.Location);
        }

        foreach (var argument in ChildArguments(spec))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DEFERRED_PG_CONNECTION"] = database;
        var results = new List<BenchResult>();
        var tail = new Queue<string>();
        using var child = new Process { StartInfo = start };
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            if (BenchResult.Parse(e.Data) is { } result)
            {
                lock (results)
                {
                    results.Add(result);
                }

                if (echo)
                {
                    Console.Out.WriteLine(e.Data);
                    Console.Out.Flush();
                }
                else
                {
                    Console.Error.WriteLine("calibration " + e.Data);
                }
            }
            else if (e.Data.Length > 0)
            {
                Console.Error.WriteLine(e.Data);
            }
        };
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            if (options.Verbose || e.Data.StartsWith("bench:", StringComparison.Ordinal))
            {
                Console.Error.WriteLine(e.Data);
            }

            lock (tail)
            {
                tail.Enqueue(e.Data);
                if (tail.Count > 40)
                {
                    tail.Dequeue();
                }
            }
        };
        var clock = Stopwatch.StartNew();
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        using var backstop = new CancellationTokenSource(TimeSpan.FromSeconds(spec.TimeoutSeconds + 60));
        try
        {
            await child.WaitForExitAsync(backstop.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }

        Console.Error.WriteLine($"bench: {spec.System} {spec.Scenario} child exited with {child.ExitCode} after {clock.Elapsed.TotalSeconds:F1} s");
        if (results.Count == 0 && (child.ExitCode != 0 || spec.Scenario != ChildRunner.RecoverySeed))
        {
            string last;
            lock (tail)
            {
                last = tail.LastOrDefault(l => l.Trim().Length > 0) ?? "no output";
                if (!options.Verbose)
                {
                    foreach (var line in tail)
                    {
                        Console.Error.WriteLine("  | " + line);
                    }
                }
            }

            var scenario = spec.Scenario == ChildRunner.RecoverySeed ? "recovery" : spec.Scenario;
            var failure = BenchResult.Failed(spec.System, scenario, $"the benchmark process exited with {child.ExitCode}: {BenchResult.OneLine(last)}");
            return echo ? Emit([failure]) : [failure];
        }

        return results;
    }

    private static IEnumerable<string> ChildArguments(RunSpec spec)
    {
        string N(double value) => value.ToString("R", CultureInfo.InvariantCulture);
        yield return "run";
        yield return "--system"; yield return spec.System;
        yield return "--scenario"; yield return spec.Scenario;
        yield return "--tasks"; yield return N(spec.Tasks);
        yield return "--short-tasks"; yield return N(spec.ShortTasks);
        yield return "--rate"; yield return N(spec.Rate);
        yield return "--seconds"; yield return N(spec.Seconds);
        yield return "--concurrency"; yield return N(spec.Concurrency);
        yield return "--warmup"; yield return N(spec.Warmup);
        yield return "--service-id"; yield return spec.ServiceId;
        yield return "--timeout-seconds"; yield return N(spec.TimeoutSeconds);
        yield return "--hangfire-workers"; yield return N(spec.Hangfire.WorkerCount);
        yield return "--hangfire-queue-poll-ms"; yield return N(spec.Hangfire.QueuePollInterval.TotalMilliseconds);
        yield return "--hangfire-schedule-poll-ms"; yield return N(spec.Hangfire.SchedulePollingInterval.TotalMilliseconds);
        if (spec.Verbose)
        {
            yield return "--verbose";
        }
    }

    private static IReadOnlyList<BenchResult> Emit(IReadOnlyList<BenchResult> results)
    {
        foreach (var result in results)
        {
            Console.Out.WriteLine(result.ToLine());
        }

        Console.Out.Flush();
        return results;
    }

    private string AdminConnectionString() => new NpgsqlConnectionStringBuilder(_server.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString;
}
