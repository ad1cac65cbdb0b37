using Microsoft.Extensions.Logging;

namespace Deferred.Diagnostics;

/// <summary>The log lines of schedules (periodic tasks): event ids 5001–5099.</summary>
internal static partial class DeferredLog
{
    [LoggerMessage(5001, LogLevel.Information, "Deferred schedule {Name} ({Spec}, task {TaskType}) {Outcome}; next occurrence {NextAt:O}")]
    public static partial void ScheduleRegistered(ILogger logger, string name, string spec, string taskType, string outcome, DateTimeOffset nextAt);

    [LoggerMessage(5002, LogLevel.Debug, "Deferred schedule {Name} enqueued {Count} occurrence(s), the last at {LastOccurrence:O} ({Existing} stored already); next occurrence {NextAt:O}")]
    public static partial void ScheduleFired(ILogger logger, string name, int count, DateTimeOffset? lastOccurrence, int existing, DateTimeOffset nextAt);

    [LoggerMessage(5003, LogLevel.Information, "Deferred schedule {Name} did not run {NotRun} missed occurrence(s) ({Policy}); next occurrence {NextAt:O}")]
    public static partial void ScheduleMissed(ILogger logger, string name, int notRun, MissedOccurrences policy, DateTimeOffset nextAt);

    [LoggerMessage(5004, LogLevel.Error, "Deferred schedule {Name}: the factory of its task threw; the occurrence at {Occurrence:O} is skipped")]
    public static partial void ScheduleFactoryFailed(ILogger logger, Exception exception, string name, DateTimeOffset occurrence);

    [LoggerMessage(5005, LogLevel.Error, "Deferred schedule {Name} is paused: its stored definition cannot be read ({Reason}); fix or remove it")]
    public static partial void ScheduleUnreadable(ILogger logger, string name, string reason);

    [LoggerMessage(5006, LogLevel.Warning, "Deferred scheduler pass failed; it tries again in {RetrySeconds} s")]
    public static partial void SchedulerFailed(ILogger logger, Exception exception, double retrySeconds);

    [LoggerMessage(5007, LogLevel.Information, "Deferred schedule {Name} {Change} by an operator or app code")]
    public static partial void ScheduleChanged(ILogger logger, string name, string change);
}
