using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Lifecycle;
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
    public Task<AttemptOutcome> RunAsync(string taskId, TaskRecord record, PreparedAttempt prepared, CancellationToken stopping, CancellationToken cancelled) =>
        InvokeAsync(taskId, record, prepared.Registration, prepared.Task, record.Attempts + 1, stopping, cancelled);

    private async Task<AttemptOutcome> InvokeAsync(string taskId, TaskRecord state, TaskRegistration registration, object task, int attempt, CancellationToken stopping, CancellationToken cancelled)
    {
        var context = new DeferredTaskContext(taskId, state.TaskType, attempt, state.MaxAttempts, state.EnqueuedAt, state.LastError);
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
        var handler = Task.Run(
            () =>
            {
                // In the attempt's own flow: the entries the enqueuing code carried, seen by filters and the handler.
                carried.Restore(state.RequestContext);
                return filters.InvokeAsync(scope.ServiceProvider, registration, task, context, token.Token);
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
        if (!handler.IsCompleted)
        {
            // It ignores its token. Stop waiting; dispose its scope whenever it does end, and observe its exception.
            DeferredLog.TaskAbandoned(logger, taskId, state.TaskType, _options.AbandonAfter.TotalSeconds);
            gate.TrackAbandoned(handler);
            _ = handler.ContinueWith(
                async t =>
                {
                    _ = t.Exception;
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

        if (handler.IsCompletedSuccessfully)
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

        activity?.SetStatus(ActivityStatusCode.Error, error.Type);
        activity?.AddException(failure);
        activity?.SetTag(OutcomeTag, timedOut.IsCancellationRequested ? "timed_out" : "failed");
        await using var policyScope = scopes.CreateAsyncScope();
        var decision = Decide(registration, policyScope.ServiceProvider, new DeferredTaskFailure(context, failure));
        var next = schedule.NextRun(attempt, state.MaxAttempts, decision, time.GetUtcNow());
        return new AttemptOutcome(AttemptResult.Failed, error, next, failure);
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
