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
