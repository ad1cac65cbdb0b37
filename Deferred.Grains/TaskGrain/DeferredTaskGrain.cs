using System.Runtime.ExceptionServices;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Serialization.Invocation;

namespace Deferred.TaskGrain;

/// <summary>
/// One deferred task, as a thin interpreter of its lifecycle: load the row, apply a <see cref="TaskLifecycle"/> edge,
/// write it through <see cref="StoredTask"/>, arm the one wake-up the result needs. Its mode is <see cref="TaskPhase"/>.
/// See <c>docs/architecture.md</c> for the path of a task and <c>docs/semantics.md</c> for where it can run twice.
/// </summary>
/// <remarks>
/// An attempt runs inside the due timer, which does not interleave. Every call that can reach a running task interleaves
/// (the interfaces' <c>[AlwaysInterleave]</c>, and <see cref="ReminderTickInterleaves"/> for reminder ticks) and is
/// answered from memory when the task is already in hand (a read, a repeated enqueue, a resume or adopt of a task that
/// runs or is scheduled). Everything that writes goes through <see cref="_lock"/>, so one write at a time keeps the ETag
/// consistent.
/// </remarks>
// The SemaphoreSlim never allocates a wait handle (only WaitAsync is used), so there is nothing to dispose.
#pragma warning disable CA1001
[PreferLocalPlacement]
[MayInterleave(nameof(ReminderTickInterleaves))]
internal sealed partial class DeferredTaskGrain(
    [PersistentState(TaskRecord.StateName, TaskStorage.ProviderName)] IPersistentState<TaskRecord> state,
    TaskGrainContext c) : Grain, IDeferredTaskGrain, IRecoverableTask, IPurgeableTask, IRemindable
{
    internal const string ReminderName = "deferred-wake";

    private readonly SemaphoreSlim _lock = new(1, 1);
    private StoredTask _row = null!;
    private TaskPhase _phase;
    private IGrainTimer? _timer;
    private ExecutionGate.Reservation? _due;
    private bool _watched;
    private int _startFailures;

    // Looks in a row that found the task's ordering key held, and whether the timer armed is such a wait.
    private int _keyWaits;
    private bool _waitingForKey;

    // The running attempt's cancel switch (an operator's cancel), and whether one was asked for.
    private CancellationTokenSource? _attemptCancel;
    private bool _cancelRequested;

    // When the latest attempt began (the task reports Running from then until its outcome is stored); read only while
    // Busy. The row has it only for watched attempts (the in-flight marker), so an operator's details read it from here.
    private DateTimeOffset? _runningSince;

    private string TaskId => this.GetPrimaryKeyString();

    private TaskRecord? Current => _row.Record;

    private bool Busy => _phase is TaskPhase.Running or TaskPhase.Recording;

    // Already in hand: an attempt runs, a wake-up is armed, or another edge holds the lock (each ends by scheduling the
    // task, or by leaving it to another silo on purpose). A resume or a reminder tick then answers at once: waiting for
    // the lock could mean waiting out an attempt.
    private bool InHand => Busy || _timer is not null || _lock.CurrentCount == 0;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _row = new StoredTask(state, c.Resilience, TaskId);
        c.Local.Add(TaskId);
        _watched = c.Options.WatchEveryAttempt || Current?.Interruptions > 0 || c.Adopted.TryConsume(TaskId);
        await _lock.WaitAsync(cancellationToken);
        try
        {
            // A marker with no activation behind it: the silo that ran the attempt went away mid-attempt.
            var interrupted = TaskLifecycle.CountInterruption(Current, c.Me, c.Options.QuarantineAfterInterruptions, c.Time.GetUtcNow());
            if (!interrupted.Refused)
            {
                DeferredLog.TaskInterrupted(c.Logger, TaskId, interrupted.After!.TaskType, interrupted.After.Interruptions);
                _watched = true;
                await SettleAsync(interrupted, AttemptOutcome.Interrupted);
            }

            // Whatever call brought this activation up, a live task it loads is scheduled: an earlier activation may
            // have gone (Orleans deactivates one of two duplicate activations after a silo failure) with the only wake-up.
            await ScheduleAsync();
        }
        finally
        {
            _lock.Release();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CancelTimer();
        StopWaitingForKey();
        c.Local.Remove(TaskId);
        return Task.CompletedTask;
    }

    public async Task<DeferredEnqueueResult> EnqueueAsync(DeferredEnqueueRequest request)
    {
        var task = EnqueueRequests.Validate(TaskId, request, c.Registry, c.Serializer, c.Options.DefaultMaxAttempts, c.Now, c.Store, c.Carried);
        if (_row.Committed is { } known && !_row.Stale)
        {
            // Idempotent fast path: answers a repeated enqueue at once, also while an attempt runs (the call interleaves
            // with the attempt's timer callback). It answers from the committed record only: an insert still in flight
            // is not acknowledged to a second caller before it is durable; that caller waits for the lock below.
            return EnqueueRequests.Existing(TaskId, known, task, Busy);
        }

        await _lock.WaitAsync();
        try
        {
            await _row.RefreshIfStaleAsync();
            var enqueue = TaskLifecycle.Enqueue(Current, task, c.Me, c.Now);
            if (enqueue.Refused)
            {
                // A resume that found the lock held answered without scheduling: this holder schedules instead.
                await ScheduleAsync();
                return EnqueueRequests.Existing(TaskId, Current!, task, Busy);
            }

            enqueue = await ParkIfFarAsync(enqueue);
            var result = await _row.ApplyAsync(enqueue, StoreWindow.Enqueue, OnFailure.Revert);
            if (!result.Applied && !IsOurs(enqueue.After!))
            {
                if (Current is { } raced)
                {
                    await ScheduleAsync();
                    return EnqueueRequests.Existing(TaskId, raced, task, Busy);
                }

                if (result.Outcome == StoreOutcome.VersionConflict && task.CallerChosenId && c.Store.CompletedIds is { } completed
                    && await completed.CompletedAtAsync(TaskId) is { } completedAt)
                {
                    // The id's task completed a moment ago (CompletedIdRetention): a repeated enqueue, not a new task.
                    return EnqueueRequests.Completed(TaskId, task, completedAt);
                }

                throw NotStored(result);
            }

            // A new task under this id (the activation may have completed an earlier one): nothing of that one carries over.
            _cancelRequested = false;
            _startFailures = 0;
            _keyWaits = 0;
            DeferredTelemetry.Transitioned(enqueue);
            DeferredLog.TaskStored(c.Logger, TaskId, task.TaskType, enqueue.After!.NextRunAt);
            await ScheduleAsync();
            return new DeferredEnqueueResult(enqueue.After.ToInfo(TaskId, false), Created: true);
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    // After a version conflict on insert: the row exists. An earlier try of this same enqueue may have committed after
    // reporting an error; then the stored row is ours.
    private bool IsOurs(TaskRecord inserted) =>
        !_row.Stale && Current is { } stored && stored.EnqueuedAt == inserted.EnqueuedAt && stored.TaskType == inserted.TaskType;

    private Exception NotStored(StoreResult result)
    {
        if (result.Outcome is StoreOutcome.Unavailable or StoreOutcome.VersionConflict)
        {
            // The insert may still commit: verify later, so a late commit is scheduled rather than stranded.
            ArmTimer(TaskPhase.Verifying, VerifyAsync, TimeSpan.FromSeconds(1));
            return new DeferredStoreUnavailableException(TaskId, result.Waited);
        }

        ExceptionDispatchInfo.Throw(result.Error!);
        return result.Error!;
    }

    // Null only once the row is gone: while the completion delete is in flight the task still reports Running.
    // Reads report the committed record: a change is visible only once it is durable.
    public Task<DeferredTaskInfo?> GetInfoAsync() => Task.FromResult(_row.Committed?.ToInfo(TaskId, Busy));

    public Task<DeferredTaskDetails?> GetDetailsAsync() => Task.FromResult(_row.Committed is { } record ? TaskDetails.Of(TaskId, record, Busy, Busy ? _runningSince : null, c.Registry, c.Serializer) : null);

    public Task<DeferredCancelOutcome> CancelAsync()
    {
        if (Busy)
        {
            // Running: signal the attempt's token; the cancel edge is applied when the handler returns.
            _cancelRequested = true;
            _attemptCancel?.Cancel();
            return Task.FromResult(DeferredCancelOutcome.Signalled);
        }

        return CancelWaitingAsync();
    }

    private async Task<DeferredCancelOutcome> CancelWaitingAsync()
    {
        var cancelled = await OperateAsync(current => TaskLifecycle.Cancel(current, Busy));
        return cancelled ? DeferredCancelOutcome.Cancelled : Current is null ? DeferredCancelOutcome.NotStored : DeferredCancelOutcome.NotLive;
    }

    public async Task<bool> ResumeAsync()
    {
        if (InHand || _phase == TaskPhase.Completed)
        {
            return Busy || _phase == TaskPhase.Completed || Current is { IsLive: true };
        }

        return await LockedAsync(async () =>
        {
            await _row.RefreshIfStaleAsync();
            if (Current?.ReadFailure is { } unreadable)
            {
                // The row could not be read: store it as a dead task, so an operator sees why and scans skip it.
                await SettleAsync(TaskLifecycle.MarkUnreadable(Current, unreadable with { At = c.Time.GetUtcNow() }, c.Me), null);
            }

            await ScheduleAsync();
            return Current is { IsLive: true } || _phase == TaskPhase.Completed;
        });
    }

    public Task<bool> AdoptAsync()
    {
        // adopt: from now on this task's attempts are watched; its next start stores the marker and this silo as owner.
        var adopt = TaskLifecycle.Adopt(Current);
        _watched = true;
        c.Adopted.TryConsume(TaskId);
        DeferredLog.TaskTransition(c.Logger, TaskId, adopt);
        return ResumeAsync();
    }

    // A running task is not dead: answered at once rather than after the attempt.
    public Task<bool> RetryDeadAsync() => Busy ? Task.FromResult(false) : OperateAsync(current => TaskLifecycle.RetryDead(current, c.Me, c.Now));

    // A running task is not waiting: answered at once rather than after the attempt (false, as for a dead one).
    public Task<bool> RunNowAsync() => Busy ? Task.FromResult(false) : OperateAsync(current => TaskLifecycle.RunNow(current, Busy, c.Me, c.Now), throwIfRunning: false);

    // Busy: retried and running since it was listed, so not dead any more.
    public Task<bool> PurgeIfDeadAsync() => Busy ? Task.FromResult(false) : OperateAsync(TaskLifecycle.PurgeDead);

    public Task<bool> DeleteAsync() =>
        TaskLifecycle.Delete(Current, Busy) is { Refusal: Transition.RunningRefusal }
            ? throw RunningError()
            : OperateAsync(current => TaskLifecycle.Delete(current, Busy));

    /// <summary>An operator's edge: applied under the enqueue window (the caller waits), re-decided after a lost race.</summary>
    private Task<bool> OperateAsync(Func<TaskRecord?, Transition> decide, bool throwIfRunning = true) => LockedAsync(async () =>
    {
        for (var tries = 1; ; tries++)
        {
            await _row.RefreshIfStaleAsync();
            var edge = decide(Current);
            if (edge.Refused)
            {
                await ScheduleAsync();
                return edge.Refusal == Transition.RunningRefusal && throwIfRunning ? throw RunningError() : false;
            }

            CancelTimer();
            var result = await _row.ApplyAsync(edge, StoreWindow.Enqueue, OnFailure.Revert);
            if (result.Applied)
            {
                _phase = edge.After is null ? TaskPhase.Empty : _phase;
                DeferredTelemetry.Transitioned(edge);
                await AfterAsync(edge);
                return true;
            }

            await ScheduleAsync();
            if (result.Outcome != StoreOutcome.VersionConflict || tries == 3)
            {
                throw result.Outcome == StoreOutcome.Permanent ? result.Error! : new DeferredStoreUnavailableException(TaskId, result.Waited);
            }
        }
    });

    /// <summary>
    /// Orleans' <see cref="MayInterleaveAttribute"/> predicate: a reminder tick interleaves, so a tick that reaches a
    /// running attempt is answered at once instead of waiting for the handler (and timing out in the reminder service).
    /// </summary>
    public static bool ReminderTickInterleaves(IInvokable request) =>
        request.GetInterfaceType() == typeof(IRemindable) && request.GetMethodName() == nameof(IRemindable.ReceiveReminder);

    public Task ReceiveReminder(string reminderName, TickStatus status) => reminderName != ReminderName || InHand
        ? Task.CompletedTask
        : LockedAsync(async () =>
    {
        await _row.RefreshIfStaleAsync();
        if (Current is { IsLive: true } || Busy)
        {
            await ScheduleAsync();
            return true;
        }

        // Nothing left to wake: the task completed, was deleted, died, or its row was never written.
        await UnregisterReminderAsync();
        if (Current is { } record)
        {
            await _row.ApplyAsync(TaskLifecycle.Unpark(record), StoreWindow.Outcome, OnFailure.Revert);
        }

        return false;
    });

    private async Task<T> LockedAsync<T>(Func<Task<T>> body)
    {
        await _lock.WaitAsync();
        try
        {
            return await body();
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    private InvalidOperationException RunningError() =>
        new($"Deferred task '{TaskId}' has an attempt running; delete it after the attempt ends.");

    /// <summary>Lets the activation go once nothing in memory is waiting: no timer, no attempt, no write.</summary>
    private void DeactivateIfDone()
    {
        if (_timer is null && !Busy && _lock.CurrentCount == 1)
        {
            DeactivateOnIdle();
        }
    }
}
