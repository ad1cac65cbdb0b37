namespace Deferred.Dashboard.Metrics;

/// <summary>
/// The bins of the queue-wait histogram: log-scaled, four per doubling (each bin spans about 19 %, so a quantile read
/// at a bin's geometric middle is within about 9 % of the true value), from 100 µs to about 1.2 days. Waits below the
/// first bound share bin 0; longer ones share the last.
/// </summary>
internal static class WaitHistogram
{
    public const int BinsPerDoubling = 4;

    public const double MinSeconds = 0.0001;

    /// <summary>Bin 0 (below <see cref="MinSeconds"/>) and 30 doublings above it.</summary>
    public const int Count = 1 + (30 * BinsPerDoubling);

    public static int BinOf(double seconds)
    {
        if (!(seconds >= MinSeconds))
        {
            // Also NaN and negative waits (a start a little before its due time, by clock skew across silos).
            return 0;
        }

        var bin = 1 + (int)Math.Floor(Math.Log2(seconds / MinSeconds) * BinsPerDoubling);
        return Math.Min(bin, Count - 1);
    }

    /// <summary>A representative value of <paramref name="bin"/>: its geometric middle (bin 0: its upper bound).</summary>
    public static double ValueOf(int bin) =>
        bin == 0 ? MinSeconds : MinSeconds * Math.Pow(2, (bin - 0.5) / BinsPerDoubling);

    /// <summary>The value below which a share <paramref name="quantile"/> of the counted waits lie; null when none are counted.</summary>
    public static double? Quantile(ReadOnlySpan<long> bins, double quantile)
    {
        long total = 0;
        foreach (var n in bins)
        {
            total += n;
        }

        if (total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(quantile * total);
        long seen = 0;
        for (var i = 0; i < bins.Length; i++)
        {
            seen += bins[i];
            if (seen >= Math.Max(rank, 1))
            {
                return ValueOf(i);
            }
        }

        return ValueOf(bins.Length - 1);
    }
}
