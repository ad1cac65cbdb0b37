using Deferred.Scheduling;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>Occurrence arithmetic of cron and interval schedules, and the checks at the boundary. No clock, no I/O.</summary>
public sealed class ScheduleSpecTests
{
    private static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime();

    private static ScheduleSpec Spec(DeferredSchedule schedule) => ScheduleSpec.Parse("test", schedule);

    [Fact]
    public void Interval_occurrences_are_multiples_of_the_interval_since_the_epoch()
    {
        var spec = Spec(DeferredSchedule.Every(TimeSpan.FromMinutes(15)));

        Assert.Equal(Utc("2026-03-01T10:15:00Z"), spec.NextAfter(Utc("2026-03-01T10:07:12.345Z")));
        Assert.Equal(Utc("2026-03-01T10:30:00Z"), spec.NextAfter(Utc("2026-03-01T10:15:00Z")));
        Assert.Equal(Utc("2026-03-01T10:15:00Z"), spec.LatestAtOrBefore(Utc("2026-03-01T10:15:00Z")));
        Assert.Equal(Utc("2026-03-01T10:00:00Z"), spec.LatestAtOrBefore(Utc("2026-03-01T10:14:59.999Z")));
        Assert.Equal("every 00:15:00", spec.Describe());
    }

    [Fact]
    public void Five_field_cron_runs_in_minutes_and_six_field_cron_in_seconds()
    {
        var daily = Spec(DeferredSchedule.Cron("0 9 * * *"));
        Assert.Equal(Utc("2026-03-02T09:00:00Z"), daily.NextAfter(Utc("2026-03-01T10:00:00Z")));
        Assert.Equal("cron '0 9 * * *' in UTC", daily.Describe());

        var tenSeconds = Spec(DeferredSchedule.Cron("*/10 * * * * *"));
        Assert.Equal(Utc("2026-03-01T12:00:10Z"), tenSeconds.NextAfter(Utc("2026-03-01T12:00:05Z")));
        Assert.Equal(Utc("2026-03-01T12:00:00Z"), tenSeconds.LatestAtOrBefore(Utc("2026-03-01T12:00:09Z")));

        var hourly = Spec(DeferredSchedule.Cron("@hourly"));
        Assert.Equal(Utc("2026-03-01T13:00:00Z"), hourly.NextAfter(Utc("2026-03-01T12:00:00Z")));
    }

    [Fact]
    public void Cron_in_a_time_zone_follows_daylight_saving_changes()
    {
        // Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST; 2026-10-25 03:00 CEST falls back to 02:00 CET.
        var nightly = Spec(DeferredSchedule.Cron("30 2 * * *", "Europe/Berlin"));

        Assert.Equal(Utc("2026-03-28T01:30:00Z"), nightly.NextAfter(Utc("2026-03-27T12:00:00Z")));   // 02:30 CET
        Assert.Equal(Utc("2026-03-29T01:00:00Z"), nightly.NextAfter(Utc("2026-03-28T12:00:00Z")));   // 02:30 does not exist: at the change, 03:00 CEST
        Assert.Equal(Utc("2026-03-30T00:30:00Z"), nightly.NextAfter(Utc("2026-03-29T12:00:00Z")));   // 02:30 CEST
        Assert.Equal(Utc("2026-10-25T00:30:00Z"), nightly.NextAfter(Utc("2026-10-24T12:00:00Z")));   // 02:30 happens twice: once, the first
        Assert.Equal(Utc("2026-10-26T01:30:00Z"), nightly.NextAfter(Utc("2026-10-25T00:30:00Z")));   // not again at 02:30 CET
        Assert.Equal("cron '30 2 * * *' in Europe/Berlin", nightly.Describe());
    }

    [Fact]
    public void An_occurrence_id_is_a_valid_task_id_even_for_the_longest_name()
    {
        var at = Utc("2026-03-29T01:00:00.123Z");
        Assert.Equal("schedule:nightly:20260329T010000123Z", ScheduleSpec.OccurrenceId("nightly", at));

        var longest = ScheduleSpec.OccurrenceId(new string('n', DeferredSchedule.MaxNameLength), at);
        Assert.Null(DeferredTaskId.Validate(longest));
    }

    [Theory]
    [InlineData("61 * * * *")]
    [InlineData("not a cron")]
    [InlineData("* * * * * * * *")]
    [InlineData("0 0 30 2 *")]
    public void An_invalid_cron_expression_is_refused_naming_it(string expression)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => ScheduleSpec.Parse("nightly", DeferredSchedule.Cron(expression)));
        Assert.Contains(expression, error.Message, StringComparison.Ordinal);
        Assert.Contains("nightly", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_time_zone_is_refused_naming_it()
    {
        var error = Assert.Throws<ArgumentException>(() => DeferredSchedule.Cron("0 * * * *", "Mars/Olympus_Mons"));
        Assert.Contains("Mars/Olympus_Mons", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1_000)]
    [InlineData(500)]
    public void An_interval_below_a_second_is_refused_naming_it(int milliseconds)
    {
        var interval = TimeSpan.FromMilliseconds(milliseconds);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => DeferredSchedule.Every(interval));
        Assert.Contains(interval.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Equal("interval", error.ParamName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("colon:name")]
    [InlineData("x123456789x123456789x123456789x123456789x123456789x123456789x1234")]
    public void A_bad_name_is_refused_naming_it(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => ScheduleSpec.Parse(name, DeferredSchedule.Every(TimeSpan.FromMinutes(1))));
        Assert.Contains($"'{name}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Max_attempts_below_one_is_refused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ScheduleSpec.Parse("x", DeferredSchedule.Every(TimeSpan.FromMinutes(1)) with { MaxAttempts = 0 }));
        Assert.Contains("MaxAttempts is 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_stored_row_is_a_format_error()
    {
        Assert.Throws<FormatException>(() => ScheduleSpec.FromStored("61 * * * *", null, "UTC", "RunOnce"));
        Assert.Throws<FormatException>(() => ScheduleSpec.FromStored("0 * * * *", null, "Mars/Olympus_Mons", "RunOnce"));
        Assert.Throws<FormatException>(() => ScheduleSpec.FromStored(null, 0, "UTC", "RunOnce"));
        Assert.Throws<FormatException>(() => ScheduleSpec.FromStored(null, 60_000, "UTC", "Sometimes"));
    }
}

/// <summary>The missed-occurrence policy with made-up times.</summary>
public sealed class MissedScheduleOccurrenceTests
{
    private static readonly DateTimeOffset Ten = new(2026, 3, 1, 10, 0, 0, TimeSpan.Zero);

    private static ScheduleSpec EveryMinute(MissedOccurrences missed) =>
        ScheduleSpec.Parse("m", DeferredSchedule.Every(TimeSpan.FromMinutes(1)) with { Missed = missed });

    [Theory]
    [InlineData(MissedOccurrences.RunOnce)]
    [InlineData(MissedOccurrences.RunAll)]
    [InlineData(MissedOccurrences.Skip)]
    public void A_schedule_not_yet_due_runs_nothing_and_stays(MissedOccurrences missed)
    {
        var plan = MissedOccurrencePolicy.Plan(EveryMinute(missed), Ten, Ten.AddSeconds(-1));
        Assert.Empty(plan.Run);
        Assert.Equal(Ten, plan.NextAt);
    }

    [Theory]
    [InlineData(MissedOccurrences.RunOnce)]
    [InlineData(MissedOccurrences.RunAll)]
    [InlineData(MissedOccurrences.Skip)]
    public void An_occurrence_fired_on_time_runs_once_under_every_policy(MissedOccurrences missed)
    {
        var plan = MissedOccurrencePolicy.Plan(EveryMinute(missed), Ten, Ten.AddMilliseconds(200));
        Assert.Equal([Ten], plan.Run);
        Assert.Equal(0, plan.NotRun);
        Assert.Equal(Ten.AddMinutes(1), plan.NextAt);
    }

    [Fact]
    public void Run_once_collapses_missed_occurrences_into_the_latest()
    {
        var plan = MissedOccurrencePolicy.Plan(EveryMinute(MissedOccurrences.RunOnce), Ten, Ten.AddMinutes(5).AddSeconds(30));
        Assert.Equal([Ten.AddMinutes(5)], plan.Run);
        Assert.Equal(5, plan.NotRun);
        Assert.Equal(Ten.AddMinutes(6), plan.NextAt);
    }

    [Fact]
    public void Run_once_runs_each_tick_of_a_short_interval_when_the_loop_is_only_late()
    {
        // A 1-second schedule whose pass comes 1.5 s late (a GC pause, a slow commit): both ticks run, none is dropped.
        var everySecond = ScheduleSpec.Parse("s", DeferredSchedule.Every(TimeSpan.FromSeconds(1)));
        Assert.Equal(MissedOccurrences.RunOnce, everySecond.Missed);
        var late = MissedOccurrencePolicy.Plan(everySecond, Ten, Ten.AddMilliseconds(1_500));
        Assert.Equal([Ten, Ten.AddSeconds(1)], late.Run);
        Assert.Equal(0, late.NotRun);
        Assert.Equal(Ten.AddSeconds(2), late.NextAt);

        // Up to the grace period late, still each tick.
        var minuteLate = MissedOccurrencePolicy.Plan(everySecond, Ten, Ten + DeferredSchedule.SkipGracePeriod);
        Assert.Equal(61, minuteLate.Run.Count);
        Assert.Equal(0, minuteLate.NotRun);

        // Longer is an outage: the ticks collapse into one run, the latest, as for any interval.
        var outage = MissedOccurrencePolicy.Plan(everySecond, Ten, Ten.AddMinutes(2).AddMilliseconds(500));
        Assert.Equal([Ten.AddMinutes(2)], outage.Run);
        Assert.Equal(120, outage.NotRun);
        Assert.Equal(Ten.AddMinutes(2).AddSeconds(1), outage.NextAt);
    }

    [Fact]
    public void Run_all_runs_each_missed_occurrence_and_continues_past_its_cap_in_the_next_pass()
    {
        var now = Ten.AddMinutes(5).AddSeconds(30);
        var all = MissedOccurrencePolicy.Plan(EveryMinute(MissedOccurrences.RunAll), Ten, now);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => Ten.AddMinutes(i)), all.Run);
        Assert.Equal(Ten.AddMinutes(6), all.NextAt);

        var capped = MissedOccurrencePolicy.Plan(EveryMinute(MissedOccurrences.RunAll), Ten, now, cap: 4);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => Ten.AddMinutes(i)), capped.Run);
        Assert.Equal(Ten.AddMinutes(4), capped.NextAt);

        var rest = MissedOccurrencePolicy.Plan(EveryMinute(MissedOccurrences.RunAll), capped.NextAt, now, cap: 4);
        Assert.Equal([Ten.AddMinutes(4), Ten.AddMinutes(5)], rest.Run);
        Assert.Equal(Ten.AddMinutes(6), rest.NextAt);
    }

    [Fact]
    public void Skip_drops_occurrences_older_than_the_grace_period_and_runs_the_recent_ones()
    {
        var plan = MissedOccurrencePolicy.Plan(EveryMinute(MissedOccurrences.Skip), Ten, Ten.AddMinutes(5).AddSeconds(30));
        Assert.Equal([Ten.AddMinutes(5)], plan.Run);
        Assert.Equal(5, plan.NotRun);
        Assert.Equal(Ten.AddMinutes(6), plan.NextAt);

        var tenSeconds = ScheduleSpec.Parse("s", DeferredSchedule.Every(TimeSpan.FromSeconds(10)) with { Missed = MissedOccurrences.Skip });
        var late = MissedOccurrencePolicy.Plan(tenSeconds, Ten, Ten.AddSeconds(65));
        Assert.Equal(Enumerable.Range(1, 6).Select(i => Ten.AddSeconds(10 * i)), late.Run);
        Assert.Equal(1, late.NotRun);
        Assert.Equal(Ten.AddSeconds(70), late.NextAt);

        // Nothing in the last minute: every missed occurrence is skipped.
        var fiveMinutes = ScheduleSpec.Parse("f", DeferredSchedule.Every(TimeSpan.FromMinutes(5)) with { Missed = MissedOccurrences.Skip });
        var longAgo = MissedOccurrencePolicy.Plan(fiveMinutes, Ten, Ten.AddHours(3).AddSeconds(90));
        Assert.Empty(longAgo.Run);
        Assert.Equal(37, longAgo.NotRun);
        Assert.Equal(Ten.AddHours(3).AddMinutes(5), longAgo.NextAt);
    }

    [Fact]
    public void Policies_over_a_cron_schedule_with_a_time_zone_count_local_occurrences()
    {
        // Daily at 09:00 Berlin, missed for three days across the spring DST change (CET 08:00Z, then CEST 07:00Z).
        var daily = ScheduleSpec.Parse("d", DeferredSchedule.Cron("0 9 * * *", "Europe/Berlin") with { Missed = MissedOccurrences.RunAll });
        var first = new DateTimeOffset(2026, 3, 28, 8, 0, 0, TimeSpan.Zero);
        var now = new DateTimeOffset(2026, 3, 30, 12, 0, 0, TimeSpan.Zero);

        var all = MissedOccurrencePolicy.Plan(daily, first, now);
        Assert.Equal(
            [first, new DateTimeOffset(2026, 3, 29, 7, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 30, 7, 0, 0, TimeSpan.Zero)],
            all.Run);
        Assert.Equal(new DateTimeOffset(2026, 3, 31, 7, 0, 0, TimeSpan.Zero), all.NextAt);

        var once = ScheduleSpec.Parse("d", DeferredSchedule.Cron("0 9 * * *", "Europe/Berlin"));
        Assert.Equal([new DateTimeOffset(2026, 3, 30, 7, 0, 0, TimeSpan.Zero)], MissedOccurrencePolicy.Plan(once, first, now).Run);
    }
}
