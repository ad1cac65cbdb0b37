using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Deferred.Benchmarks;

/// <summary>One measured result, or a system that could not run a scenario.</summary>
internal sealed record BenchResult(
    string System,
    string Scenario,
    int Tasks,
    double TasksPerSecond,
    double P50Ms,
    double P99Ms,
    double RssMb,
    string? Error = null)
{
    /// <summary>CPU time of the benchmark process per task, in microseconds (NaN when not measured).</summary>
    public double CpuUsPerTask { get; init; } = double.NaN;

    /// <summary>CPU time of the machine's PostgreSQL processes per task, in microseconds (NaN when not measured).</summary>
    public double PgCpuUsPerTask { get; init; } = double.NaN;

    /// <summary>Bytes the benchmark process allocated per task (NaN when not measured).</summary>
    public double AllocBytesPerTask { get; init; } = double.NaN;

    /// <summary>Share of the phase's wall time the process was paused by garbage collection, in percent (NaN when not measured).</summary>
    public double GcPausePct { get; init; } = double.NaN;

    /// <summary>Gen 0 and gen 2 collections during the phase.</summary>
    public int Gen0Collections { get; init; }

    public int Gen2Collections { get; init; }

    /// <summary>Thread-pool work items queued, sampled every 10 ms during the phase: mean and maximum (NaN when not sampled).</summary>
    public double ThreadPoolQueueMean { get; init; } = double.NaN;

    public double ThreadPoolQueueMax { get; init; } = double.NaN;

    /// <summary>Further fields, printed as they are at the end of the line (the soak scenario's series).</summary>
    public string? Extra { get; init; }

    /// <summary>This result with the cost per task of the phase that began at <paramref name="start"/>.</summary>
    public BenchResult WithCost(Cost start)
    {
        var now = Cost.Now();
        var (cpu, pg, alloc) = now.PerTaskSince(start, Tasks);
        var (pause, gen0, gen2) = now.GcSince(start);
        return this with { CpuUsPerTask = cpu, PgCpuUsPerTask = pg, AllocBytesPerTask = alloc, GcPausePct = pause, Gen0Collections = gen0, Gen2Collections = gen2 };
    }

    public static BenchResult Failed(string system, string scenario, string error) => new(system, scenario, 0, 0, 0, 0, 0, error);

    /// <summary>The line the benchmark prints, e.g. <c>bench: system=hangfire scenario=throughput tasks=5000 ...</c>.</summary>
    public string ToLine() => Error is null
        ? string.Create(CultureInfo.InvariantCulture,
            $"bench: system={System} scenario={Scenario} tasks={Tasks} tasks_per_s={TasksPerSecond:F1} p50_ms={P50Ms:F2} p99_ms={P99Ms:F2} rss_mb={RssMb:F1}{CostFields()}")
        : $"bench: system={System} scenario={Scenario} error={OneLine(Error)}";

    private string CostFields() => double.IsNaN(CpuUsPerTask)
        ? ""
        : string.Create(CultureInfo.InvariantCulture, $" cpu_us_per_task={CpuUsPerTask:F1} pg_cpu_us_per_task={PgCpuUsPerTask:F1} alloc_bytes_per_task={AllocBytesPerTask:F0} gc_pause_pct={GcPausePct:F1} gen0={Gen0Collections} gen2={Gen2Collections}{QueueFields()}{(Extra is null ? "" : " " + Extra)}");

    private string QueueFields() => double.IsNaN(ThreadPoolQueueMax)
        ? ""
        : string.Create(CultureInfo.InvariantCulture, $" tp_queue_mean={ThreadPoolQueueMean:F0} tp_queue_max={ThreadPoolQueueMax:F0}");

    /// <summary>Parses a line printed by <see cref="ToLine"/>; null for any other text.</summary>
    public static BenchResult? Parse(string line)
    {
        if (!line.StartsWith("bench: ", StringComparison.Ordinal))
        {
            return null;
        }

        var body = line["bench: ".Length..];
        var errorAt = body.IndexOf(" error=", StringComparison.Ordinal);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in (errorAt >= 0 ? body[..errorAt] : body).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                fields[part[..eq]] = part[(eq + 1)..];
            }
        }

        if (!fields.TryGetValue("system", out var system) || !fields.TryGetValue("scenario", out var scenario))
        {
            return null;
        }

        if (errorAt >= 0)
        {
            return Failed(system, scenario, body[(errorAt + " error=".Length)..]);
        }

        double Number(string key) => fields.TryGetValue(key, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;
        return new BenchResult(system, scenario, (int)Number("tasks"), Number("tasks_per_s"), Number("p50_ms"), Number("p99_ms"), Number("rss_mb"))
        {
            CpuUsPerTask = Number("cpu_us_per_task"),
            PgCpuUsPerTask = Number("pg_cpu_us_per_task"),
            AllocBytesPerTask = Number("alloc_bytes_per_task"),
            GcPausePct = Number("gc_pause_pct"),
            ThreadPoolQueueMean = Number("tp_queue_mean"),
            ThreadPoolQueueMax = Number("tp_queue_max"),
            Gen0Collections = double.IsNaN(Number("gen0")) ? 0 : (int)Number("gen0"),
            Gen2Collections = double.IsNaN(Number("gen2")) ? 0 : (int)Number("gen2"),
        };
    }

    public static string OneLine(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsControl(c) ? ' ' : c);
        }

        var flat = builder.ToString().Trim();
        return flat.Length > 300 ? flat[..300] + "…" : flat;
    }
}

/// <summary>Percentiles and memory readings.</summary>
internal static class Stats
{
    /// <summary>Samples <see cref="ThreadPool.PendingWorkItemCount"/> every 10 ms until cancelled: (mean, maximum).</summary>
    public static async Task<(double Mean, double Max)> SampleThreadPoolQueueAsync(CancellationToken ct)
    {
        long sum = 0, max = 0, n = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var queued = ThreadPool.PendingWorkItemCount;
                sum += queued;
                max = Math.Max(max, queued);
                n++;
            }
        }
        catch (OperationCanceledException)
        {
            // Sampling over.
        }

        return (n == 0 ? 0 : (double)sum / n, max);
    }

    /// <summary>The nearest-rank percentile (0 &lt; q ≤ 1) of <paramref name="sorted"/>, which must be sorted.</summary>
    public static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    public static (double P50, double P99) P50P99(double[] values)
    {
        var copy = (double[])values.Clone();
        Array.Sort(copy);
        return (Percentile(copy, 0.50), Percentile(copy, 0.99));
    }

    /// <summary>
    /// The peak resident set size of this process so far, in MiB: VmHWM from /proc/self/status (the kernel's
    /// high-water mark, so no peak between samples is missed), else the runtime's peak working set.
    /// </summary>
    /// <summary>The resident set size now, in MiB (VmRSS), else the runtime's working set.</summary>
    public static double CurrentRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture) / 1024.0;
                }
            }
        }
        catch (IOException)
        {
        }

        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / (1024.0 * 1024.0);
    }

    public static double PeakRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["VmHWM:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64 / (1024.0 * 1024.0);
    }
}
