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
    SiloIdentity silo,
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
            Owner = silo.Owner,
        };
        var taskId = DeferredTaskId.NewId();
        // Resolved here, not injected: with the stock store selected the default store is never built.
        var store = services.GetRequiredService<PostgresTaskStore>();
        if (!await InsertWithinTimeoutAsync(store, taskId, state, cancellationToken))
        {
            throw new InvalidOperationException($"The generated task id '{taskId}' is already stored; this should not happen.");
        }

        DeferredTelemetry.Enqueued.Add(1);
        DeferredLog.TaskStored(logger, taskId, state.TaskType, state.NextRunAt);
        return taskId;
    }

    /// <summary>
    /// The insert, retried while the store is unreachable for up to <see cref="DeferredTasksOptions.EnqueueTimeout"/>.
    /// An insert that commits after the timeout is harmless: the row is this silo's, and its due-time poller wakes it.
    /// </summary>
    private async Task<bool> InsertWithinTimeoutAsync(PostgresTaskStore store, string taskId, DeferredTaskState state, CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        var deadline = started + _options.EnqueueTimeout;
        var delay = TimeSpan.FromMilliseconds(50);
        var retried = false;
        while (true)
        {
            Exception failure;
            try
            {
                var left = deadline - time.GetUtcNow();
                var inserted = await store.InsertNewAsync(taskId, state).WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, time, cancellationToken);

                // A retry that finds the id taken found the row of an earlier try that committed after all.
                return inserted || retried;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && (ex is TimeoutException || StoreFailures.IsUnavailable(ex)))
            {
                // Only an unreachable store is retried; any other error is the caller's to see as it is.
                failure = ex;
            }

            if (failure is TimeoutException || time.GetUtcNow() + delay >= deadline)
            {
                var waited = time.GetUtcNow() - started;
                DeferredLog.EnqueueUnavailable(logger, failure, taskId, (long)waited.TotalMilliseconds);
                throw new DeferredStoreUnavailableException(taskId, waited, $"{failure.GetType().Name}: {failure.Message}");
            }

            retried = true;
            await Task.Delay(delay, time, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }
}
