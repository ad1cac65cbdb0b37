namespace Deferred.Operations;

/// <summary>
/// <see cref="IDeferredTaskOperator"/> for silos and clients: reads and bulk actions through <see cref="IOperatorGrain"/>
/// (a stateless worker on the silos, next to the store), per-task actions on the task's own grain.
/// </summary>
internal sealed class DeferredTaskOperator(IGrainFactory grains) : IDeferredTaskOperator
{
    private IOperatorGrain Operator => grains.GetGrain<IOperatorGrain>(0);

    public Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        // Checked here too, so a bad query fails in the caller's process with its parameter name intact.
        Storage.TaskListing.Validate(query);
        _ = Storage.TaskListing.Decode(query.Filter, query.PageToken);
        return Operator.ListAsync(query).WaitAsync(cancellationToken);
    }

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync(CancellationToken cancellationToken = default) =>
        Operator.CountAsync().WaitAsync(cancellationToken);

    public Task<DeferredTaskDetails?> ShowAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).GetDetailsAsync(), cancellationToken);

    public Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).CancelAsync(), cancellationToken);

    public Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).RetryDeadAsync(), cancellationToken);

    public Task<int> RetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return Operator.RetryDeadAsync(filter).WaitAsync(cancellationToken);
    }

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).DeleteAsync(), cancellationToken);

    public Task<int> PurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) =>
        Operator.PurgeDeadAsync(olderThan).WaitAsync(cancellationToken);

    public Task<IReadOnlyList<DeferredScheduleInfo>> ListSchedulesAsync(CancellationToken cancellationToken = default) =>
        Schedules.ListAsync().WaitAsync(cancellationToken);

    public Task<bool> PauseScheduleAsync(string name, CancellationToken cancellationToken = default)
    {
        Scheduling.ScheduleSpec.ThrowIfBadName(name);
        return Schedules.PauseAsync(name).WaitAsync(cancellationToken);
    }

    public Task<bool> ResumeScheduleAsync(string name, CancellationToken cancellationToken = default)
    {
        Scheduling.ScheduleSpec.ThrowIfBadName(name);
        return Schedules.ResumeAsync(name).WaitAsync(cancellationToken);
    }

    public Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken = default)
    {
        Scheduling.ScheduleSpec.ThrowIfBadName(name);
        return Schedules.RemoveAsync(name).WaitAsync(cancellationToken);
    }

    private Scheduling.IScheduleGrain Schedules => grains.GetGrain<Scheduling.IScheduleGrain>(0);

    /// <summary>
    /// A task's grain that cannot load its row (the store is down) fails in activation, which Orleans reports as an
    /// <see cref="OrleansException"/> around the storage's <see cref="DeferredStoreUnavailableException"/>; callers get
    /// the typed exception itself, as they do from an active grain.
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

    private IDeferredTaskGrain Task(string taskId)
    {
        if (DeferredTaskId.Validate(taskId) is { } problem)
        {
            throw new ArgumentException($"Task id {DeferredTaskId.Quoted(taskId)} is not valid: {problem}.", nameof(taskId));
        }

        return grains.GetGrain<IDeferredTaskGrain>(taskId);
    }
}
