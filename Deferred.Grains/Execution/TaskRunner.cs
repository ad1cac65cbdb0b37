using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Lifecycle;
using Deferred.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Execution;

/// <summary>A task ready to run: its registration and the deserialized task object.</summary>
internal sealed record PreparedAttempt(TaskRegistration Registration, object Task);

/// <summary>
/// The executor: runs one attempt of a task and returns what it came to, without touching storage or the grain. The
/// caller (the task grain) holds the attempt's <see cref="ExecutionGate.Reservation"/> and records the outcome.
/// <see cref="Prepare"/> resolves the registration and deserializes the payload; <see cref="RunAsync"/> calls the
/// handler off the grain scheduler in a fresh DI scope under its timeout, and on failure asks the retry policy
/// when the next attempt runs (the executor decides, the grain writes).
/// </summary>
internal sealed class TaskRunner(
    TaskTypeRegistry registry,
    Serializer serializer,
    IServiceScopeFactory scopes,
    ExecutionGate gate,
    RetrySchedule schedule,
    TaskFilters filters,
    CarriedRequestContext carried,
    TimeProvider time,
    ErrorFormatter errors,
    Storage.IDeferredTaskStore store,
    AttemptProgress progress,
    IOptions<DeferredOptions> options,
    ILogger<TaskRunner> logger)
{
    private readonly Storage.Resilience.CoarseDeadlines _deadlines = new(time);

    /// <summary>The name of an attempt's span.</summary>
    public const string AttemptSpanName = "deferred.task.process";

    private const string OutcomeTag = "deferred.task.outcome";

    private readonly DeferredOptions _options = options.Value;

    /// <summary>The task ready to run, or the <see cref="AttemptResult.Unreadable"/> outcome that makes it dead.</summary>
    public (PreparedAttempt? Prepared, AttemptOutcome? Unreadable) Prepare(TaskRecord record)
    {
        var attempt = record.Attempts + 1;
        if (registry.Find(record.TaskType) is not { } registration)
        {
            return (null, Unreadable(DeferredErrorTypes.UnknownTaskType, $"No handler is registered on this silo for task type '{record.TaskType}'. Register one, then retry the dead task.", attempt));
        }

        try
        {
            return (new PreparedAttempt(registration, registration.Deserialize(serializer, record.Payload)), null);
        }
        catch (Exception ex)
        {
            return (null, Unreadable(DeferredErrorTypes.CorruptPayload, $"The stored task of type '{record.TaskType}' could not be deserialized: {ex.GetType().Name}: {ex.Message}", attempt));
        }
    }

    /// <summary>
    /// Runs the handler for one attempt; the caller holds an execution slot. <paramref name="stopping"/> is cancelled
    /// when the activation goes away.
    /// </summary>
    /// <remarks><paramref name="cancelled"/> is an operator's cancel: the handler's token is signalled and the attempt ends as interrupted.</remarks>
    /// <remarks>
    /// A transactional handler runs in a transaction of the store; when it returns, the task's end is committed with its
    /// writes (<paramref name="version"/>: the row's version the attempt ran from; <paramref name="limit"/>: the lease given
    /// back in that transaction).
    /// </remarks>
    public Task<AttemptOutcome> RunAsync(string taskId, TaskRecord record, string? version, PreparedAttempt prepared, ConcurrencyLimits.LimitHold? limit, CancellationToken stopping, CancellationToken cancelled) =>
        InvokeAsync(taskId, record, version, prepared.Registration, prepared.Task, limit, record.Attempts + 1, stopping, cancelled);

    private async Task<AttemptOutcome> InvokeAsync(string taskId, TaskRecord state, string? version, TaskRegistration registration, object task, ConcurrencyLimits.LimitHold? limit, int attempt, CancellationToken stopping, CancellationToken cancelled)
    {
        var context = new DeferredTaskContext(taskId, state.TaskType, attempt, state.MaxAttempts, state.EnqueuedAt, state.LastError) { Snoozes = state.Snoozes, ProgressSink = progress };
        // A consumer span in the enqueuer's trace (every attempt, however late, is a child of the enqueue's span).
        using var activity = TraceContext.StartAttempt(AttemptSpanName, state.TraceParent, state.TraceState, state.Baggage);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("deferred.task.id", taskId);
            activity.SetTag(DeferredTelemetry.TaskTypeTag, state.TaskType);
            activity.SetTag("deferred.task.attempt", attempt);
        }

        DeferredTelemetry.Count(DeferredTelemetry.Started, state.TaskType);
        DeferredTelemetry.Record(DeferredTelemetry.QueueWait, Math.Max(0, (time.GetUtcNow() - state.NextRunAt).TotalSeconds), state.TaskType);
        var timeout = registration.Timeout ?? _options.DefaultTaskTimeout;
        // A timeout token shared by the attempts whose timeouts end in the same 50 ms: no timer per attempt (each took
        // the runtime's timer-queue lock twice, contended at thousands of attempts a second).
        // A longer timeout (rare) keeps a timer of its own, disposed with the attempt.
        using var ownTimeout = timeout > Storage.Resilience.CoarseDeadlines.MaxShared ? new CancellationTokenSource(timeout, time) : null;
        var timedOut = ownTimeout?.Token ?? _deadlines.After(timeout);
        using var token = CancellationTokenSource.CreateLinkedTokenSource(stopping, gate.RunningCancelled, timedOut, cancelled);
        var started = time.GetTimestamp();
        var scope = scopes.CreateAsyncScope();

        // Off the grain scheduler: user code cannot touch the activation, and a handler that blocks a
        // thread does not hold up the grain's interleaved calls (GetAsync answers while it runs).
        var handler = registration.Transactional
            ? Task.Run(
                () =>
                {
                    carried.Restore(state.RequestContext);
                    return InTransactionAsync(scope.ServiceProvider, registration, task, context, token.Token);
                },
                CancellationToken.None)
            : Task.Run(
                () =>
                {
                    // In the attempt's own flow: the entries the enqueuing code carried, seen by filters and the handler.
                    carried.Restore(state.RequestContext);
                    return filters.InvokeAsync(scope.ServiceProvider, registration, task, context, null, token.Token);
                },
                CancellationToken.None);
        try
        {
            await handler.WaitAsync(token.Token);
        }
        catch
        {
            // The outcome is read from the handler's task below.
        }

        if (!handler.IsCompleted)
        {
            // Cancelled (timeout or shutdown) and still running: give it a moment to honour its token.
            try
            {
                await handler.WaitAsync(_options.AbandonAfter, time, CancellationToken.None);
            }
            catch
            {
                // Read below.
            }
        }

        var elapsed = time.GetElapsedTime(started);

        // The attempt's progress ends with it (a handler abandoned below that still reports is not heard any more).
        progress.End(context);

        // Read once: a handler abandoned here is never reported (nor committed) as its own, even if it ends a moment later.
        var finished = handler.IsCompleted;
        if (!finished)
        {
            // It ignores its token. Stop waiting; dispose its scope whenever it does end, and observe its exception.
            DeferredLog.TaskAbandoned(logger, taskId, state.TaskType, _options.AbandonAfter.TotalSeconds);
            gate.TrackAbandoned(handler);
            _ = handler.ContinueWith(
                async t =>
                {
                    _ = t.Exception;
                    if (t is Task<IAttemptTransaction> { IsCompletedSuccessfully: true } late)
                    {
                        // Never committed: rolled back, the connection returned to the pool.
                        await late.Result.DisposeAsync();
                    }

                    await scope.DisposeAsync();
                },
                CancellationToken.None,
                TaskContinuationOptions.None,
                TaskScheduler.Default);
        }
        else
        {
            await scope.DisposeAsync();
        }

        if (finished && handler is Task<IAttemptTransaction> { IsCompletedSuccessfully: true } inTransaction)
        {
            // Its own method: the common path's state machine does not carry the commit's locals.
            return await CommitAsync(taskId, state, version, registration, context, inTransaction.Result, limit, activity, started, attempt);
        }

        if (finished && handler.IsCompletedSuccessfully)
        {
            DeferredTelemetry.Record(DeferredTelemetry.AttemptDuration, elapsed.TotalSeconds, state.TaskType);
            activity?.SetTag(OutcomeTag, "succeeded");
            return AttemptOutcome.Succeeded;
        }

        if (cancelled.IsCancellationRequested && !timedOut.IsCancellationRequested)
        {
            // An operator's cancel: the grain removes the task whatever the handler did.
            activity?.SetTag(OutcomeTag, "cancelled");
            return AttemptOutcome.Cancelled;
        }

        if ((stopping.IsCancellationRequested || gate.RunningCancelled.IsCancellationRequested) && !timedOut.IsCancellationRequested)
        {
            // Shutdown, not a failure of the task: the grain leaves the row for another silo or the next start.
            return AttemptOutcome.Stopping;
        }

        DeferredTelemetry.Record(DeferredTelemetry.AttemptDuration, elapsed.TotalSeconds, state.TaskType);
        Exception failure;
        DeferredTaskError error;
        if (finished && !timedOut.IsCancellationRequested && handler.Exception?.InnerException is DeferredSnoozeException snooze)
        {
            if (state.Snoozes < _options.MaxSnoozes)
            {
                activity?.SetTag(OutcomeTag, "snoozed");
                return new AttemptOutcome(AttemptResult.Snoozed, RetryAt: snooze.RunAt(time.GetUtcNow()));
            }

            // The snooze beyond the limit: a failure like any other, so a task cannot snooze forever.
            failure = new InvalidOperationException($"The handler snoozed the task once more than DeferredOptions.MaxSnoozes ({_options.MaxSnoozes}) allows; this counts as a failed attempt.", snooze);
            error = errors.From(failure, attempt) with { Type = DeferredErrorTypes.SnoozeLimit };
            return await FailedAsync(registration, context, failure, error, giveUp: false, activity, "failed", attempt, state.MaxAttempts);
        }

        if (timedOut.IsCancellationRequested)
        {
            DeferredLog.TaskTimedOut(logger, taskId, state.TaskType, timeout.TotalSeconds);
            failure = new TimeoutException($"The attempt ran longer than its timeout of {timeout} and was cancelled.");
            error = errors.From(failure, attempt) with { Type = DeferredErrorTypes.Timeout };
        }
        else
        {
            failure = handler.Exception?.InnerException ?? new InvalidOperationException("The handler's task was cancelled.");
            error = errors.From(failure, attempt);
        }

        return await FailedAsync(registration, context, failure, error, giveUp: false, activity, timedOut.IsCancellationRequested ? "timed_out" : "failed", attempt, state.MaxAttempts);
    }

    // A transactional handler returned: the task's end is committed with its writes, and the result says what came of it.
    private async Task<AttemptOutcome> CommitAsync(string taskId, TaskRecord state, string? version, TaskRegistration registration, DeferredTaskContext context, IAttemptTransaction transaction, ConcurrencyLimits.LimitHold? limit, Activity? activity, long started, int attempt)
    {
        AttemptCommit commit;
        await using (transaction)
        {
            commit = version is null
                ? new(AttemptCommitResult.Superseded)
                : await transaction.CompleteAsync(new AttemptEnd(taskId, version, state.TaskType, limit?.Slot));
        }

        Exception failure;
        DeferredTaskError error;
        var giveUp = false;
        switch (commit.Result)
        {
            case AttemptCommitResult.Committed:
                limit?.SlotReleasedInStore();
                DeferredTelemetry.Record(DeferredTelemetry.AttemptDuration, time.GetElapsedTime(started).TotalSeconds, state.TaskType);
                activity?.SetTag(OutcomeTag, "succeeded");
                return AttemptOutcome.Committed;
            case AttemptCommitResult.Superseded:
                activity?.SetTag(OutcomeTag, "superseded");
                return AttemptOutcome.Superseded;
            case AttemptCommitResult.Ended:
                // Whatever the handler committed stays committed: a retry could repeat it. Dead at once, for an operator.
                failure = new InvalidOperationException("The transactional handler committed or rolled back the transaction it was given; Deferred commits it with the task's completion. Return without ending it.");
                error = errors.From(failure, attempt) with { Type = DeferredErrorTypes.TransactionEnded };
                giveUp = true;
                break;
            default:
                failure = new InvalidOperationException($"The handler returned, but its transaction did not commit ({commit.Error?.GetType().Name}: {commit.Error?.Message}); nothing of the attempt is stored.", commit.Error);
                error = errors.From(failure, attempt) with { Type = DeferredErrorTypes.CommitFailed };
                break;
        }

        DeferredTelemetry.Record(DeferredTelemetry.AttemptDuration, time.GetElapsedTime(started).TotalSeconds, state.TaskType);
        return await FailedAsync(registration, context, failure, error, giveUp, activity, "failed", attempt, state.MaxAttempts);
    }

    // A failed attempt: the retry policy says when the next runs (none when it gives up, or when giveUp).
    private async Task<AttemptOutcome> FailedAsync(TaskRegistration registration, DeferredTaskContext context, Exception failure, DeferredTaskError error, bool giveUp, Activity? activity, string outcome, int attempt, int maxAttempts)
    {
        activity?.SetStatus(ActivityStatusCode.Error, error.Type);
        activity?.AddException(failure);
        activity?.SetTag(OutcomeTag, outcome);
        if (giveUp)
        {
            return new AttemptOutcome(AttemptResult.Failed, error, null, failure);
        }

        await using var policyScope = scopes.CreateAsyncScope();
        var decision = Decide(registration, policyScope.ServiceProvider, new DeferredTaskFailure(context, failure));
        var next = schedule.NextRun(attempt, maxAttempts, decision, time.GetUtcNow());
        return new AttemptOutcome(AttemptResult.Failed, error, next, failure);
    }

    // A transactional handler's attempt: begins the store's transaction, runs the filters and the handler in it, and hands
    // the open transaction back for the commit. Rolled back (disposed) when the handler throws.
    private async Task<IAttemptTransaction> InTransactionAsync(IServiceProvider scope, TaskRegistration registration, object task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        var transactions = store.Transactions
            ?? throw new NotSupportedException($"Task type '{registration.Name}' has a transactional handler, which the '{store.Name}' store does not support; use the default store (Postgres).");
        var transaction = await transactions.BeginAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await filters.InvokeAsync(scope, registration, task, context, transaction.Transaction, cancellationToken).ConfigureAwait(false);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static RetryDecision Decide(TaskRegistration registration, IServiceProvider scope, DeferredTaskFailure failure)
    {
        try
        {
            return registration.Decide(scope, failure);
        }
        catch (Exception)
        {
            // A broken policy must not lose the task: fall back to the default schedule.
            return RetryDecision.Default;
        }
    }

    private AttemptOutcome Unreadable(string type, string message, int attempt) =>
        new(AttemptResult.Unreadable, new DeferredTaskError { Type = type, Message = message, Attempt = attempt, At = time.GetUtcNow() }, null, null);
}
