using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;

namespace Deferred.TaskGrain;

/// <summary>
/// One task's activation as a decider, with no Orleans type in it: the stored row (<see cref="StoredTask"/>), one
/// <see cref="TaskPhase"/> carrying its own data, and whether attempts are watched. Each command decides a
/// <see cref="TaskLifecycle"/> edge and goes through <see cref="ApplyAsync"/>, the one path that writes a transition,
/// reports it, and carries out its <see cref="Then"/>. Timers, reminders and nudges to other tasks are asked of the
/// <see cref="ITaskShell"/>. The shell calls every method that writes under its lock, one at a time.
/// </summary>
internal sealed class TaskActivation(string taskId, StoredTask row, TaskGrainContext c, ITaskShell shell)
{
    private TaskPhase _phase = TaskPhase.Idle.Instance;

    // Watched attempts store the in-flight marker first: every attempt when the options say so, and from the first
    // interruption or adoption on (an attempt whose silo went away once is watched for the next).
    private bool _watched;

    public TaskPhase Phase => _phase;

    public TaskRecord? Current => row.Record;

    /// <summary>The record as last read or committed: what reads report (a change is visible once it is durable).</summary>
    public TaskRecord? Committed => row.Committed;

    public bool Busy => _phase.Busy;

    /// <summary>A wake-up of this activation is pending (the one timer, or its callback waiting for the lock).</summary>
    public bool HasTimer => _phase.HasTimer;

    /// <summary>When the attempt in flight began, while <see cref="Busy"/>; null otherwise.</summary>
    public DateTimeOffset? RunningSince => _phase switch
    {
        TaskPhase.AttemptInFlight running => running.Since,
        TaskPhase.Recording recording => recording.Since,
        _ => null,
    };

    /// <summary>The answer to a resume that found the task in hand: true when it runs, ran to its end here, or is live.</summary>
    public bool Handled => Busy || _phase is TaskPhase.Completed || Current is { IsLive: true };

    public async Task ActivateAsync()
    {
        c.Local.Add(taskId);
        _watched = c.Options.WatchEveryAttempt || Current?.Interruptions > 0 || c.Adopted.TryConsume(taskId);

        // A marker with no activation behind it: the silo that ran the attempt went away mid-attempt.
        var interrupted = TaskLifecycle.CountInterruption(Current, c.Me, c.Options.QuarantineAfterInterruptions, c.Time.GetUtcNow());
        if (!interrupted.Refused)
        {
            DeferredLog.TaskInterrupted(c.Logger, taskId, interrupted.After!.TaskType, interrupted.After.Interruptions);
            _watched = true;
            await ApplyAsync(interrupted, StoreWindow.Outcome, OnFailure.Keep);
        }

        // Whatever call brought this activation up, a live task it loads is scheduled: an earlier activation may have
        // gone (Orleans deactivates one of two duplicate activations after a silo failure) with the only wake-up.
        await ScheduleAsync();
    }

    public void Deactivate()
    {
        CancelTimer();
        StopWaitingForKey();
        c.Local.Remove(taskId);
    }

    /// <summary>
    /// A repeated enqueue answered from the committed record without the lock (also while an attempt runs); null when
    /// it must wait for the lock (no committed record: an insert still in flight is not acknowledged before it is durable).
    /// </summary>
    public DeferredEnqueueResult? AnswerRepeatedEnqueue(NewTask task) =>
        row.Committed is { } known && !row.Stale ? EnqueueRequests.Existing(taskId, known, task, Busy) : null;

    public async Task<DeferredEnqueueResult> EnqueueAsync(NewTask task)
    {
        await row.RefreshIfStaleAsync();
        var enqueue = TaskLifecycle.Enqueue(Current, task, c.Me, c.Now);
        if (enqueue.Refused)
        {
            // A resume that found the lock held answered without scheduling: this holder schedules instead.
            await ScheduleAsync();
            return EnqueueRequests.Existing(taskId, Current!, task, Busy);
        }

        if (_phase is TaskPhase.Completed)
        {
            // A new task under the id of one this activation completed: nothing of that one carries over.
            _phase = TaskPhase.Idle.Instance;
        }

        var result = await ApplyAsync(enqueue, StoreWindow.Enqueue, OnFailure.Revert);
        if (!result.Applied)
        {
            if (!IsOurs(enqueue.After!))
            {
                return await NotStoredAsync(task, result);
            }

            // An earlier try of this same enqueue committed after reporting an error: the stored row is ours.
            await AfterAppliedAsync(enqueue, stored: true, failure: null);
        }

        return new DeferredEnqueueResult(enqueue.After!.ToInfo(taskId, false), Created: true);
    }

    // After a version conflict on insert: the row exists. An earlier try of this same enqueue may have committed after
    // reporting an error; then the stored row is ours.
    private bool IsOurs(TaskRecord inserted) =>
        !row.Stale && Current is { } stored && stored.EnqueuedAt == inserted.EnqueuedAt && stored.TaskType == inserted.TaskType;

    private async Task<DeferredEnqueueResult> NotStoredAsync(NewTask task, StoreResult result)
    {
        if (Current is { } raced)
        {
            await ScheduleAsync();
            return EnqueueRequests.Existing(taskId, raced, task, Busy);
        }

        if (result.Outcome == StoreOutcome.VersionConflict && task.CallerChosenId && c.Store.CompletedIds is { } completed
            && await completed.CompletedAtAsync(taskId) is { } completedAt)
        {
            // The id's task completed a moment ago (CompletedIdRetention): a repeated enqueue, not a new task.
            return EnqueueRequests.Completed(taskId, task, completedAt);
        }

        if (result.Outcome is StoreOutcome.Unavailable or StoreOutcome.VersionConflict)
        {
            // The insert may still commit: verify later, so a late commit is scheduled rather than stranded.
            Arm(new TaskPhase.Verifying(0), TimeSpan.FromSeconds(1));
            throw new DeferredStoreUnavailableException(taskId, result.Waited);
        }

        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(result.Error!);
        throw result.Error!;
    }

    /// <summary>
    /// Cancels without the lock when an attempt is in flight: signals its token; the cancel edge is recorded when the
    /// handler returns. Null when the task is not busy: then <see cref="OperateAsync"/> applies the cancel under the lock.
    /// </summary>
    public DeferredCancelOutcome? SignalCancel()
    {
        switch (_phase)
        {
            case TaskPhase.AttemptInFlight running:
                _phase = running with { CancelRequested = true };
                try
                {
                    running.Cancel.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The attempt has just ended and its outcome is not recorded yet: the phase above makes it a cancel.
                }

                return DeferredCancelOutcome.Signalled;
            case TaskPhase.Recording recording:
                _phase = recording with { Cancelled = true };
                return DeferredCancelOutcome.Signalled;
            default:
                return null;
        }
    }

    /// <summary>
    /// An operator's edge: applied under the enqueue window (the caller waits), re-decided after a lost race. False when
    /// refused; throws when refused as running and <paramref name="throwIfRunning"/>.
    /// </summary>
    public async Task<bool> OperateAsync(Func<TaskRecord?, bool, Transition> decide, bool throwIfRunning = true)
    {
        for (var tries = 1; ; tries++)
        {
            await row.RefreshIfStaleAsync();
            var edge = decide(Current, Busy);
            if (edge.Refused)
            {
                await ScheduleAsync();
                return edge.Refusal == Transition.RunningRefusal && throwIfRunning ? throw RunningError() : false;
            }

            CancelTimer();
            var result = await ApplyAsync(edge, StoreWindow.Enqueue, OnFailure.Revert);
            if (result.Applied)
            {
                return true;
            }

            await ScheduleAsync();
            if (result.Outcome != StoreOutcome.VersionConflict || tries == 3)
            {
                throw result.Outcome == StoreOutcome.Permanent ? result.Error! : new DeferredStoreUnavailableException(taskId, result.Waited);
            }
        }
    }

    public InvalidOperationException RunningError() =>
        new($"Deferred task '{taskId}' has an attempt running; delete it after the attempt ends.");

    public async Task<bool> ResumeAsync()
    {
        await row.RefreshIfStaleAsync();
        if (Current?.ReadFailure is { } unreadable)
        {
            // The row could not be read: store it as a dead task, so an operator sees why and scans skip it.
            await ApplyAsync(TaskLifecycle.MarkUnreadable(Current, unreadable with { At = c.Time.GetUtcNow() }, c.Me), StoreWindow.Outcome, OnFailure.Keep);
        }

        await ScheduleAsync();
        return Current is { IsLive: true } || _phase is TaskPhase.Completed;
    }

    /// <summary>adopt: from now on this task's attempts are watched; its next start stores the marker and this silo as owner.</summary>
    public void Adopt()
    {
        _watched = true;
        c.Adopted.TryConsume(taskId);
        DeferredLog.TaskTransition(c.Logger, taskId, TaskLifecycle.Adopt(Current));
    }

    /// <summary>A reminder tick that found the task not in hand: schedule it, or drop the reminder when nothing is left to wake.</summary>
    public async Task OnReminderAsync()
    {
        await row.RefreshIfStaleAsync();
        if (Current is { IsLive: true })
        {
            await ScheduleAsync();
            return;
        }

        // Nothing left to wake: the task completed, was deleted, died, or its row was never written.
        await shell.UnregisterReminderAsync();
        if (Current is { } record)
        {
            await ApplyAsync(TaskLifecycle.Unpark(record), StoreWindow.Outcome, OnFailure.Revert);
        }
    }

    /// <summary>A task of the same ordering key ended on this silo: a task waiting for the key looks again now.</summary>
    public void OnKeyReleased()
    {
        if (_phase is TaskPhase.KeyWait wait)
        {
            shell.CancelTimer();
            Arm(wait, TimeSpan.Zero);
        }
    }

    /// <summary>The one timer fired (the shell holds the lock): do what the phase armed it for.</summary>
    public Task OnTimerAsync(CancellationToken cancellationToken) => _phase switch
    {
        TaskPhase.Due or TaskPhase.KeyWait or TaskPhase.BackingOff => RunDueAsync(cancellationToken),
        TaskPhase.Recording recording => RetryCompletionAsync(recording),
        TaskPhase.Verifying verifying => VerifyAsync(verifying),
        _ => Task.CompletedTask,
    };

    /// <summary>The due timer: start the attempt (holding the ordering key and a slot), run it, record what it came to.</summary>
    private async Task RunDueAsync(CancellationToken cancellationToken)
    {
        var armed = _phase;
        _phase = TaskPhase.Idle.Instance;
        using var reservation = (armed as TaskPhase.Due)?.Announced ?? c.Gate.Announce();
        try
        {
            await row.RefreshIfStaleAsync();
            var watched = _watched && c.Options.QuarantineAfterInterruptions > 0;
            var start = TaskLifecycle.Start(Current, c.Me, watched, c.Time.GetUtcNow());
            if (!start.Refused && !c.Gate.IsStopping && Current!.OrderingKey is { } key)
            {
                start = TaskLifecycle.Start(Current, c.Me, watched, c.Time.GetUtcNow(), await c.Ordering.TryTakeAsync(key, taskId, cancellationToken));
                if (start.Refusal == TaskLifecycle.KeyHeldRefusal)
                {
                    // An earlier task of the key is still stored, or another task holds it: look again when a task of
                    // the key ends on this silo (OnKeyReleased), or after a short backoff (it may end on another silo).
                    var waits = armed is TaskPhase.KeyWait wait ? wait.Waits : 0;
                    c.Ordering.Wait(key, taskId);
                    Arm(new TaskPhase.KeyWait(waits + 1), OrderingTurns.Backoff(waits));
                    return;
                }
            }

            if (start.Refused || c.Gate.IsStopping)
            {
                // Not due yet (a timer can fire a little early), not live any more, or the silo is stopping: then the
                // row stays as it is and another silo adopts it.
                if (!c.Gate.IsStopping)
                {
                    await ScheduleAsync();
                }

                return;
            }

            var failures = armed is TaskPhase.BackingOff backingOff ? backingOff.Failures : 0;
            var outcome = await AttemptAsync(start, reservation, failures, cancellationToken);
            await RecordAsync(outcome);
        }
        catch (ObjectDisposedException) when (c.Gate.IsStopping)
        {
            // The host is being disposed under a timer that fired late: nothing to do, the row is as it was.
        }
        finally
        {
            if (_phase is TaskPhase.AttemptInFlight)
            {
                _phase = TaskPhase.Idle.Instance;
            }
        }
    }

    private void StopWaitingForKey()
    {
        if (Current?.OrderingKey is { } key)
        {
            c.Ordering.StopWaiting(key, taskId);
        }
    }

    // Not async: the attempt's own steps are one state machine (TaskAttempt), which owns and disposes the cancel source.
    private Task<AttemptOutcome> AttemptAsync(Transition start, ExecutionGate.Reservation reservation, int startFailures, CancellationToken cancellationToken)
    {
        var (prepared, unreadable) = c.Runner.Prepare(start.Before!);
        if (unreadable is not null)
        {
            return Task.FromResult(unreadable);
        }

        var cancel = new CancellationTokenSource();
        _phase = new TaskPhase.AttemptInFlight(c.Time.GetUtcNow(), cancel, startFailures);
        return TaskAttempt.RunAsync(c, taskId, row, start, prepared!, reservation, cancel, cancellationToken);
    }

    /// <summary>Records what the attempt came to as its one edge (an operator's cancel wins: the lifecycle decides).</summary>
    private async Task RecordAsync(AttemptOutcome outcome)
    {
        // Not running only when the task was unreadable, before its attempt could begin.
        var running = _phase as TaskPhase.AttemptInFlight;
        if (running is { CancelRequested: true } && outcome.Result != AttemptResult.Committed)
        {
            // A committed transaction has ended the task already: the cancel finds nothing left to remove.
            outcome = AttemptOutcome.Cancelled;
        }

        var edge = TaskLifecycle.Record(Current, outcome, c.Me);
        if (edge.Refused)
        {
            // Superseded: the row changed under the attempt, whose transaction rolled back. The row as it is now decides.
            _phase = TaskPhase.Idle.Instance;
            DeferredLog.TaskTransition(c.Logger, taskId, edge);
            await row.ReloadAsync();
            await ScheduleAsync();
            return;
        }

        if (edge.Deletes)
        {
            // At-least-once point: the handler has finished; if the silo dies before this delete commits, it runs again.
            _phase = new TaskPhase.Recording(running?.Since ?? c.Time.GetUtcNow(), edge.Edge == Edge.Cancel);
            await CompleteAsync(edge);
            return;
        }

        _phase = TaskPhase.Idle.Instance;
        var window = edge.Edge == Edge.Stop ? StoreWindow.Start : StoreWindow.Outcome;
        var onFailure = edge.Edge == Edge.Stop ? OnFailure.Revert : OnFailure.Keep;
        var result = await ApplyAsync(edge, window, onFailure, outcome.Exception, running?.StartFailures ?? 0);
        if (!result.Applied && !c.Gate.IsStopping)
        {
            // The write lost a race or failed for good (memory was reverted, the row read again): the row as it is now
            // decides the next wake-up, so the task is never left without one.
            await ScheduleAsync();
        }
    }

    /// <summary>The final delete after an attempt: keep trying the delete, never the task (the handler already ran).</summary>
    private async Task CompleteAsync(Transition complete)
    {
        var recording = (TaskPhase.Recording)_phase;
        if (!complete.Refused)
        {
            var result = await ApplyAsync(complete, StoreWindow.Outcome, OnFailure.Revert);
            if (!result.Applied && Current is not null)
            {
                Arm(recording with { Retrying = true }, TimeSpan.FromSeconds(10));
                return;
            }
        }

        _phase = TaskPhase.Completed.Instance;
    }

    private async Task RetryCompletionAsync(TaskPhase.Recording recording)
    {
        _phase = recording with { Retrying = false };
        await row.RefreshIfStaleAsync();
        await CompleteAsync(recording.Cancelled ? TaskLifecycle.Cancel(Current, running: true) : TaskLifecycle.Succeed(Current));
    }

    private async Task VerifyAsync(TaskPhase.Verifying verifying)
    {
        _phase = TaskPhase.Idle.Instance;
        await row.RefreshIfStaleAsync();
        if (row.Stale)
        {
            Arm(new TaskPhase.Verifying(verifying.Failures + 1), c.Resilience.Window(StoreWindow.Claim).Backoff(verifying.Failures + 1));
            return;
        }

        await ScheduleAsync();
    }

    /// <summary>
    /// The one path that applies an edge: the store's far wake-up parks the record first when the edge schedules a far
    /// task (a reminder registered before the row says so: a crash in between leaves a reminder that finds nothing and
    /// unregisters itself; the other order could leave a row nothing wakes), then the write, then the report, then
    /// <see cref="Then"/>. Returns the write's result; when it did not land, the caller decides (the record in memory is
    /// reverted, or kept for <see cref="OnFailure.Keep"/>, and then reported and scheduled from memory).
    /// </summary>
    private async Task<StoreResult> ApplyAsync(Transition edge, StoreWindow window, OnFailure onFailure, Exception? failure = null, int startFailures = 0)
    {
        var write = edge;
        // Only a store woken by reminders parks; on the others no wake-up is planned twice (ScheduleAsync plans it).
        if (edge.Then == Then.Schedule && c.Store.FarWakeup == FarWakeup.Reminder && edge.After is { HasReminder: false } after
            && c.PlanWakeup(after) is { Kind: WakeKind.Reminder } far)
        {
            await RegisterReminderAsync(far.DueIn);
            write = edge with { After = after with { HasReminder = true } };
        }

        var result = await row.ApplyAsync(write, window, onFailure);
        var kept = !result.Applied && write.After is not null && ReferenceEquals(row.Record, write.After);
        if (result.Applied || kept)
        {
            await AfterAppliedAsync(edge, result.Applied, failure, startFailures, remindedNow: !ReferenceEquals(write, edge));
        }

        return result;
    }

    /// <summary>Reports an edge that is true now (stored, or kept in memory to be stored with the next write) and does its <see cref="Then"/>.</summary>
    private async Task AfterAppliedAsync(Transition edge, bool stored, Exception? failure, int startFailures = 0, bool remindedNow = false)
    {
        if (stored || edge.After is not { Status: DeferredTaskStatus.Dead })
        {
            // A dead edge is reported once stored: if its write fails, the next activation derives (and reports) it again.
            DeferredTelemetry.Transitioned(edge);
        }

        DeferredLog.Applied(c.Logger, taskId, edge, stored, failure);
        if (edge.Deletes && edge.Before?.OrderingKey is { } key)
        {
            // The row is gone, so the key is free already: the tasks of the key waiting here look again now, and the
            // hold is tidied away (a committed attempt's transaction gave it back already).
            c.Ordering.StopWaiting(key, taskId);
            foreach (var waiting in c.Ordering.WaitingFor(key))
            {
                shell.Wake(waiting);
            }

            if (edge.Write == Write.Delete)
            {
                c.Ordering.ReleaseAsync(key, taskId).Ignore();
            }
        }

        switch (edge.Then)
        {
            case Then.Schedule:
                // A reminder the task had before this edge still points at the old run time (one registered by this
                // edge's park points at the new one).
                var moved = !remindedNow && edge.Before is { HasReminder: true } before && edge.After is { } changed && changed.NextRunAt != before.NextRunAt;
                await ScheduleAsync(moved);
                break;
            case Then.Forget when edge.Before?.HasReminder == true:
                await shell.UnregisterReminderAsync();
                break;
            case Then.BackOff when !c.Gate.IsStopping && Current is { IsLive: true }:
                // The marker could not be stored: try again later, with backoff, until the database is back.
                Arm(new TaskPhase.BackingOff(startFailures + 1), c.Resilience.Window(StoreWindow.Start).Backoff(startFailures + 1));
                break;
        }
    }

    /// <summary>
    /// Arms the one wake-up the current record needs: a timer when due within the threshold; otherwise the activation may
    /// go, and the store's far wake-up brings the task back (a reminder is registered and the row parked here when that
    /// is how). <paramref name="moved"/>: the edge just applied set a new run time, so a reminder the task already has is
    /// moved to it (its periodic ticks would otherwise wake the task up to a reminder period late).
    /// </summary>
    private async Task ScheduleAsync(bool moved = false)
    {
        if (Busy || HasTimer)
        {
            return;
        }

        var plan = c.PlanWakeup(Current);
        switch (plan.Kind)
        {
            case WakeKind.Timer:
                // Due now: counted at once, so recovery's backlog limit sees due work before the timer fires.
                Arm(new TaskPhase.Due(plan.DueIn == TimeSpan.Zero ? c.Gate.Announce() : null), plan.DueIn);
                return;
            case WakeKind.Reminder when !Current!.HasReminder:
                await RegisterReminderAsync(plan.DueIn);
                await ApplyAsync(TaskLifecycle.Park(Current), StoreWindow.Outcome, OnFailure.Revert);
                break;
            case WakeKind.Reminder when moved:
                await RegisterReminderAsync(plan.DueIn);
                break;
        }
    }

    private async Task RegisterReminderAsync(TimeSpan dueIn)
    {
        await shell.RegisterReminderAsync(dueIn);
        DeferredLog.TaskParked(c.Logger, taskId, c.Time.GetUtcNow() + dueIn);
    }

    private void Arm(TaskPhase phase, TimeSpan dueIn)
    {
        _phase = phase;
        shell.ArmTimer(dueIn);
    }

    private void CancelTimer()
    {
        if (!HasTimer)
        {
            return;
        }

        shell.CancelTimer();
        (_phase as TaskPhase.Due)?.Announced?.Dispose();
        _phase = _phase is TaskPhase.Recording recording ? recording with { Retrying = false } : TaskPhase.Idle.Instance;
    }
}
