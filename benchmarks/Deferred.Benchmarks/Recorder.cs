using System.Diagnostics;

namespace Deferred.Benchmarks;

/// <summary>
/// What the no-op task of every system does: note, in memory, when task number <c>seq</c> ran. Timestamps are
/// <see cref="Stopwatch"/> ticks. A task that runs a second time is counted as a duplicate and does not move
/// its timestamps. Tasks with a sequence number outside the tracked range (the hour-delayed ones) are only counted.
/// </summary>
internal static class Recorder
{
    private static long[] _enqueued = [];
    private static long[] _started = [];
    private static long[] _done = [];
    private static int _completed;
    private static int _duplicates;
    private static int _untracked;
    private static int _target = int.MaxValue;
    private static TaskCompletionSource _reached = NewSignal();

    public static int Completed => Volatile.Read(ref _completed);

    public static int Duplicates => Volatile.Read(ref _duplicates);

    public static int Untracked => Volatile.Read(ref _untracked);

    /// <summary>Forgets everything and tracks sequence numbers 0 .. capacity-1.</summary>
    public static void Reset(int capacity)
    {
        _enqueued = new long[capacity];
        _started = new long[capacity];
        _done = new long[capacity];
        _completed = 0;
        _duplicates = 0;
        _untracked = 0;
        _target = int.MaxValue;
        _reached = NewSignal();
    }

    /// <summary>Completes when <paramref name="count"/> distinct tracked tasks have run (counting from <see cref="Reset"/>).</summary>
    public static Task Expect(int count)
    {
        var signal = NewSignal();
        _reached = signal;
        Volatile.Write(ref _target, count);
        if (Completed >= count)
        {
            signal.TrySetResult();
        }

        return signal.Task;
    }

    /// <summary>The reference time of task <paramref name="seq"/>: its enqueue, its due time, or the start-up.</summary>
    public static void MarkEnqueued(int seq, long timestamp) => _enqueued[seq] = timestamp;

    /// <summary>Called by every system's no-op handler.</summary>
    public static void OnRun(int seq)
    {
        var now = Stopwatch.GetTimestamp();
        var started = _started;
        if ((uint)seq >= (uint)started.Length)
        {
            Interlocked.Increment(ref _untracked);
            return;
        }

        if (Interlocked.CompareExchange(ref started[seq], now, 0) != 0)
        {
            Interlocked.Increment(ref _duplicates);
            return;
        }

        _done[seq] = Stopwatch.GetTimestamp();
        if (Interlocked.Increment(ref _completed) >= Volatile.Read(ref _target))
        {
            _reached.TrySetResult();
        }
    }

    /// <summary>Milliseconds from the reference time to the start of each task in [from, to).</summary>
    public static double[] StartLatencies(int from, int to) => Differences(_started, from, to);

    /// <summary>Milliseconds from the reference time to the end of each task in [from, to).</summary>
    public static double[] DoneLatencies(int from, int to) => Differences(_done, from, to);

    /// <summary>The latest completion among tasks [from, to), in ticks.</summary>
    public static long LastDone(int from, int to)
    {
        long last = 0;
        for (var i = from; i < to; i++)
        {
            last = Math.Max(last, _done[i]);
        }

        return last;
    }

    private static double[] Differences(long[] end, int from, int to)
    {
        var result = new double[to - from];
        for (var i = from; i < to; i++)
        {
            result[i - from] = Clock.Ms(end[i] - _enqueued[i]);
        }

        return result;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Monotonic time helpers.</summary>
internal static class Clock
{
    public static long Now => Stopwatch.GetTimestamp();

    public static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}
