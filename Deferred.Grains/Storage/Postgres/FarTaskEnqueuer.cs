using Deferred.Diagnostics;
using Deferred.Options;
using Deferred.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Storage.Postgres;

/// <summary>
/// With the default store, a task with a generated id that is due beyond <see cref="DeferredTasksOptions.TimerThreshold"/>
/// needs nothing from its grain until the due-time poller wakes it: it is just a row. Enqueued on a silo, such a task
/// is validated and serialized here and inserted straight into the store (batched like every other write), with
/// no grain activation. A generated id cannot have an activation yet, so no in-memory state can disagree with the
/// row. Caller-chosen ids, near tasks and enqueues from clients take the grain path.
/// </summary>
internal sealed class FarTaskEnqueuer(
    TaskTypeRegistry registry,
    Serializer serializer,
    IServiceProvider services,
    IOptions<DeferredTasksOptions> options,
    TimeProvider time,
    ILogger<FarTaskEnqueuer> logger)
{
    private readonly DeferredTasksOptions _options = options.Value;

    /// <summary>The new task's id, or null when this enqueue must go through the grain.</summary>
    public async Task<string?> TryEnqueueAsync(object task, DeferredTaskOptions? taskOptions, CancellationToken cancellationToken)
    {
        if (_options.Store != DeferredStore.Postgres || taskOptions is null || taskOptions.TaskId is not null)
        {
            return null;
        }

        var now = Timestamps.Microseconds(time.GetUtcNow());
        var runAt = taskOptions.RunAt ?? (taskOptions.Delay is { } delay ? now + delay : null);
        if (runAt is null || runAt.Value - now <= _options.TimerThreshold)
        {
            return null;
        }

        var registration = registry.Find(task.GetType())
            ?? throw new DeferredTaskTypeNotRegisteredException(task.GetType().FullName ?? task.GetType().Name);
        var state = new DeferredTaskState
        {
            TaskType = registration.Name,
            Payload = registration.Serialize(serializer, task),
            Status = DeferredTaskStatus.Pending,
            MaxAttempts = taskOptions.MaxAttempts ?? _options.DefaultMaxAttempts,
            EnqueuedAt = now,
            NextRunAt = Timestamps.Microseconds(runAt.Value),
        };
        var taskId = DeferredTaskId.NewId();
        // Resolved here, not injected: with the stock store selected the default store is never built.
        var store = services.GetRequiredService<PostgresTaskStore>();
        if (!await store.InsertNewAsync(taskId, state).WaitAsync(cancellationToken))
        {
            throw new InvalidOperationException($"The generated task id '{taskId}' is already stored; this should not happen.");
        }

        DeferredTelemetry.Enqueued.Add(1);
        DeferredLog.TaskStored(logger, taskId, state.TaskType, state.NextRunAt);
        return taskId;
    }
}
