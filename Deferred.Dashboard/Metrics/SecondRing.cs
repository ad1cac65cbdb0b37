namespace Deferred.Dashboard.Metrics;

/// <summary>
/// Per-second buckets for the last <see cref="Seconds"/> seconds: successes, failed attempts and a queue-wait histogram.
/// A bucket is reused when its second comes round again; writers add with interlocked operations and only the first
/// writer of a new second takes the bucket's lock to clear it, so recording costs a few atomic adds.
/// </summary>
internal sealed class SecondRing
{
    public const int Seconds = 600;

    private readonly Bucket[] _buckets = Enumerable.Range(0, Seconds).Select(_ => new Bucket()).ToArray();

    public void AddSucceeded(long second, long count)
    {
        if (Current(second) is { } bucket)
        {
            Interlocked.Add(ref bucket.Succeeded, count);
        }
    }

    public void AddFailed(long second, long count)
    {
        if (Current(second) is { } bucket)
        {
            Interlocked.Add(ref bucket.Failed, count);
        }
    }

    public void RecordWait(long second, double seconds)
    {
        if (Current(second) is { } bucket)
        {
            Interlocked.Increment(ref bucket.Waits[WaitHistogram.BinOf(seconds)]);
        }
    }

    /// <summary>
    /// Reads the <paramref name="count"/> seconds ending with <paramref name="lastSecond"/> (inclusive): the successes
    /// and failures of each, and the queue-wait bins summed over all of them. Seconds with no bucket read as zero.
    /// </summary>
    public void Read(long lastSecond, int count, Span<long> succeeded, Span<long> failed, Span<long> waitBins)
    {
        count = Math.Clamp(count, 0, Seconds);
        for (var i = 0; i < count; i++)
        {
            var second = lastSecond - count + 1 + i;
            var bucket = _buckets[Index(second)];
            if (Volatile.Read(ref bucket.Second) != second)
            {
                continue;
            }

            succeeded[i] = Volatile.Read(ref bucket.Succeeded);
            failed[i] = Volatile.Read(ref bucket.Failed);
            for (var b = 0; b < waitBins.Length; b++)
            {
                waitBins[b] += Volatile.Read(ref bucket.Waits[b]);
            }
        }
    }

    private Bucket? Current(long second)
    {
        var bucket = _buckets[Index(second)];
        if (Volatile.Read(ref bucket.Second) == second)
        {
            return bucket;
        }

        lock (bucket)
        {
            if (bucket.Second > second)
            {
                // A measurement that arrived after its bucket moved on to a later second: too old to keep.
                return null;
            }

            if (bucket.Second != second)
            {
                bucket.Succeeded = 0;
                bucket.Failed = 0;
                Array.Clear(bucket.Waits);
                Volatile.Write(ref bucket.Second, second);
            }
        }

        return bucket;
    }

    private static int Index(long second) => (int)(((second % Seconds) + Seconds) % Seconds);

    private sealed class Bucket
    {
        public long Second = long.MinValue;
        public long Succeeded;
        public long Failed;
        public readonly long[] Waits = new long[WaitHistogram.Count];
    }
}
