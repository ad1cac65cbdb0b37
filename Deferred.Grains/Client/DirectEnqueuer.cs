using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Client;

/// <summary>
/// On a silo whose store can insert rows without an activation (<see cref="IDeferredTaskStore.DirectInsert"/>), a task
/// with a generated id that is due beyond <see cref="DeferredOptions.TimerThreshold"/> needs nothing from its grain
/// until the far wake-up brings it: it is just a row. Such an enqueue is validated and serialized here and inserted
/// straight into the store (batched like every other write). A generated id cannot have an activation yet, so no
/// in-memory state can disagree with the row. Caller-chosen ids, near tasks and enqueues from clients take the grain path.
/// </summary>
internal sealed class DirectEnqueuer(
    IDeferredTaskStore store,
    NewTaskFactory factory,
    StoreResilience resilience,
    IOptions<DeferredOptions> options,
    SiloIdentity silo,
    TimeProvider time,
    ILogger<DirectEnqueuer> logger)
{
    private readonly DeferredOptions _options = options.Value;

    /// <summary>The stored task, or null when this enqueue must go through the grain.</summary>
    public async Task<DeferredEnqueueResult?> TryEnqueueAsync(object task, DeferredEnqueueOptions? taskOptions, TraceCarrier? trace, CancellationToken cancellationToken)
    {
        if (store.DirectInsert is not { } inserter || taskOptions is null || taskOptions.TaskId is not null || (taskOptions.RunAt is null && taskOptions.Delay is null))
        {
            return null;
        }

        var now = Timestamps.Microseconds(time.GetUtcNow());
        var runAt = TaskLifecycle.FirstRun(taskOptions.RunAt, taskOptions.Delay, now);
        if (runAt - now <= _options.TimerThreshold)
        {
            return null;
        }

        var record = NewTaskFactory.Record(factory.Create(task, taskOptions, trace, now), silo.Owner, now);
        var taskId = DeferredTaskId.NewId();

        // A try that finds the id taken found the row of an earlier try that committed after reporting an error.
        // An insert that commits after the window is harmless: the row is this silo's, and its poller wakes it.
        var tries = 0;
        var inserted = false;
        var result = await resilience.RunAsync(
            StoreWindow.Enqueue,
            taskId,
            "enqueue",
            async () =>
            {
                tries++;
                inserted = await inserter.InsertAsync(taskId, record) || tries > 1;
            },
            cancellationToken);
        result.ThrowUnlessApplied(taskId);

        if (!inserted)
        {
            throw new InvalidOperationException($"The generated task id '{taskId}' is already stored; this should not happen.");
        }

        DeferredTelemetry.Count(DeferredTelemetry.Enqueued, record.TaskType);
        DeferredLog.TaskStored(logger, taskId, record.TaskType, record.NextRunAt);
        return new DeferredEnqueueResult(record.ToInfo(taskId, false), Created: true);
    }
}
