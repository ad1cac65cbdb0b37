namespace Deferred;

/// <summary>Thrown when a task is enqueued whose type has no handler registered on the silo.</summary>
[GenerateSerializer, Alias("deferred.type-not-registered.v1")]
public sealed class DeferredTaskTypeNotRegisteredException : Exception
{
    /// <summary>Creates the exception for a task type.</summary>
    /// <param name="taskType">The task's type name.</param>
    public DeferredTaskTypeNotRegisteredException(string taskType)
        : base($"No deferred task handler is registered for task type '{taskType}'. Register one on the silo with services.AddDeferredTaskHandler<{taskType}, YourHandler>().")
    {
        TaskType = taskType;
    }

    /// <summary>The task type that has no handler.</summary>
    [Id(0)] public string TaskType { get; }
}

/// <summary>
/// Thrown by <see cref="IDeferredTasks"/> calls (above all <see cref="IDeferredTasks.EnqueueAsync{TTask}"/>) when the
/// task store could not be reached within the silo's enqueue timeout (<c>DeferredTasksOptions.EnqueueTimeout</c>).
/// An enqueue that throws it is not acknowledged. The store may still have committed the task just before the
/// timeout, so retry with the same <see cref="DeferredTaskOptions.TaskId"/> to make the retry idempotent.
/// </summary>
[GenerateSerializer, Alias("deferred.store-unavailable.v1")]
public sealed class DeferredStoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="taskId">The id the task would have had.</param>
    /// <param name="waited">How long the silo tried.</param>
    /// <param name="reason">The last storage error, without connection details.</param>
    public DeferredStoreUnavailableException(string taskId, TimeSpan waited, string reason)
        : base($"Deferred task '{taskId}': the task store was unreachable for {waited.TotalSeconds:0.#} s ({reason}); the call did not take effect (an enqueue is not acknowledged). Retry it; give an enqueue the same TaskId to make the retry idempotent.")
    {
        TaskId = taskId;
    }

    /// <summary>The id the task would have had.</summary>
    [Id(0)] public string TaskId { get; }
}
