using Microsoft.Extensions.Logging;

namespace Deferred.Diagnostics;

/// <summary>
/// Every log line Deferred writes, with stable event ids (1xxx task lifecycle, 2xxx recovery, 3xxx schema).
/// Payloads and connection strings are never logged.
/// </summary>
internal static partial class DeferredLog
{
    [LoggerMessage(1001, LogLevel.Debug, "Deferred task {TaskId} ({TaskType}) stored; first run at {RunAt:O}")]
    public static partial void TaskStored(ILogger logger, string taskId, string taskType, DateTimeOffset runAt);

    [LoggerMessage(1002, LogLevel.Debug, "Deferred task {TaskId} ({TaskType}) succeeded on attempt {Attempt}")]
    public static partial void TaskSucceeded(ILogger logger, string taskId, string taskType, int attempt);

    [LoggerMessage(1003, LogLevel.Warning, "Deferred task {TaskId} ({TaskType}) failed attempt {Attempt} of {MaxAttempts}; next attempt at {NextRunAt:O}")]
    public static partial void TaskFailed(ILogger logger, Exception exception, string taskId, string taskType, int attempt, int maxAttempts, DateTimeOffset nextRunAt);

    [LoggerMessage(1004, LogLevel.Error, "Deferred task {TaskId} ({TaskType}) is dead after {Attempts} attempt(s): {ErrorType}: {ErrorMessage}")]
    public static partial void TaskDead(ILogger logger, string taskId, string taskType, int attempts, string errorType, string errorMessage);

    [LoggerMessage(1005, LogLevel.Debug, "Deferred {Subject}: {Operation} found the store unreachable (try {Try}: {Reason}); retrying")]
    public static partial void StoreRetrying(ILogger logger, string subject, string operation, int @try, string reason);

    [LoggerMessage(1006, LogLevel.Error, "Deferred {Subject}: gave up on {Operation} after {WaitedMs} ms ({Window} window): {Reason}")]
    public static partial void StoreGaveUp(ILogger logger, string subject, string operation, string window, long waitedMs, string reason);

    [LoggerMessage(1007, LogLevel.Debug, "Deferred task {TaskId} waits for {RunAt:O} on a durable reminder")]
    public static partial void TaskParked(ILogger logger, string taskId, DateTimeOffset runAt);

    [LoggerMessage(1008, LogLevel.Warning, "Deferred task {TaskId}: unregistering its reminder failed; a later tick will find no task and retry")]
    public static partial void ReminderCleanupFailed(ILogger logger, Exception exception, string taskId);

    [LoggerMessage(1009, LogLevel.Warning, "Deferred task {TaskId} ({TaskType}) was found in flight after its silo went away ({Interruptions} time(s))")]
    public static partial void TaskInterrupted(ILogger logger, string taskId, string taskType, int interruptions);

    [LoggerMessage(1010, LogLevel.Warning, "Deferred task {TaskId} ({TaskType}) timed out after {TimeoutSeconds} s; its token was cancelled")]
    public static partial void TaskTimedOut(ILogger logger, string taskId, string taskType, double timeoutSeconds);

    [LoggerMessage(1011, LogLevel.Warning, "Deferred task {TaskId} ({TaskType}) did not return {AbandonSeconds} s after its token was cancelled; abandoned")]
    public static partial void TaskAbandoned(ILogger logger, string taskId, string taskType, double abandonSeconds);

    [LoggerMessage(1013, LogLevel.Information, "Deferred is stopping: {Running} attempt(s) running get {GraceSeconds} s to finish; no new attempt starts")]
    public static partial void ShutdownStarted(ILogger logger, int running, double graceSeconds);

    [LoggerMessage(1014, LogLevel.Information, "Deferred stopped cleanly: the {Running} running attempt(s) finished in the grace period")]
    public static partial void ShutdownDrained(ILogger logger, int running);

    [LoggerMessage(1015, LogLevel.Warning, "Deferred grace period over: cancelled {Cancelled} running attempt(s); {Abandoned} did not return; they stay stored and resume elsewhere")]
    public static partial void ShutdownCancelled(ILogger logger, int cancelled, int abandoned);

    [LoggerMessage(1016, LogLevel.Information, "Deferred released {Released} stored task(s) of this silo for adoption by the others")]
    public static partial void ShutdownReleased(ILogger logger, int released);

    [LoggerMessage(1017, LogLevel.Warning, "Deferred could not release this silo's tasks at shutdown; they are adopted as after a crash")]
    public static partial void ShutdownReleaseFailed(ILogger logger, Exception exception);

    [LoggerMessage(1018, LogLevel.Warning, "Deferred cannot reach its task store ({Reason}); operations wait and retry until it is back")]
    public static partial void StoreOutageStarted(ILogger logger, string reason);

    [LoggerMessage(1019, LogLevel.Information, "Deferred reaches its task store again after {OutageMs} ms")]
    public static partial void StoreOutageEnded(ILogger logger, long outageMs);

    [LoggerMessage(1020, LogLevel.Debug, "Deferred {Subject}: {Operation} found the row changed since it was read; re-reading")]
    public static partial void StoreConflict(ILogger logger, string subject, string operation);

    [LoggerMessage(1022, LogLevel.Debug, "Deferred task {TaskId} ({TaskType}) snoozed ({Snoozes} time(s)); next run at {NextRunAt:O}")]
    public static partial void TaskSnoozed(ILogger logger, string taskId, string taskType, int snoozes, DateTimeOffset nextRunAt);

    [LoggerMessage(1023, LogLevel.Debug, "Deferred task {TaskId}: its progress report could not be stored or cleared; the next report tries again, the sweep tidies a stale one")]
    public static partial void ProgressNotStored(ILogger logger, Exception exception, string taskId);

    [LoggerMessage(1021, LogLevel.Debug, "Deferred task {TaskId}: {Transition}")]
    public static partial void TaskTransition(ILogger logger, string taskId, Lifecycle.Transition transition);

    /// <summary>
    /// The log lines of an edge that is true now (the task grain's one apply path calls this): stored (1001), succeeded
    /// (1002), failed (1003, with the handler's exception), dead once stored (1004), and the transition at Debug (1021).
    /// </summary>
    public static void Applied(ILogger logger, string taskId, Lifecycle.Transition edge, bool stored, Exception? failure)
    {
        var record = edge.After ?? edge.Before;
        switch (edge.Edge)
        {
            case Lifecycle.Edge.Enqueue:
                TaskStored(logger, taskId, record!.TaskType, record.NextRunAt);
                break;
            case Lifecycle.Edge.Succeed or Lifecycle.Edge.Commit:
                TaskSucceeded(logger, taskId, record?.TaskType ?? "", (edge.Before?.Attempts ?? 0) + 1);
                break;
            case Lifecycle.Edge.Snooze:
                TaskSnoozed(logger, taskId, record!.TaskType, record.Snoozes, record.NextRunAt);
                break;
            case Lifecycle.Edge.Fail:
                TaskFailed(logger, failure!, taskId, record!.TaskType, record.Attempts, record.MaxAttempts, record.NextRunAt);
                break;
            case Lifecycle.Edge.GiveUp or Lifecycle.Edge.Unreadable or Lifecycle.Edge.Quarantine when stored:
                TaskDead(logger, taskId, record!.TaskType, record.Attempts, record.LastError?.Type ?? "", record.LastError?.Message ?? "");
                break;
        }

        TaskTransition(logger, taskId, edge);
    }

    [LoggerMessage(2001, LogLevel.Information, "Deferred recovery started: sweeping the store for pending and failed tasks whose silo is gone")]
    public static partial void RecoveryStarted(ILogger logger);

    [LoggerMessage(2002, LogLevel.Information, "Deferred recovery finished: adopted {Found} task(s) in {Pages} page(s), resumed {Resumed}, not resumable {Skipped}, errors {Errors}, in {ElapsedMs} ms")]
    public static partial void RecoveryFinished(ILogger logger, int found, int pages, int resumed, int skipped, int errors, long elapsedMs);

    [LoggerMessage(2003, LogLevel.Warning, "Deferred could not resume task {TaskId}; trying again in {RetryMs} ms")]
    public static partial void RecoveryResumeFailed(ILogger logger, Exception exception, string taskId, long retryMs);

    [LoggerMessage(2009, LogLevel.Information, "Deferred resumed task {TaskId} at try {Tries} after its resume had failed")]
    public static partial void ResumeRetried(ILogger logger, string taskId, int tries);

    [LoggerMessage(2010, LogLevel.Warning, "Deferred gave up resuming task {TaskId} after {Tries} tries; the stranded-task audit resumes it once it has been due for 30 s")]
    public static partial void ResumeGaveUp(ILogger logger, Exception exception, string taskId, int tries);

    [LoggerMessage(2004, LogLevel.Error, "Deferred recovery sweep failed; it starts over in {RetrySeconds} s")]
    public static partial void RecoveryFailed(ILogger logger, Exception exception, double retrySeconds);

    [LoggerMessage(2006, LogLevel.Information, "Deferred sweep adopted {Claimed} orphaned task(s) of {Owners} departed silo(s); resumed {Resumed} due now, in {ElapsedMs} ms")]
    public static partial void SweepAdopted(ILogger logger, int claimed, int owners, int resumed, long elapsedMs);

    [LoggerMessage(2007, LogLevel.Warning, "Deferred sweep failed; the next sweep tries again")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(2008, LogLevel.Warning, "Deferred found {Count} task(s) of this silo due but held by no activation; resumed them")]
    public static partial void StrandedResumed(ILogger logger, int count);

    [LoggerMessage(2011, LogLevel.Warning, "Deferred {Loop} pass failed; it tries again in {RetrySeconds} s")]
    public static partial void LoopPassFailed(ILogger logger, Exception exception, string loop, double retrySeconds);

    [LoggerMessage(2005, LogLevel.Warning, "Deferred due-time poll failed; the next poll covers the same window")]
    public static partial void DuePollFailed(ILogger logger, Exception exception);

    [LoggerMessage(3004, LogLevel.Warning, "The Deferred database schema is at version {Version}, newer than this build's {Latest}: a newer build has migrated it (a rolling upgrade?). The newer migrations are all marked additive, so this silo runs; upgrade it to the newer build")]
    public static partial void SchemaAhead(ILogger logger, int version, int latest);

    [LoggerMessage(3005, LogLevel.Warning, "HostOptions.ShutdownTimeout is {ShutdownSeconds} s, shorter than DeferredOptions.ShutdownGracePeriod ({GraceSeconds} s) plus AbandonAfter ({AbandonSeconds} s): a stop is cut off before running attempts are drained. Raise HostOptions.ShutdownTimeout (services.Configure<HostOptions>(o => o.ShutdownTimeout = ...)) or lower the two")]
    public static partial void ShutdownTimeoutTooShort(ILogger logger, double shutdownSeconds, double graceSeconds, double abandonSeconds);

    [LoggerMessage(3001, LogLevel.Information, "Deferred schema is at version {Version}")]
    public static partial void SchemaReady(ILogger logger, int version);

    [LoggerMessage(3002, LogLevel.Information, "Applied Deferred migration {Version} ({Name}) in {ElapsedMs} ms")]
    public static partial void MigrationApplied(ILogger logger, int version, string name, long elapsedMs);
}
