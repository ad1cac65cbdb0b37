using Deferred.Execution;
using Deferred.Lifecycle;
using Orleans.Serialization;

namespace Deferred.TaskGrain;

/// <summary>The enqueue boundary of the task grain: validation, serialization, and the idempotency check.</summary>
internal static class EnqueueRequests
{
    /// <summary>
    /// Validates <paramref name="request"/> for the task <paramref name="taskId"/> and serializes its task; throws an
    /// exception naming the bad value, before anything is stored.
    /// </summary>
    public static NewTask Validate(string taskId, DeferredEnqueueRequest request, NewTaskFactory factory, DateTimeOffset now, Storage.IDeferredTaskStore store)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Task is null)
        {
            throw new ArgumentNullException(nameof(request), "DeferredEnqueueRequest.Task is null; enqueue a task object.");
        }

        DeferredEnqueueOptionsValidation.ThrowIfInvalid(request.Options);
        if (DeferredTaskId.Validate(taskId) is { } idProblem)
        {
            throw new ArgumentException($"Task id {DeferredTaskId.Quoted(taskId)} is not valid: {idProblem}.", nameof(request));
        }

        if (request.Options?.TaskId is { } requestedId && requestedId != taskId)
        {
            throw new ArgumentException($"DeferredEnqueueOptions.TaskId {DeferredTaskId.Quoted(requestedId)} does not match the grain key '{taskId}'.", nameof(request));
        }

        ThrowIfUnordered(request.Options, store);
        var trace = request.TraceParent is { } parent ? new TraceCarrier(parent, request.TraceState, request.Baggage) : null;
        return factory.Create(request.Task, request.Options, trace, now);
    }

    /// <summary>The answer to an enqueue of a caller's id whose task completed at <paramref name="completedAt"/>, within the retention.</summary>
    public static DeferredEnqueueResult Completed(string taskId, NewTask requested, DateTimeOffset completedAt) =>
        new(new DeferredTaskInfo
        {
            TaskId = taskId,
            TaskType = requested.TaskType,
            Status = DeferredTaskStatus.Completed,
            MaxAttempts = requested.MaxAttempts,
            CompletedAt = completedAt,
        }, Created: false);

    /// <summary>Refuses a keyed task on a store that cannot order tasks, naming the key and the store.</summary>
    public static void ThrowIfUnordered(DeferredEnqueueOptions? options, Storage.IDeferredTaskStore store)
    {
        if (options?.OrderingKey is { } key && store.OrderingKeys is null)
        {
            throw new NotSupportedException($"DeferredEnqueueOptions.OrderingKey '{key}' needs a store that orders tasks; the '{store.Name}' store does not (it keeps tasks as JSON without an index by key). Use the default store (UseDeferredPostgresStore), or enqueue without an ordering key.");
        }
    }

    /// <summary>
    /// The answer to an enqueue of an id that is already stored: the stored task, not created by this call; or
    /// <see cref="DeferredTaskIdConflictException"/> when the stored task is a different one (type or contents).
    /// </summary>
    public static DeferredEnqueueResult Existing(string taskId, TaskRecord stored, NewTask requested, bool running)
    {
        if (stored.TaskType != requested.TaskType || !stored.Payload.AsSpan().SequenceEqual(requested.Payload))
        {
            throw new DeferredTaskIdConflictException(taskId, stored.TaskType, requested.TaskType);
        }

        return new DeferredEnqueueResult(stored.ToInfo(taskId, running), Created: false);
    }
}
