using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Orleans.Runtime;

namespace Deferred.TaskGrain;

/// <summary>The wake-up: after an edge, arm the one wake-up the record needs (timer, reminder, or the store's poller).</summary>
#pragma warning disable CA1001 // The SemaphoreSlim never allocates a wait handle; see DeferredTaskGrain.cs.
internal sealed partial class DeferredTaskGrain
{
    /// <summary>What an applied edge says must happen next.</summary>
    private async Task AfterAsync(Transition edge)
    {
        DeferredLog.TaskTransition(c.Logger, TaskId, edge);
        if (edge.Write == Write.Delete && edge.Before?.OrderingKey is { } key)
        {
            // The row is gone, so the key is free already: the tasks of the key waiting here look again now, and the hold
            // is tidied away.
            c.Ordering.StopWaiting(key, TaskId);
            foreach (var waiting in c.Ordering.WaitingFor(key))
            {
                GrainFactory.GetGrain<IRecoverableTask>(waiting).WakeAsync().Ignore();
            }

            c.Ordering.ReleaseAsync(key, TaskId).Ignore();
        }

        if (edge.Then == Then.Schedule)
        {
            // A reminder the task had before this edge still points at the old run time (one registered by this edge's
            // ParkIfFarAsync already points at the new one).
            await ScheduleAsync(moved: edge.Before is { HasReminder: true } before && edge.After is { } after && after.NextRunAt != before.NextRunAt);
        }
        else if (edge.Then == Then.Forget && edge.Before?.HasReminder == true)
        {
            await UnregisterReminderAsync();
        }
    }

    /// <summary>
    /// Arms the one wake-up the current record needs: a timer when due within the threshold; otherwise the activation
    /// may go, and the store's far wake-up brings the task back (a reminder is registered here when that is how).
    /// <paramref name="moved"/>: the edge just applied set a new run time, so a reminder the task already has is moved to
    /// it (its periodic ticks would otherwise wake the task up to a reminder period late).
    /// </summary>
    private async Task ScheduleAsync(bool moved = false)
    {
        if (Busy || _timer is not null)
        {
            return;
        }

        var plan = c.PlanWakeup(Current);
        switch (plan.Kind)
        {
            case WakeKind.Timer:
                // Due now: counted at once, so recovery's backlog limit sees due work before the timer fires.
                _due ??= plan.DueIn == TimeSpan.Zero ? c.Gate.Announce() : null;
                ArmTimer(TaskPhase.Waiting, RunDueAsync, plan.DueIn);
                return;
            case WakeKind.Reminder when !Current!.HasReminder:
                await RegisterReminderAsync(plan.DueIn);
                await _row.ApplyAsync(TaskLifecycle.Park(Current), StoreWindow.Outcome, OnFailure.Revert);
                break;
            case WakeKind.Reminder when moved:
                await RegisterReminderAsync(plan.DueIn);
                break;
        }

        _phase = plan.Kind != WakeKind.None ? TaskPhase.Parked
            : Current is { Status: DeferredTaskStatus.Dead } ? TaskPhase.Dead
            : _phase == TaskPhase.Completed ? TaskPhase.Completed : TaskPhase.Empty;
    }

    /// <summary>A task whose store wakes far tasks by reminder gets its reminder before its row says so.</summary>
    private async Task<Transition> ParkIfFarAsync(Transition edge)
    {
        var plan = c.PlanWakeup(edge.After);
        if (plan.Kind != WakeKind.Reminder || edge.After!.HasReminder)
        {
            return edge;
        }

        // Registered before the row is written: a crash in between leaves a reminder with no row, which finds nothing
        // and unregisters itself; the other order could leave a row that nothing wakes.
        await RegisterReminderAsync(plan.DueIn);
        return edge with { After = TaskLifecycle.Park(edge.After).After };
    }

    private async Task VerifyAsync(CancellationToken cancellationToken)
    {
        _timer = null;
        await LockedAsync(async () =>
        {
            await _row.RefreshIfStaleAsync();
            if (_row.Stale)
            {
                ArmTimer(TaskPhase.Verifying, VerifyAsync, c.Resilience.Window(StoreWindow.Claim).Backoff(++_startFailures));
                return false;
            }

            _startFailures = 0;
            _phase = TaskPhase.Empty;
            await ScheduleAsync();
            return true;
        });
    }

    private void ArmTimer(TaskPhase phase, Func<CancellationToken, Task> callback, TimeSpan dueTime)
    {
        _phase = phase;
        _timer = this.RegisterGrainTimer(callback, new GrainTimerCreationOptions
        {
            DueTime = dueTime,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = false,
            KeepAlive = true,
        });
    }

    private void CancelTimer()
    {
        _timer?.Dispose();
        _timer = null;
        Interlocked.Exchange(ref _due, null)?.Dispose();
    }

    private async Task RegisterReminderAsync(TimeSpan dueIn)
    {
        await this.RegisterOrUpdateReminder(ReminderName, dueIn, c.Options.ReminderPeriod);
        DeferredLog.TaskParked(c.Logger, TaskId, c.Time.GetUtcNow() + dueIn);
    }

    private async Task UnregisterReminderAsync()
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
}
