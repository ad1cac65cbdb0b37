using Deferred.Storage.Resilience;

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

    public Task<bool> RunNowAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).RunNowAsync(), cancellationToken);

    public async Task<int> RetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default) =>
        await RunToEndAsync(await PrepareRetryDeadAsync(filter, cancellationToken), cancellationToken);

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Task(taskId).DeleteAsync(), cancellationToken);

    public async Task<int> PurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) =>
        await RunToEndAsync(await PreparePurgeDeadAsync(olderThan, cancellationToken), cancellationToken);

    public Task<DeferredBulkAction> PrepareRetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var dead = filter with { Status = DeferredTaskStatus.Dead };

        // Checked here too, so a bad filter fails in the caller's process with its parameter name intact.
        Storage.TaskListing.Validate(dead);
        return NewBulkAction().PrepareAsync(DeferredBulkActionKind.RetryDead, dead).WaitAsync(cancellationToken);
    }

    public Task<DeferredBulkAction> PreparePurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) =>
        NewBulkAction().PrepareAsync(DeferredBulkActionKind.PurgeDead, new DeferredTaskFilter { Status = DeferredTaskStatus.Dead, DueBefore = olderThan })
            .WaitAsync(cancellationToken);

    public Task<DeferredBulkAction?> StartBulkActionAsync(string actionId, CancellationToken cancellationToken = default) =>
        BulkAction(actionId).StartAsync().WaitAsync(cancellationToken);

    public Task<DeferredBulkAction?> GetBulkActionAsync(string actionId, CancellationToken cancellationToken = default) =>
        BulkAction(actionId).GetAsync().WaitAsync(cancellationToken);

    public Task<DeferredBulkAction?> CancelBulkActionAsync(string actionId, CancellationToken cancellationToken = default) =>
        BulkAction(actionId).CancelAsync().WaitAsync(cancellationToken);

    /// <summary>
    /// Starts a prepared action and watches it to its end; cancels it when <paramref name="cancellationToken"/> is
    /// cancelled (then throws <see cref="OperationCanceledException"/>). Returns how many tasks it changed.
    /// </summary>
    private async Task<int> RunToEndAsync(DeferredBulkAction prepared, CancellationToken cancellationToken)
    {
        var action = BulkAction(prepared.Id);
        var state = await action.StartAsync() ?? throw Lost(prepared.Id);
        var poll = TimeSpan.FromMilliseconds(50);
        try
        {
            while (!state.IsFinished)
            {
                await System.Threading.Tasks.Task.Delay(poll, cancellationToken);
                poll = TimeSpan.FromTicks(Math.Min(poll.Ticks * 2, BulkPollLimit.Ticks));
                state = await action.GetAsync().WaitAsync(cancellationToken) ?? throw Lost(prepared.Id);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await action.CancelAsync();
            throw;
        }

        return state.Done;
    }

    private static readonly TimeSpan BulkPollLimit = TimeSpan.FromSeconds(1);

    private static InvalidOperationException Lost(string actionId) => new(
        $"Bulk action '{actionId}' is no longer held by any silo (its silo stopped): the tasks it reached stay changed; list what is still dead and act again.");

    private IBulkActionGrain NewBulkAction() => grains.GetGrain<IBulkActionGrain>(Guid.NewGuid().ToString("N"));

    private IBulkActionGrain BulkAction(string actionId)
    {
        if (!Guid.TryParseExact(actionId, "N", out _))
        {
            throw new ArgumentException(
                $"Bulk action id '{(actionId is { Length: > 64 } ? actionId[..64] + "…" : actionId)}' is malformed: it is 32 hexadecimal digits, as prepared.", nameof(actionId));
        }

        return grains.GetGrain<IBulkActionGrain>(actionId.ToLowerInvariant());
    }

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

    private static Task<T> Unwrapped<T>(Task<T> call, CancellationToken cancellationToken) => StoreFailures.UnwrapActivationFailureAsync(call, cancellationToken);

    private IDeferredTaskGrain Task(string taskId)
    {
        if (DeferredTaskId.Validate(taskId) is { } problem)
        {
            throw new ArgumentException($"Task id {DeferredTaskId.Quoted(taskId)} is not valid: {problem}.", nameof(taskId));
        }

        return grains.GetGrain<IDeferredTaskGrain>(taskId);
    }
}
