namespace Deferred.Storage.Resilience;

/// <summary>The named retry windows at the store boundary.</summary>
internal enum StoreWindow
{
    /// <summary>An enqueue's insert: the caller waits, so <c>EnqueueTimeout</c> (5 s).</summary>
    Enqueue,

    /// <summary>Recording an attempt's outcome (or an operator's change): <c>StoreRetryTimeout</c> (1 min), then again later.</summary>
    Outcome,

    /// <summary>Reading a task's row when its activation loads: <c>EnqueueTimeout</c>.</summary>
    Read,

    /// <summary>Storing an attempt's in-flight marker: one try; a refused start is retried by the grain's backoff timer.</summary>
    Start,

    /// <summary>Background reads and claims (sweep, audit, due-time poll): retried until the silo stops.</summary>
    Claim,

    /// <summary>The schema check at silo start: 30 s, so a silo restarted with its database still comes up.</summary>
    SchemaCheck,
}

/// <summary>How long a window keeps trying, and its backoff: <see cref="First"/>, doubling up to <see cref="Max"/>.</summary>
/// <param name="Budget">How long to keep trying; <see cref="Timeout.InfiniteTimeSpan"/> for as long as the caller runs.</param>
/// <param name="First">The wait before the first retry.</param>
/// <param name="Max">The longest wait between tries.</param>
internal readonly record struct RetryWindow(TimeSpan Budget, TimeSpan First, TimeSpan Max)
{
    /// <summary>The one backoff function: the wait before retry <paramref name="retry"/> (1-based), doubling from <see cref="First"/> up to <see cref="Max"/>.</summary>
    public TimeSpan Backoff(int retry)
    {
        if (retry <= 1)
        {
            return First;
        }

        // Doubling past 2^30 overflows long before any sane Max; clamp the exponent.
        var factor = 1L << Math.Min(retry - 1, 30);
        var ticks = First.Ticks > Max.Ticks / factor ? Max.Ticks : First.Ticks * factor;
        return TimeSpan.FromTicks(Math.Min(ticks, Max.Ticks));
    }

    /// <summary>
    /// <see cref="Backoff"/> with jitter: a random share of up to <paramref name="spread"/> taken off, so waiters that
    /// started together do not all look again at the same moment.
    /// </summary>
    public TimeSpan Jittered(int retry, double spread = 0.2) =>
        TimeSpan.FromTicks((long)(Backoff(retry).Ticks * (1 - (spread * Random.Shared.NextDouble()))));

    /// <summary>True when a window that started <paramref name="elapsed"/> ago still has room for a wait of <paramref name="next"/>.</summary>
    public bool Allows(TimeSpan elapsed, TimeSpan next) => Budget == Timeout.InfiniteTimeSpan || elapsed + next < Budget;
}
