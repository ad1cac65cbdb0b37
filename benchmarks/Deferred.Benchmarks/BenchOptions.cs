using System.Globalization;
using Deferred.Benchmarks.Systems;

namespace Deferred.Benchmarks;

/// <summary>A command-line mistake; the message names the bad value.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The benchmark's command line (the parent process). See <see cref="Usage"/>.</summary>
internal sealed class BenchOptions
{
    public static readonly string[] AllSystems = ["deferred", "deferred-stock", "hangfire", "pg-row", "pg-batch", "orleans-ceiling"];
    /// <summary>
    /// Systems run only when asked for: <c>deferred-tx</c> (Deferred with a no-op transactional handler, whose completion
    /// is a transaction of its own: what exactly-once database work costs next to <c>deferred</c>).
    /// </summary>
    public static readonly string[] ExtraSystems = ["deferred-tx"];

    public static readonly string[] AllScenarios = ["throughput", "latency", "recovery", "delayed"];

    /// <summary>Scenarios run only when asked for: <c>batch</c> (the deferred system, EnqueueManyAsync in batches of 1,000).</summary>
    public static readonly string[] ExtraScenarios = ["batch", "soak"];

    public const string Usage = """
        usage: Deferred.Benchmarks [options]            (scripts/bench.sh [options] builds and runs it)
          --quick                       small sizes (deferred warmed up past the JIT); about 2.5 minutes
          --systems a,b,...             of deferred, deferred-stock, hangfire, pg-row, pg-batch, orleans-ceiling (default: all);
                                        also deferred-tx (a no-op transactional handler), only when named
          --scenarios a,b,...           of throughput, latency, recovery, delayed (default: all), and batch
                                        (deferred only: the throughput tasks enqueued by EnqueueManyAsync, 1,000 per call)
          --tasks N                     throughput tasks (quick 1500, full 50000)
          --latency-seconds S           length of the fixed-rate latency run (quick 3, full 60)
          --soak-tasks N                tasks of the soak scenario (quick 20000, full 2000000): live heap and RSS
                                        after each tenth, to show that completed tasks leave nothing behind
          --latency-rate R              the latency run's rate in tasks/s (default: half the maximum measured first)
          --recovery-tasks N            rows pending at start-up (quick 1000, full 100000)
          --delayed-tasks N             tasks delayed by an hour (quick 1000, full 100000)
          --delayed-tasks-deferred N    the same for the deferred system (quick: as --delayed-tasks, full 1000000)
          --tasks-deferred N            throughput tasks for the deferred systems and pg-batch, the floor they are set against (default: as --tasks)
          --recovery-tasks-deferred N   recovery rows for the deferred system (default: as --recovery-tasks)
          --delayed-short-tasks N       tasks delayed by 2-5 s (default min(delayed tasks, 2000); quick 300)
          --concurrency C               concurrent enqueuers (default 64)
          --warmup N                    tasks run before measuring, in the same process (quick 100, full 1000)
          --warmup-orleans N            the same for deferred and orleans-ceiling, past the JIT's climb (quick 60000,
                                        full 150000; default: --warmup when given); the warm-up of a throughput run
                                        is reported as scenario 'cold'
          --runs K                      repeat every system and scenario K times (default 1)
          --hangfire-workers W          Hangfire WorkerCount (default 20)
          --hangfire-queue-poll-ms M    Hangfire.PostgreSql QueuePollInterval (default 1000)
          --hangfire-schedule-poll-ms M Hangfire SchedulePollingInterval (default 100)
          --timeout-seconds S           per system and scenario (quick 90, full 3600)
          --report PATH                 write the markdown report there (default docs/benchmarks.md on a full run
                                        of every system and scenario; never on --quick)
          --no-report                   do not write the report
          --verbose                     pass the systems' own logs through (stderr)
        Needs DEFERRED_PG_CONNECTION (any database on the server; each run creates and drops its own).
        Prints one line per result on stdout:
          bench: system=<name> scenario=<name> tasks=<N> tasks_per_s=<X> p50_ms=<X> p99_ms=<X> rss_mb=<X>
        """;

    public bool Quick { get; private set; }

    public IReadOnlyList<string> Systems { get; private set; } = AllSystems;

    public IReadOnlyList<string> Scenarios { get; private set; } = AllScenarios;

    public bool Restricted { get; private set; }

    public int ThroughputTasks { get; private set; }

    public int LatencySeconds { get; private set; }

    /// <summary>A fixed rate for the latency scenario (tasks/s); null: half the maximum measured in the same invocation.</summary>
    public double? LatencyRate { get; private set; }

    public int RecoveryTasks { get; private set; }

    public int DelayedTasks { get; private set; }

    public int DelayedTasksDeferred { get; private set; }

    public int ThroughputTasksDeferred { get; private set; }

    /// <summary>Tasks run by the soak scenario (memory of a long-running silo).</summary>
    public int SoakTasks { get; private set; }

    public int RecoveryTasksDeferred { get; private set; }

    public int DelayedShortTasks { get; private set; }

    public int Concurrency { get; private set; } = 64;

    public int Warmup { get; private set; }

    /// <summary>
    /// The warm-up of the in-process Orleans systems (deferred, orleans-ceiling): long enough to be past the JIT's climb
    /// (tiered compilation takes tens of seconds after start), so their steady figures are steady.
    /// </summary>
    public int WarmupOrleans { get; private set; }

    public int Runs { get; private set; } = 1;

    public HangfireSettings Hangfire { get; private set; } = new(20, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));

    public int TimeoutSeconds { get; private set; }

    public string? ReportPath { get; private set; }

    public bool Verbose { get; private set; }

    public IReadOnlyList<string> Arguments { get; private set; } = [];

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions { Arguments = args };
        int? tasks = null, tasksDeferred = null, recoveryDeferred = null, latencySeconds = null, recoveryTasks = null, delayedTasks = null, delayedDeferred = null, delayedShort = null, warmup = null, timeout = null;
        int? soakTasks = null, warmupOrleans = null;
        int workers = 20, queuePollMs = 1000, schedulePollMs = 100;
        string? report = null;
        var noReport = false;
        var reader = new ArgReader(args);
        while (reader.Next() is { } option)
        {
            switch (option)
            {
                case "--quick": options.Quick = true; break;
                case "--systems": options.Systems = reader.List([.. AllSystems, .. ExtraSystems]); options.Restricted = true; break;
                case "--scenarios": options.Scenarios = reader.List([.. AllScenarios, .. ExtraScenarios]); options.Restricted = true; break;
                case "--tasks": tasks = reader.Int(1); break;
                case "--latency-seconds": latencySeconds = reader.Int(1); break;
                case "--latency-rate": options.LatencyRate = reader.Int(1); break;
                case "--soak-tasks": soakTasks = reader.Int(1); break;
                case "--recovery-tasks": recoveryTasks = reader.Int(1); break;
                case "--delayed-tasks": delayedTasks = reader.Int(1); break;
                case "--delayed-tasks-deferred": delayedDeferred = reader.Int(1); break;
                case "--tasks-deferred": tasksDeferred = reader.Int(1); break;
                case "--recovery-tasks-deferred": recoveryDeferred = reader.Int(1); break;
                case "--delayed-short-tasks": delayedShort = reader.Int(1); break;
                case "--concurrency": options.Concurrency = reader.Int(1, 1024); break;
                case "--warmup": warmup = reader.Int(0); break;
                case "--warmup-orleans": warmupOrleans = reader.Int(0); break;
                case "--runs": options.Runs = reader.Int(1, 100); break;
                case "--hangfire-workers": workers = reader.Int(1, 1000); break;
                case "--hangfire-queue-poll-ms": queuePollMs = reader.Int(1); break;
                case "--hangfire-schedule-poll-ms": schedulePollMs = reader.Int(1); break;
                case "--timeout-seconds": timeout = reader.Int(1); break;
                case "--report": report = reader.Value(); break;
                case "--no-report": noReport = true; break;
                case "--verbose": options.Verbose = true; break;
                default: throw new UsageException($"unknown option '{option}'");
            }
        }

        var quick = options.Quick;
        options.ThroughputTasks = tasks ?? (quick ? 1_500 : 50_000);
        options.LatencySeconds = latencySeconds ?? (quick ? 3 : 60);
        options.RecoveryTasks = recoveryTasks ?? (quick ? 1_000 : 100_000);
        options.DelayedTasks = delayedTasks ?? (quick ? 1_000 : 100_000);
        options.ThroughputTasksDeferred = tasksDeferred ?? options.ThroughputTasks;
        options.SoakTasks = soakTasks ?? (quick ? 20_000 : 2_000_000);
        options.RecoveryTasksDeferred = recoveryDeferred ?? options.RecoveryTasks;
        options.DelayedTasksDeferred = delayedDeferred ?? (quick || delayedTasks is not null ? options.DelayedTasks : 1_000_000);
        options.DelayedShortTasks = delayedShort ?? (quick ? Math.Min(options.DelayedTasks, 300) : Math.Min(options.DelayedTasks, 2_000));
        options.Warmup = warmup ?? (quick ? 100 : 1_000);
        options.WarmupOrleans = warmupOrleans ?? warmup ?? (quick ? 60_000 : 150_000);
        options.TimeoutSeconds = timeout ?? (quick ? 90 : 3_600);
        options.Hangfire = new HangfireSettings(workers, TimeSpan.FromMilliseconds(queuePollMs), TimeSpan.FromMilliseconds(schedulePollMs));
        if (report is not null && noReport)
        {
            throw new UsageException("--report and --no-report contradict each other");
        }

        options.ReportPath = noReport ? null : report ?? (!quick && !options.Restricted ? Path.Combine("docs", "benchmarks.md") : null);
        return options;
    }
}

/// <summary>Reads <c>--name value</c> pairs, with errors that name the option and the value.</summary>
internal sealed class ArgReader(string[] args)
{
    private int _index = -1;
    private string _option = "";

    public string? Next()
    {
        _index++;
        if (_index >= args.Length)
        {
            return null;
        }

        _option = args[_index];
        return _option;
    }

    public string Value()
    {
        if (_index + 1 >= args.Length || args[_index + 1].StartsWith("--", StringComparison.Ordinal))
        {
            throw new UsageException($"{_option} needs a value");
        }

        return args[++_index];
    }

    public int Int(int min, int max = int.MaxValue)
    {
        var text = Value();
        var plain = text.Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal);
        return int.TryParse(plain, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException(max == int.MaxValue
                ? $"{_option} must be a whole number of at least {min}, not '{text}'"
                : $"{_option} must be a whole number from {min} to {max}, not '{text}'");
    }

    public double Double(double min)
    {
        var text = Value();
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && double.IsFinite(value)
            ? value
            : throw new UsageException($"{_option} must be a number of at least {min.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
    }

    public IReadOnlyList<string> List(IReadOnlyList<string> allowed)
    {
        var text = Value();
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (items.Length == 0)
        {
            throw new UsageException($"{_option} needs at least one name, not '{text}'");
        }

        foreach (var item in items)
        {
            if (!allowed.Contains(item, StringComparer.Ordinal))
            {
                throw new UsageException($"unknown name '{item}' in {_option}; choose from {string.Join(", ", allowed)}");
            }
        }

        // Keep the canonical order (throughput before latency: latency's rate comes from throughput).
        return allowed.Where(a => items.Contains(a, StringComparer.Ordinal)).ToArray();
    }
}
