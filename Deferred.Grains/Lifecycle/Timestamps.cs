namespace Deferred.Lifecycle;

/// <summary>Times as Deferred stores them.</summary>
internal static class Timestamps
{
    /// <summary>
    /// UTC at PostgreSQL's microsecond precision, rounded up (never down, so a run time never moves earlier than
    /// asked), so that what a grain holds in memory and what its row holds always agree.
    /// </summary>
    public static DateTimeOffset Microseconds(DateTimeOffset t) => new(t.UtcTicks + ((10 - (t.UtcTicks % 10)) % 10), TimeSpan.Zero);
}
