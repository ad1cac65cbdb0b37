namespace Deferred;

/// <summary>
/// Thrown by an enqueue whose <see cref="DeferredEnqueueOptions.TaskId"/> is already stored with a different task (another
/// task type, or the same type with different contents). Nothing is stored or changed: the id stands for the task
/// first stored under it, until that task completes and its row is deleted.
/// </summary>
[GenerateSerializer, Alias("deferred.task-id-conflict.v1")]
public sealed class DeferredTaskIdConflictException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="taskId">The id.</param>
    /// <param name="storedType">The task type stored under it.</param>
    /// <param name="enqueuedType">The task type of the refused enqueue.</param>
    public DeferredTaskIdConflictException(string taskId, string storedType, string enqueuedType)
        : base(storedType == enqueuedType
            ? $"Task id '{taskId}' is already stored for a different '{storedType}' task (other contents); nothing was stored. Use a new TaskId, or wait until the stored task completes."
            : $"Task id '{taskId}' is already stored for a task of type '{storedType}', not '{enqueuedType}'; nothing was stored. Use a new TaskId, or wait until the stored task completes.")
    {
        TaskId = taskId;
    }

    /// <summary>The id that is taken.</summary>
    [Id(0)] public string TaskId { get; }
}

/// <summary>
/// Thrown by <see cref="IDeferredTasks.EnqueueAsync{TTask}"/> on a silo that is not yet able to run tasks: it is
/// called before the silo became active (for example from an <c>IHostedService.StartAsync</c> registered before
/// <c>UseOrleans</c>). Nothing is stored. Enqueue once the host has started (<c>IHostApplicationLifetime.ApplicationStarted</c>,
/// or a <c>BackgroundService.ExecuteAsync</c>), or register the hosted service after <c>UseOrleans</c>.
/// </summary>
[GenerateSerializer, Alias("deferred.not-ready.v1")]
public sealed class DeferredNotReadyException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is not ready and when it will be.</param>
    public DeferredNotReadyException(string message)
        : base(message)
    {
    }
}

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

    /// <summary>Creates the exception for the item of a batch at <paramref name="index"/>.</summary>
    internal DeferredTaskTypeNotRegisteredException(string taskType, int index)
        : base($"tasks[{index}]: no deferred task handler is registered for task type '{taskType}', so nothing of the batch was stored. Register one on the silo with services.AddDeferredTaskHandler<{taskType}, YourHandler>().")
    {
        TaskType = taskType;
    }

    /// <summary>The task type that has no handler.</summary>
    [Id(0)] public string TaskType { get; }
}

/// <summary>
/// Thrown by <see cref="IDeferredTasks"/> calls (above all <see cref="IDeferredTasks.EnqueueAsync{TTask}"/>) when the
/// task store could not be reached within the silo's enqueue timeout (<c>DeferredOptions.EnqueueTimeout</c>),
/// and by an enqueue from an Orleans client that got no answer from the cluster within that timeout plus one second
/// (its gateway crashed, say). An enqueue that throws it is not acknowledged. The task may still have been stored, so
/// retry with the same <see cref="DeferredEnqueueOptions.TaskId"/> (<see cref="TaskId"/> holds the id the enqueue
/// generated, if it did) to make the retry idempotent.
/// </summary>
[GenerateSerializer, Alias("deferred.store-unavailable.v1")]
public sealed class DeferredStoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="taskId">The task the call was about.</param>
    /// <param name="waited">How long the silo tried.</param>
    /// <remarks>
    /// The message is one sentence, safe to show to an app's own callers: no connection details, no nested errors.
    /// The cause is logged on the silo.
    /// </remarks>
    public DeferredStoreUnavailableException(string taskId, TimeSpan waited)
        : base($"Deferred could not reach its task store for {waited.TotalSeconds:0.#} s, so the call for task '{taskId}' was not acknowledged; retry it (an enqueue with the same TaskId is stored at most once).")
    {
        TaskId = taskId;
    }

    /// <summary>Creates the exception for an operator's call about no single task: a list, a count, a bulk action.</summary>
    /// <param name="message">What could not be done and what to do, in one sentence with no connection details.</param>
    /// <remarks><see cref="TaskId"/> is empty.</remarks>
    public DeferredStoreUnavailableException(string message)
        : base(message)
    {
        TaskId = "";
    }

    /// <summary>The enqueue got no answer from the cluster within <paramref name="waited"/> (an Orleans client's bound).</summary>
    internal DeferredStoreUnavailableException(string taskId, TimeSpan waited, bool noAnswer)
        : base(noAnswer
            ? $"Deferred got no answer from the cluster within {waited.TotalSeconds:0.#} s (its gateway may have crashed), so the enqueue of task '{taskId}' was not acknowledged; it may still have been stored: retry it with the same TaskId (stored at most once)."
            : $"Deferred could not reach its task store for {waited.TotalSeconds:0.#} s, so the call for task '{taskId}' was not acknowledged; retry it (an enqueue with the same TaskId is stored at most once).")
    {
        TaskId = taskId;
    }

    /// <summary>The id the task would have had; empty for a call about no single task (a list, a count, a bulk action).</summary>
    [Id(0)] public string TaskId { get; }
}
