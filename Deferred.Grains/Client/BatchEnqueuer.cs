using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Client;

/// <summary>
/// Stores a batch of new tasks in one commit on this silo (all or nothing), then wakes the ones due soon. Every item
/// is checked and serialized before anything is written, so a bad item fails the call naming its index.
/// </summary>
internal sealed class BatchEnqueuer(
    IDeferredTaskStore store,
    NewTaskFactory factory,
    StoreResilience resilience,
    TaskResumer resumer,
    IOptions<DeferredOptions> options,
    SiloIdentity silo,
    TimeProvider time,
    CarriedRequestContext carried)
{
    private readonly DeferredOptions _options = options.Value;

    public async Task<IReadOnlyList<string>> EnqueueAsync(BatchRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var inserter = store.DirectInsert
            ?? throw new NotSupportedException(
                $"EnqueueManyAsync needs a store that commits many tasks in one transaction; the {store.Name} store cannot. " +
                "Use the Postgres store (Deferred:Store = Postgres), or enqueue the tasks one by one.");
        BatchChecks.ThrowIfInvalid(request.Tasks, request.Options);
        var now = Timestamps.Microseconds(time.GetUtcNow());
        var trace = request.TraceParent is { } parent ? new TraceCarrier(parent, request.TraceState, request.Baggage) : null;
        var context = carried.Capture();
        var rows = new (string TaskId, TaskRecord Record)[request.Tasks.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var newTask = factory.Create(request.Tasks[i], request.Options, trace, now, index: i, requestContext: context);
            rows[i] = (DeferredTaskId.NewId(), NewTaskFactory.Record(newTask, silo.Owner, now));
        }

        var result = await resilience.RunAsync(StoreWindow.Enqueue, rows[0].TaskId, $"batch of {rows.Length}", () => inserter.InsertManyAsync(rows));
        result.ThrowUnlessApplied(rows[0].TaskId);

        foreach (var (_, record) in rows)
        {
            DeferredTelemetry.Count(DeferredTelemetry.Enqueued, record.TaskType);
        }

        var ids = Array.ConvertAll(rows, r => r.TaskId);
        if (rows.Length > 0 && rows[0].Record.NextRunAt - now <= _options.TimerThreshold)
        {
            // Acknowledged once committed; the wake-ups follow in the background. A silo that dies first leaves rows it
            // owns, which the sweep (or, while it lives, the stranded-task audit) resumes.
            _ = Task.Run(() => resumer.ResumeAsync(ids, recovery: false, CancellationToken.None));
        }

        return ids;
    }
}

/// <summary>The checks of a batch enqueue, made where it is called and again on the silo.</summary>
internal static class BatchChecks
{
    public static void ThrowIfInvalid(IReadOnlyList<object?> tasks, DeferredEnqueueOptions? options)
    {
        if (tasks.Count > IDeferredTasks.MaxBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(tasks), tasks.Count, $"The batch holds {tasks.Count} tasks; at most {IDeferredTasks.MaxBatchSize} go in one call.");
        }

        for (var i = 0; i < tasks.Count; i++)
        {
            if (tasks[i] is null)
            {
                throw new ArgumentException($"tasks[{i}] is null; every task of a batch must be an object.", nameof(tasks));
            }
        }

        DeferredEnqueueOptionsValidation.ThrowIfInvalid(options);
        if (options?.TaskId is not null)
        {
            throw new ArgumentException("DeferredEnqueueOptions.TaskId is set for a batch; every task of a batch gets a generated id.", nameof(options));
        }
    }
}
