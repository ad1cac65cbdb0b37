namespace Deferred.Scheduling;

/// <summary>Which occurrences one pass enqueues for a due schedule, and where the schedule moves next.</summary>
/// <param name="Run">The occurrences to enqueue, oldest first.</param>
/// <param name="NotRun">Due occurrences the policy collapsed or skipped (counted up to <see cref="MissedOccurrencePolicy.CountLimit"/>).</param>
/// <param name="NextAt">The schedule's next occurrence: the first after now, or, when a pass hit its cap, the first not yet enqueued.</param>
internal sealed record OccurrencePlan(IReadOnlyList<DateTimeOffset> Run, int NotRun, DateTimeOffset NextAt);

/// <summary>
/// The missed-occurrence policy as a pure function of the stored next occurrence, the time now and the schedule: no
/// clock, no I/O, so every case has a unit test with made-up times.
/// <list type="bullet">
/// <item><see cref="MissedOccurrences.RunOnce"/>: a pass merely late (its oldest due occurrence at most
/// <see cref="DeferredSchedule.SkipGracePeriod"/> old) runs each due occurrence; after an outage (older) every due
/// occurrence collapses into one run, the latest due.</item>
/// <item><see cref="MissedOccurrences.RunAll"/>: each due occurrence runs, at most <c>cap</c> a pass; the rest follow in the next passes.</item>
/// <item><see cref="MissedOccurrences.Skip"/>: an occurrence runs only while it is at most <see cref="DeferredSchedule.SkipGracePeriod"/> late.</item>
/// </list>
/// </summary>
internal static class MissedOccurrencePolicy
{
    /// <summary>The most occurrences one pass enqueues for one schedule (<see cref="MissedOccurrences.RunAll"/>, <see cref="MissedOccurrences.Skip"/>).</summary>
    public const int DefaultCap = 1_000;

    /// <summary>How far <see cref="OccurrencePlan.NotRun"/> is counted; a longer outage reports this many.</summary>
    public const int CountLimit = 10_000;

    /// <summary>Plans one pass for a schedule whose next occurrence is <paramref name="nextAt"/>, at <paramref name="now"/>.</summary>
    public static OccurrencePlan Plan(ScheduleSpec spec, DateTimeOffset nextAt, DateTimeOffset now, int cap = DefaultCap)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (nextAt > now)
        {
            return new OccurrencePlan([], 0, nextAt);
        }

        switch (spec.Missed)
        {
            case MissedOccurrences.RunAll:
                {
                    var run = new List<DateTimeOffset>();
                    var at = nextAt;
                    while (at <= now && run.Count < cap)
                    {
                        run.Add(at);
                        at = spec.NextAfter(at);
                    }

                    return new OccurrencePlan(run, 0, at);
                }

            case MissedOccurrences.Skip:
                {
                    // The stored next_at counts as an occurrence even when it is off the schedule's grid (a changed row).
                    var oldest = now - DeferredSchedule.SkipGracePeriod;
                    var at = nextAt;
                    var skipped = 0;
                    if (at < oldest)
                    {
                        skipped = Count(spec, at, oldest);
                        at = spec.NextAfter(oldest.AddTicks(-1));
                    }

                    var run = new List<DateTimeOffset>();
                    while (at <= now && run.Count < cap)
                    {
                        run.Add(at);
                        at = spec.NextAfter(at);
                    }

                    return new OccurrencePlan(run, skipped, at);
                }

            default:
                {
                    // A loop that is only late (a pause, a slow commit) is not an outage: each occurrence runs, so a
                    // short interval (1 s) loses no tick when a pass comes a second or two late.
                    if (now - nextAt <= DeferredSchedule.SkipGracePeriod)
                    {
                        var run = new List<DateTimeOffset>();
                        var at = nextAt;
                        while (at <= now && run.Count < cap)
                        {
                            run.Add(at);
                            at = spec.NextAfter(at);
                        }

                        return new OccurrencePlan(run, 0, at);
                    }

                    var latest = spec.LatestAtOrBefore(now) is { } l && l > nextAt ? l : nextAt;
                    var collapsed = latest > nextAt ? Count(spec, nextAt, latest) : 0;
                    return new OccurrencePlan([latest], collapsed, spec.NextAfter(now));
                }
        }
    }

    /// <summary>Occurrences from <paramref name="from"/> (counted) up to, not including, <paramref name="until"/>, at most <see cref="CountLimit"/>.</summary>
    private static int Count(ScheduleSpec spec, DateTimeOffset from, DateTimeOffset until)
    {
        var count = 0;
        for (var at = from; at < until && count < CountLimit; at = spec.NextAfter(at))
        {
            count++;
        }

        return count;
    }
}
