using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Retry;
using Deferred.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Runtime;

/// <summary>The result of one attempt.</summary>
internal enum AttemptResult
{
    /// <summary>The handler returned.</summary>
    Succeeded,

    /// <summary>The handler threw or timed out; <see cref="AttemptOutcome.NextRunAt"/> says whether it retries.</summary>
    Failed,

    /// <summary>The task could not be turned back into an object; it never reached a handler.</summary>
    Unreadable,

    /// <summary>No handler was started: the silo is stopping, or the in-flight marker could not be stored.</summary>
    NotStarted,

    /// <summary>The silo stopped while the handler ran; the attempt neither succeeded nor failed.</summary>
    Interrupted,
}

/// <summary>What happened in one attempt and what should happen next.</summary>
internal sealed record AttemptOutcome(AttemptResult Result, DeferredTaskError? Error, DateTimeOffset? NextRunAt, Exception? Exception)
{
    public static readonly AttemptOutcome NotStarted = new(AttemptResult.NotStarted, null, null, null);

    public static readonly AttemptOutcome Interrupted = new(AttemptResult.Interrupted, null, null, null);
}

/// <summary>
/// Runs one attempt of a task outside the grain's scheduler: resolves the registration, deserializes the
/// payload, waits for an execution slot, lets the grain store its in-flight marker, calls the handler in a fresh DI
/// scope under its timeout, and on failure asks the retry policy what comes next. It never touches storage
/// itself; the grain records the outcome.
/// </summary>
internal sealed class TaskRunner(
    TaskTypeRegistry registry,
    Serializer serializer,
    IServiceScopeFactory scopes,
    ExecutionGate gate,
    RetrySchedule schedule,
    TimeProvider time,
    ErrorFormatter errors,
    IOptions<DeferredTasksOptions> options,
    ILogger<TaskRunner> logger)
{
    private readonly DeferredTasksOptions _options = options.Value;

    /// <summary>
    /// Runs an attempt the caller has already announced to the <see cref="ExecutionGate"/>. <paramref name="beforeStart"/>
    /// runs once a start permit is held, before the attempt waits for its slot; when it returns false the handler is
    /// not started. An attempt that stored its marker and then finds the silo stopping is NotStarted too.
    /// <paramref name="stopping"/> is cancelled when the activation goes away.
    /// </summary>
    public async Task<AttemptOutcome> RunAnnouncedAsync(string taskId, DeferredTaskState state, Func<Task<bool>> beforeStart, CancellationToken stopping)
    {
        var attempt = state.Attempts + 1;
        var registration = registry.Find(state.TaskType);
        if (registration is null)
        {
            gate.Withdraw();
            return Unreadable(DeferredErrorTypes.UnknownTaskType, $"No handler is registered on this silo for task type '{state.TaskType}'. Register one, then retry the dead task.", attempt);
        }

        object task;
        try
        {
            task = registration.Deserialize(serializer, state.Payload);
        }
        catch (Exception ex)
        {
            gate.Withdraw();
            return Unreadable(DeferredErrorTypes.CorruptPayload, $"The stored task of type '{state.TaskType}' could not be deserialized: {ex.GetType().Name}: {ex.Message}", attempt);
        }

        ExecutionGate.Permit permit;
        try
        {
            permit = await gate.StartAnnouncedAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return AttemptOutcome.NotStarted;
        }

        // The marker is stored holding a start permit, not a slot: the round trip overlaps running attempts.
        bool marked;
        try
        {
            marked = await beforeStart();
        }
        catch
        {
            permit.Abandon();
            throw;
        }

        if (!marked)
        {
            permit.Abandon();
            return AttemptOutcome.NotStarted;
        }

        ExecutionGate.Slot slot;
        try
        {
            slot = await gate.EnterAsync(permit, stopping);
        }
        catch (OperationCanceledException)
        {
            return AttemptOutcome.NotStarted;
        }

        using (slot)
        {
            return await InvokeAsync(taskId, state, registration, task, attempt, stopping);
        }
    }

    private async Task<AttemptOutcome> InvokeAsync(string taskId, DeferredTaskState state, TaskRegistration registration, object task, int attempt, CancellationToken stopping)
    {
        var context = new DeferredTaskContext(taskId, state.TaskType, attempt, state.MaxAttempts, state.EnqueuedAt, state.LastError);
        using var activity = DeferredTelemetry.ActivitySource.StartActivity("deferred.task.execute", ActivityKind.Consumer);
        activity?.SetTag("deferred.task.id", taskId);
        activity?.SetTag("deferred.task.type", state.TaskType);
        activity?.SetTag("deferred.task.attempt", attempt);
        var timeout = registration.Timeout ?? _options.DefaultTaskTimeout;
        using var timedOut = new CancellationTokenSource(timeout, time);
        using var token = CancellationTokenSource.CreateLinkedTokenSource(stopping, gate.RunningCancelled, timedOut.Token);
        var started = time.GetTimestamp();
        var scope = scopes.CreateAsyncScope();

        // Off the grain scheduler: user code cannot touch the activation, and a handler that blocks a
        // thread does not hold up the grain's interleaved calls (GetAsync answers while it runs).
        var handler = Task.Run(() => registration.InvokeAsync(scope.ServiceProvider, task, context, token.Token), CancellationToken.None);
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
            DeferredTelemetry.AttemptDuration.Record(elapsed.TotalMilliseconds);
            return new AttemptOutcome(AttemptResult.Succeeded, null, null, null);
        }

        if ((stopping.IsCancellationRequested || gate.RunningCancelled.IsCancellationRequested) && !timedOut.IsCancellationRequested)
        {
            // Shutdown, not a failure of the task: the grain leaves the row for another silo or the next start.
            return AttemptOutcome.Interrupted;
        }

        DeferredTelemetry.AttemptDuration.Record(elapsed.TotalMilliseconds);
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
