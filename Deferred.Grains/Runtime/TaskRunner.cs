using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Retry;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Deferred.Runtime;

/// <summary>The result of one attempt.</summary>
internal enum AttemptResult
{
    /// <summary>The handler returned.</summary>
    Succeeded,

    /// <summary>The handler threw; <see cref="AttemptOutcome.NextRunAt"/> says whether it retries.</summary>
    Failed,

    /// <summary>The task could not be turned back into an object; it never reached a handler.</summary>
    Unreadable,
}

/// <summary>What happened in one attempt and what should happen next.</summary>
internal sealed record AttemptOutcome(AttemptResult Result, DeferredTaskError? Error, DateTimeOffset? NextRunAt, Exception? Exception);

/// <summary>
/// Runs one attempt of a task outside the grain's scheduler: resolves the registration, deserializes the
/// payload, waits for an execution slot, calls the handler in a fresh DI scope, and on failure asks the retry
/// policy what comes next. It never touches storage; the grain records the outcome.
/// </summary>
internal sealed class TaskRunner(
    TaskTypeRegistry registry,
    Serializer serializer,
    IServiceScopeFactory scopes,
    ExecutionGate gate,
    RetrySchedule schedule,
    TimeProvider time,
    ErrorFormatter errors)
{
    /// <summary>Runs an attempt the caller has already announced to the <see cref="ExecutionGate"/>.</summary>
    public async Task<AttemptOutcome> RunAnnouncedAsync(string taskId, DeferredTaskState state, CancellationToken cancellationToken)
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

        using var slot = await gate.EnterAnnouncedAsync(cancellationToken);
        var context = new DeferredTaskContext(taskId, state.TaskType, attempt, state.MaxAttempts, state.EnqueuedAt, state.LastError);
        using var activity = DeferredTelemetry.ActivitySource.StartActivity("deferred.task.execute", ActivityKind.Consumer);
        activity?.SetTag("deferred.task.id", taskId);
        activity?.SetTag("deferred.task.type", state.TaskType);
        activity?.SetTag("deferred.task.attempt", attempt);
        var started = time.GetTimestamp();
        await using var scope = scopes.CreateAsyncScope();
        try
        {
            // Off the grain scheduler: user code cannot touch the activation, and a handler that blocks a
            // thread does not hold up the grain's interleaved calls (GetAsync answers while it runs).
            await Task.Run(() => registration.InvokeAsync(scope.ServiceProvider, task, context, cancellationToken), CancellationToken.None);
            DeferredTelemetry.AttemptDuration.Record(time.GetElapsedTime(started).TotalMilliseconds);
            return new AttemptOutcome(AttemptResult.Succeeded, null, null, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown, not a failure of the task: the caller leaves the row as it was.
            throw;
        }
        catch (Exception ex)
        {
            DeferredTelemetry.AttemptDuration.Record(time.GetElapsedTime(started).TotalMilliseconds);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().FullName);
            var decision = Decide(registration, scope.ServiceProvider, new DeferredTaskFailure(context, ex));
            var next = schedule.NextRun(attempt, state.MaxAttempts, decision, time.GetUtcNow());
            return new AttemptOutcome(AttemptResult.Failed, errors.From(ex, attempt), next, ex);
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
