using Deferred.Diagnostics;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Wakeups;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Serialization.Invocation;

namespace Deferred.TaskGrain;

/// <summary>
/// One deferred task: the Orleans shell around its decider, <see cref="TaskActivation"/>. Each method is lock → decide →
/// unlock; the shell owns only what needs Orleans (the attributes, the lock, the one timer, the reminder, calls to
/// other grains) and carries out what the decider asks through <see cref="ITaskShell"/>.
/// See <c>docs/architecture.md</c> for the path of a task and <c>docs/semantics.md</c> for where it can run twice.
/// </summary>
/// <remarks>
/// An attempt runs inside the timer's callback, which does not interleave. Every call that can reach a running task
/// interleaves (the interfaces' <c>[AlwaysInterleave]</c>, and <see cref="ReminderTickInterleaves"/> for reminder ticks)
/// and is answered without the lock when the task is already in hand (a read, a repeated enqueue, a cancel of a running
/// attempt, a resume or adopt of a task that runs or is scheduled). Everything that writes holds <see cref="_lock"/>, so
/// one write at a time keeps the ETag consistent.
/// </remarks>
// The SemaphoreSlim never allocates a wait handle (only WaitAsync is used), so there is nothing to dispose.
#pragma warning disable CA1001
[PreferLocalPlacement]
[MayInterleave(nameof(ReminderTickInterleaves))]
internal sealed class DeferredTaskGrain(
    [PersistentState(TaskRecord.StateName, TaskStorage.ProviderName)] IPersistentState<TaskRecord> state,
    TaskGrainContext c) : Grain, IDeferredTaskGrain, IRecoverableTask, IPurgeableTask, IRemindable, ITaskShell
{
    internal const string ReminderName = "deferred-wake";

    private readonly SemaphoreSlim _lock = new(1, 1);
    private TaskActivation _task = null!;
    private IGrainTimer? _timer;

    // Which arming the pending timer callback belongs to: a callback of a timer since replaced or cancelled is dropped.
    private int _timerGeneration;

    private string TaskId => this.GetPrimaryKeyString();

    // Already in hand: an attempt runs, a wake-up is armed, or another call holds the lock (each ends by scheduling the
    // task, or by leaving it to another silo on purpose). A resume or a reminder tick then answers at once: waiting for
    // the lock could mean waiting out an attempt.
    private bool InHand => _task.Busy || _task.HasTimer || _lock.CurrentCount == 0;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _task = new TaskActivation(TaskId, new StoredTask(state, c.Resilience, TaskId), c, this);
        return ActivateAsync(cancellationToken);
    }

    // The call that brings the activation up is still to come, so the activation is not let go here.
    private async Task ActivateAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        using (Holding(letGo: false))
        {
            await _task.ActivateAsync();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _task.Deactivate();
        return Task.CompletedTask;
    }

    public Task<DeferredEnqueueResult> EnqueueAsync(DeferredEnqueueRequest request)
    {
        var task = EnqueueRequests.Validate(TaskId, request, c.NewTasks, c.Now, c.Store);
        return _task.AnswerRepeatedEnqueue(task) is { } answered ? Task.FromResult(answered) : EnqueueLockedAsync(task);
    }

    private async Task<DeferredEnqueueResult> EnqueueLockedAsync(NewTask task)
    {
        await _lock.WaitAsync();
        using (Holding())
        {
            return await _task.EnqueueAsync(task);
        }
    }

    // Null only once the row is gone: while the completion delete is in flight the task still reports Running.
    // Reads report the committed record: a change is visible only once it is durable.
    public Task<DeferredTaskInfo?> GetInfoAsync() => Task.FromResult(_task.Committed?.ToInfo(TaskId, _task.Busy, Progress()));

    public Task<DeferredTaskDetails?> GetDetailsAsync() => Task.FromResult(_task.Committed is { } record
        ? TaskDetails.Of(TaskId, record, _task.Busy, _task.RunningSince, c.Registry, c.Serializer, Progress())
        : null);

    // What the attempt in flight last reported; only asked while one runs.
    private DeferredTaskProgress? Progress() => _task.Busy ? c.Progress.Current(TaskId) : null;

    public Task<DeferredCancelOutcome> CancelAsync() => _task.SignalCancel() is { } signalled ? Task.FromResult(signalled) : CancelLockedAsync();

    private async Task<DeferredCancelOutcome> CancelLockedAsync()
    {
        await _lock.WaitAsync();
        using (Holding())
        {
            return await _task.OperateAsync(TaskLifecycle.Cancel) ? DeferredCancelOutcome.Cancelled
                : _task.Current is null ? DeferredCancelOutcome.NotStored : DeferredCancelOutcome.NotLive;
        }
    }

    public Task<bool> ResumeAsync() => InHand || _task.Phase is TaskPhase.Completed ? Task.FromResult(_task.Handled) : ResumeLockedAsync();

    private async Task<bool> ResumeLockedAsync()
    {
        await _lock.WaitAsync();
        using (Holding())
        {
            return await _task.ResumeAsync();
        }
    }

    public Task<bool> AdoptAsync()
    {
        _task.Adopt();
        return ResumeAsync();
    }

    public Task WakeAsync()
    {
        // Interleaved, on the activation's scheduler: no await, so nothing runs between the check and the re-arm.
        _task.OnKeyReleased();
        return Task.CompletedTask;
    }

    // A running task is not dead (nor waiting): answered at once rather than after the attempt.
    public Task<bool> RetryDeadAsync() => _task.Busy ? Task.FromResult(false)
        : OperateAsync((current, _) => TaskLifecycle.RetryDead(current, c.Me, c.Now));

    public Task<bool> RunNowAsync() => _task.Busy ? Task.FromResult(false)
        : OperateAsync((current, busy) => TaskLifecycle.RunNow(current, busy, c.Me, c.Now), throwIfRunning: false);

    // Busy: retried and running since it was listed, so not dead any more.
    public Task<bool> PurgeIfDeadAsync() => _task.Busy ? Task.FromResult(false) : OperateAsync((current, _) => TaskLifecycle.PurgeDead(current));

    public Task<bool> DeleteAsync() => _task.Busy ? throw _task.RunningError() : OperateAsync(TaskLifecycle.Delete);

    private async Task<bool> OperateAsync(Func<TaskRecord?, bool, Transition> decide, bool throwIfRunning = true)
    {
        await _lock.WaitAsync();
        using (Holding())
        {
            return await _task.OperateAsync(decide, throwIfRunning);
        }
    }

    /// <summary>
    /// Orleans' <see cref="MayInterleaveAttribute"/> predicate: a reminder tick interleaves, so a tick that reaches a
    /// running attempt is answered at once instead of waiting for the handler (and timing out in the reminder service).
    /// </summary>
    public static bool ReminderTickInterleaves(IInvokable request) =>
        request.GetInterfaceType() == typeof(IRemindable) && request.GetMethodName() == nameof(IRemindable.ReceiveReminder);

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName != ReminderName || InHand ? Task.CompletedTask : ReminderLockedAsync();

    private async Task ReminderLockedAsync()
    {
        await _lock.WaitAsync();
        using (Holding())
        {
            await _task.OnReminderAsync();
        }
    }

    void ITaskShell.ArmTimer(TimeSpan dueIn)
    {
        _timer?.Dispose();
        var generation = ++_timerGeneration;
        _timer = this.RegisterGrainTimer(static (armed, ct) => armed.Grain.OnTimerAsync(armed.Generation, ct), (Grain: this, Generation: generation), new GrainTimerCreationOptions
        {
            DueTime = dueIn,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = false,
            KeepAlive = true,
        });
    }

    void ITaskShell.CancelTimer()
    {
        _timerGeneration++;
        _timer?.Dispose();
        _timer = null;
    }

    async Task ITaskShell.RegisterReminderAsync(TimeSpan dueIn) =>
        await this.RegisterOrUpdateReminder(ReminderName, dueIn, c.Options.ReminderPeriod);

    async Task ITaskShell.UnregisterReminderAsync()
    {
        try
        {
            if (await this.GetReminder(ReminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception ex)
        {
            DeferredLog.ReminderCleanupFailed(c.Logger, ex, TaskId);
        }
    }

    void ITaskShell.Wake(string taskId) => GrainFactory.GetGrain<IRecoverableTask>(taskId).WakeAsync().Ignore();

    private async Task OnTimerAsync(int generation, CancellationToken cancellationToken)
    {
        if (generation != _timerGeneration)
        {
            return;
        }

        // The firing timer is one-shot. Disposing it here would cancel this callback's token, so it is only forgotten.
        _timer = null;
        // The lock is waited for whatever the timer's token says: the decider decides what a stopping silo does with it.
        await _lock.WaitAsync(CancellationToken.None);
        using (Holding())
        {
            if (generation == _timerGeneration)
            {
                await _task.OnTimerAsync(cancellationToken);
            }
        }
    }

    /// <summary>
    /// The lock, once taken (every call that writes holds it, one at a time): disposing what this returns gives it back
    /// and, unless <paramref name="letGo"/> is false, lets the activation go when nothing waits. A struct, so holding the
    /// lock costs what a try/finally does.
    /// </summary>
    private Held Holding(bool letGo = true) => new(this, letGo);

    private readonly struct Held(DeferredTaskGrain grain, bool letGo) : IDisposable
    {
        public void Dispose()
        {
            grain._lock.Release();
            if (letGo)
            {
                grain.DeactivateIfDone();
            }
        }
    }

    /// <summary>Lets the activation go once nothing in memory is waiting: no timer, no attempt, no write.</summary>
    private void DeactivateIfDone()
    {
        if (!_task.HasTimer && !_task.Busy && _lock.CurrentCount == 1)
        {
            DeactivateOnIdle();
        }
    }
}
