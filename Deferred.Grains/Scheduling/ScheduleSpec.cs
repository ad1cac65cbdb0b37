using System.Globalization;
using Cronos;

namespace Deferred.Scheduling;

/// <summary>
/// A checked schedule: its parsed cron expression (Cronos) and time zone, or its interval, and the occurrence
/// arithmetic over them. Pure: no clock, no I/O. Built from a <see cref="DeferredSchedule"/> at the boundary
/// (<see cref="Parse"/>, which throws an <see cref="ArgumentException"/> naming the schedule and the bad value) or from a
/// stored row (<see cref="FromStored"/>).
/// </summary>
internal sealed class ScheduleSpec
{
    /// <summary>The time zone id stored for UTC and for every interval schedule.</summary>
    public const string Utc = "UTC";

    // Occurrences of a cron expression that never fires again (say, 30 February) are put this far away.
    private static readonly DateTimeOffset Never = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

    private readonly CronExpression? _cron;
    private readonly long _intervalTicks;

    private ScheduleSpec(string? cron, CronExpression? parsed, long? intervalMs, string timeZoneId, TimeZoneInfo zone, MissedOccurrences missed)
    {
        Cron = cron;
        _cron = parsed;
        IntervalMs = intervalMs;
        _intervalTicks = (intervalMs ?? 0) * TimeSpan.TicksPerMillisecond;
        TimeZoneId = timeZoneId;
        Zone = zone;
        Missed = missed;
    }

    /// <summary>The cron expression as given, or null.</summary>
    public string? Cron { get; }

    /// <summary>The interval in milliseconds, or null.</summary>
    public long? IntervalMs { get; }

    /// <summary>The time zone id as given (<see cref="Utc"/> by default and for intervals).</summary>
    public string TimeZoneId { get; }

    /// <summary>The time zone.</summary>
    public TimeZoneInfo Zone { get; }

    /// <summary>The missed-occurrence policy.</summary>
    public MissedOccurrences Missed { get; }

    /// <summary>The timing as text, for the operator: <c>cron '0 9 * * 1-5' in Europe/Berlin</c> or <c>every 00:05:00</c>.</summary>
    public string Describe() =>
        Cron is { } cron
            ? $"cron '{cron}' in {TimeZoneId}"
            : $"every {TimeSpan.FromMilliseconds(IntervalMs!.Value).ToString("c", CultureInfo.InvariantCulture)}";

    /// <summary>
    /// The definition as one line of text, stored with the schedule to tell a changed definition from an unchanged
    /// one: the timing, the policy, the attempts and the task type.
    /// </summary>
    public string Definition(string taskType, int maxAttempts) =>
        string.Create(CultureInfo.InvariantCulture, $"{Describe()}; missed {Missed}; attempts {maxAttempts}; task {taskType}");

    /// <summary>Checks <paramref name="schedule"/> for the schedule <paramref name="name"/>; throws naming the bad value.</summary>
    /// <exception cref="ArgumentException">The name, the cron expression, the time zone, the interval or the attempts are bad.</exception>
    public static ScheduleSpec Parse(string name, DeferredSchedule schedule)
    {
        ThrowIfBadName(name);
        ArgumentNullException.ThrowIfNull(schedule);
        if (schedule.MaxAttempts is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(schedule), schedule.MaxAttempts, $"Schedule '{name}': MaxAttempts is {schedule.MaxAttempts}; it must be at least 1.");
        }

        if (!Enum.IsDefined(schedule.Missed))
        {
            throw new ArgumentOutOfRangeException(nameof(schedule), schedule.Missed, $"Schedule '{name}': Missed is {(int)schedule.Missed}, which is not a MissedOccurrences value.");
        }

        if (schedule.CronExpression is { } expression)
        {
            TimeZoneInfo zone;
            try
            {
                zone = schedule.TimeZone is { } id ? DeferredSchedule.FindTimeZone(id) : TimeZoneInfo.Utc;
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"Schedule '{name}': {ex.Message}", nameof(schedule), ex);
            }

            CronExpression parsed;
            try
            {
                parsed = ParseCron(expression);
            }
            catch (CronFormatException ex)
            {
                throw new ArgumentException(
                    $"Schedule '{name}': the cron expression '{expression}' is not valid ({ex.Message}). Use 5 fields (minute hour day month weekday) or 6 with seconds first.",
                    nameof(schedule),
                    ex);
            }

            var spec = new ScheduleSpec(expression, parsed, null, schedule.TimeZone ?? Utc, zone, schedule.Missed);
            if (parsed.GetNextOccurrence(DateTimeOffset.UtcNow, zone) is null)
            {
                throw new ArgumentException($"Schedule '{name}': the cron expression '{expression}' never occurs.", nameof(schedule));
            }

            return spec;
        }

        if (schedule.Interval is { } interval)
        {
            if (DeferredSchedule.IntervalProblem(interval) is { } problem)
            {
                throw new ArgumentOutOfRangeException(nameof(schedule), interval, $"Schedule '{name}': {problem}");
            }

            return new ScheduleSpec(null, null, (long)interval.TotalMilliseconds, Utc, TimeZoneInfo.Utc, schedule.Missed);
        }

        throw new ArgumentException($"Schedule '{name}' has neither a cron expression nor an interval; create it with DeferredSchedule.Cron or DeferredSchedule.Every.", nameof(schedule));
    }

    /// <summary>Throws an <see cref="ArgumentException"/> when <paramref name="name"/> is not a valid schedule name.</summary>
    public static void ThrowIfBadName(string? name)
    {
        if (DeferredSchedule.ValidateName(name) is { } problem)
        {
            throw new ArgumentException($"Schedule name '{name}' is not valid: {problem}.", nameof(name));
        }
    }

    /// <summary>Reads a stored schedule's timing; throws <see cref="FormatException"/> when the row cannot be read.</summary>
    public static ScheduleSpec FromStored(string? cron, long? intervalMs, string timeZone, string missed)
    {
        if (!Enum.TryParse<MissedOccurrences>(missed, out var policy) || !Enum.IsDefined(policy))
        {
            throw new FormatException($"the stored missed-occurrence policy '{missed}' is not known");
        }

        try
        {
            if (cron is not null)
            {
                var zone = timeZone == Utc ? TimeZoneInfo.Utc : DeferredSchedule.FindTimeZone(timeZone);
                return new ScheduleSpec(cron, ParseCron(cron), null, timeZone, zone, policy);
            }
        }
        catch (Exception ex) when (ex is CronFormatException or ArgumentException)
        {
            throw new FormatException(ex.Message, ex);
        }

        return intervalMs >= (long)DeferredSchedule.MinInterval.TotalMilliseconds
            ? new ScheduleSpec(null, null, intervalMs, Utc, TimeZoneInfo.Utc, policy)
            : throw new FormatException($"the stored interval {intervalMs} ms is not valid");
    }

    /// <summary>The task id of the occurrence at <paramref name="occurrence"/>: <c>schedule:{name}:{yyyyMMddTHHmmssfffZ}</c>.</summary>
    public static string OccurrenceId(string name, DateTimeOffset occurrence) =>
        string.Create(CultureInfo.InvariantCulture, $"schedule:{name}:{occurrence.UtcDateTime:yyyyMMdd'T'HHmmssfff'Z'}");

    /// <summary>The first occurrence strictly after <paramref name="time"/>.</summary>
    public DateTimeOffset NextAfter(DateTimeOffset time)
    {
        if (_cron is not null)
        {
            return _cron.GetNextOccurrence(time.ToUniversalTime(), Zone, inclusive: false)?.ToUniversalTime() ?? Never;
        }

        // Whole multiples of the interval since the Unix epoch (floored for times before it).
        var since = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var steps = since >= 0 ? since / _intervalTicks : -((-since + _intervalTicks - 1) / _intervalTicks);
        return DateTimeOffset.UnixEpoch.AddTicks((steps + 1) * _intervalTicks);
    }

    /// <summary>The last occurrence at or before <paramref name="time"/>, or null when there is none.</summary>
    public DateTimeOffset? LatestAtOrBefore(DateTimeOffset time)
    {
        if (_cron is not null)
        {
            return _cron.GetPreviousOccurrence(time.ToUniversalTime(), Zone, inclusive: true)?.ToUniversalTime();
        }

        return NextAfter(time).AddTicks(-_intervalTicks);
    }

    private static CronExpression ParseCron(string expression)
    {
        // Six fields start with seconds; anything else (five fields, or a macro such as @daily) is the standard format.
        var fields = expression.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        return CronExpression.Parse(expression, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }
}
