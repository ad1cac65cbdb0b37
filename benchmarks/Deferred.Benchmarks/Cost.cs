using System.Diagnostics;
using System.Globalization;

namespace Deferred.Benchmarks;

/// <summary>
/// What a measured phase cost: CPU time of this process and of every <c>postgres</c> process on the machine (from
/// <c>/proc</c>, so PostgreSQL must be local), and bytes allocated by this process (<see cref="GC.GetTotalAllocatedBytes"/>).
/// Divided by the tasks of the phase it is the cost per task (docs/performance.md).
/// </summary>
/// <remarks>It also counts garbage collections and their pauses (<see cref="GC.GetTotalPauseDuration"/>), the first suspect
/// for a latency tail.</remarks>
internal readonly record struct Cost(TimeSpan ProcessCpu, TimeSpan PostgresCpu, long AllocatedBytes, TimeSpan GcPause, int Gen0, int Gen2, long Timestamp)
{
    private static readonly double TicksPerSecond = ClockTicks();

    /// <summary>The counters now.</summary>
    public static Cost Now()
    {
        using var self = Process.GetCurrentProcess();
        return new Cost(self.TotalProcessorTime, ReadPostgresCpu(), GC.GetTotalAllocatedBytes(precise: false), GC.GetTotalPauseDuration(),
            GC.CollectionCount(0), GC.CollectionCount(2), Stopwatch.GetTimestamp());
    }

    /// <summary>What happened since <paramref name="start"/>, per task: (process CPU µs, PostgreSQL CPU µs, bytes allocated).</summary>
    public (double CpuUs, double PgCpuUs, double AllocBytes) PerTaskSince(Cost start, int tasks)
    {
        var n = Math.Max(1, tasks);
        return ((ProcessCpu - start.ProcessCpu).TotalMicroseconds / n, (PostgresCpu - start.PostgresCpu).TotalMicroseconds / n, (double)(AllocatedBytes - start.AllocatedBytes) / n);
    }

    /// <summary>What the garbage collector did since <paramref name="start"/>: share of wall time paused, collections of gen 0 and gen 2.</summary>
    public (double PausePct, int Gen0, int Gen2) GcSince(Cost start)
    {
        var wall = Stopwatch.GetElapsedTime(start.Timestamp, Timestamp);
        var pct = wall > TimeSpan.Zero ? 100 * (GcPause - start.GcPause) / wall : 0;
        return (pct, Gen0 - start.Gen0, Gen2 - start.Gen2);
    }

    private static TimeSpan ReadPostgresCpu()
    {
        // utime + stime (fields 14 and 15 of /proc/<pid>/stat, in clock ticks) of every process named postgres.
        double ticks = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out _))
                {
                    continue;
                }

                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var open = stat.IndexOf('(', StringComparison.Ordinal);
                    var close = stat.LastIndexOf(')');
                    if (open < 0 || close < 0 || stat[(open + 1)..close] != "postgres")
                    {
                        continue;
                    }

                    var fields = stat[(close + 2)..].Split(' ');
                    ticks += double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // The process ended while it was read.
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
            return TimeSpan.Zero;
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    private static double ClockTicks()
    {
        // USER_HZ is 100 on Linux for every architecture .NET runs on.
        return 100;
    }
}
