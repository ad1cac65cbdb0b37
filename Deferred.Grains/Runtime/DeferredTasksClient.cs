namespace Deferred.Runtime;

/// <summary>
/// <see cref="IDeferredTasks"/> over the task grain. Validates input before any call, so bad input fails here
/// with a message naming the bad value and nothing is sent or stored.
/// </summary>
internal sealed class DeferredTasksClient(IGrainFactory grains, Storage.FreshTaskIds? freshIds = null, Storage.Postgres.FarTaskEnqueuer? far = null) : IDeferredTasks
{
    public async Task<string> EnqueueAsync<TTask>(TTask task, DeferredTaskOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (task is null)
        {
            throw new ArgumentNullException(nameof(task), "The task to enqueue is null.");
        }

        DeferredTaskOptionsValidation.ThrowIfInvalid(options);
        if (far is not null && await far.TryEnqueueAsync(task, options, cancellationToken) is { } farId)
        {
            return farId;
        }

        string taskId;
        if (options?.TaskId is { } chosen)
        {
            taskId = chosen;
        }
        else
        {
            taskId = DeferredTaskId.NewId();

            // On a silo: tell the local store this id is new, so the activation need not read it.
            freshIds?.Add(taskId);
        }

        var request = new DeferredEnqueueRequest { Task = task, Options = options };
        var result = await Unwrapped(Grain(taskId).EnqueueAsync(request), cancellationToken);
        return result.Info.TaskId;
    }

    public Task<DeferredTaskInfo?> GetAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).GetInfoAsync(), cancellationToken);

    public Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).RetryDeadAsync(), cancellationToken);

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).DeleteAsync(), cancellationToken);

    /// <summary>
    /// When the task's activation could not load its row, Orleans reports the storage error wrapped in an
    /// <see cref="OrleansException"/>; callers get the <see cref="DeferredStoreUnavailableException"/> itself.
    /// </summary>
    private static async Task<T> Unwrapped<T>(Task<T> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call.WaitAsync(cancellationToken);
        }
        catch (OrleansException ex) when (ex.InnerException is DeferredStoreUnavailableException unavailable)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unavailable);
            throw;
        }
    }

    private IDeferredTaskGrain Grain(string taskId)
    {
        if (DeferredTaskId.Validate(taskId) is { } problem)
        {
            throw new ArgumentException($"Task id '{taskId}' is not valid: {problem}.", nameof(taskId));
        }

        return grains.GetGrain<IDeferredTaskGrain>(taskId);
    }
}
