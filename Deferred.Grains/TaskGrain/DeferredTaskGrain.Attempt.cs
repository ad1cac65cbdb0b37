using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage.Resilience;
using Orleans.Runtime;

namespace Deferred.TaskGrain;

/// <summary>The attempt: start it when due, run it, record what it came to as one lifecycle edge.</summary>
#pragma warning disable CA1001 // The SemaphoreSlim never allocates a wait handle; see DeferredTaskGrain.cs.
internal sealed partial class DeferredTaskGrain
{
    /// <summary>The due timer: start the attempt, run it, record what it came to.</summary>
    private async Task RunDueAsync(CancellationToken cancellationToken)
    {
        // The firing timer is one-shot. Disposing it here would cancel this callback's token, so it is only forgotten.
        _timer = null;
        using var reservation = Interlocked.Exchange(ref _due, null) ?? c.Gate.Announce();
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            await _row.RefreshIfStaleAsync();
            _waitingForKey = false;
            var watched = _watched && c.Options.QuarantineAfterInterruptions > 0;
            var start = TaskLifecycle.Start(Current, c.Me, watched, c.Time.GetUtcNow());
            if (!start.Refused && !c.Gate.IsStopping && Current!.OrderingKey is { } key)
            {
                start = TaskLifecycle.Start(Current, c.Me, watched, c.Time.GetUtcNow(), await TakeKeyAsync(key, cancellationToken));
                if (start.Refusal == TaskLifecycle.KeyHeldRefusal)
                {
                    // An earlier task of the key is still stored, or another task holds it: look again when a task of
                    // the key ends on this silo (WakeAsync), or after a short backoff (it may end on another silo).
                    c.Ordering.Wait(key, TaskId);
                    _waitingForKey = true;
                    ArmTimer(TaskPhase.Waiting, RunDueAsync, OrderingTurns.Backoff(_keyWaits++));
                    return;
                }
            }

            if (start.Refused || c.Gate.IsStopping)
            {
                // Not due yet (a timer can fire a little early), not live any more, or the silo is stopping: then the
                // row stays as it is and another silo adopts it.
                _phase = TaskPhase.Parked;
                if (!c.Gate.IsStopping)
                {
                    await ScheduleAsync();
                }

                return;
            }

            var outcome = await AttemptAsync(start, reservation, cancellationToken);
            await RecordAsync(outcome, cancellationToken);
        }
        catch (ObjectDisposedException) when (c.Gate.IsStopping)
        {
            // The host is being disposed under a timer that fired late: nothing to do, the row is as it was.
        }
        finally
        {
            if (_phase == TaskPhase.Running)
            {
                _phase = TaskPhase.Parked;
            }

            _lock.Release();
            DeactivateIfDone();
        }
    }

    /// <summary>True when this task holds its ordering key; false while it must wait (or the store cannot be asked).</summary>
    private async Task<bool> TakeKeyAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            if (!await c.Ordering.TryTakeAsync(key, TaskId, cancellationToken))
            {
                return false;
            }
        }
        catch (Exception ex) when (Storage.Resilience.StoreFailures.IsUnavailable(ex))
        {
            c.Resilience.Unreachable(ex);
            return false;
        }

        _keyWaits = 0;
        StopWaitingForKey();
        return true;
    }

    private void StopWaitingForKey()
    {
        if (Current?.OrderingKey is { } key)
        {
            c.Ordering.StopWaiting(key, TaskId);
        }
    }

    public Task WakeAsync()
    {
        // Interleaved, on the activation's scheduler: no await, so nothing runs between the check and the re-arm.
        if (_waitingForKey && _timer is not null && !Busy)
        {
            _timer.Dispose();
            _timer = null;
            ArmTimer(TaskPhase.Waiting, RunDueAsync, TimeSpan.Zero);
        }

        return Task.CompletedTask;
    }

    private async Task<AttemptOutcome> AttemptAsync(Transition start, ExecutionGate.Reservation reservation, CancellationToken cancellationToken)
    {
        var (prepared, unreadable) = c.Runner.Prepare(start.Before!);
        if (unreadable is not null)
        {
            return unreadable;
        }

        _phase = TaskPhase.Running;
        _runningSince = c.Time.GetUtcNow();
        using var cancel = new CancellationTokenSource();
        _attemptCancel = cancel;
        IDisposable? limit = null;
        try
        {
            if (c.Limits.IsLimited(start.Before!.TaskType))
            {
                // Before the start permit: an attempt waiting for its type's limit holds nothing other types need.
                using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, cancel.Token, c.Gate.NoNewStarts);
                limit = await c.Limits.AcquireAsync(start.Before.TaskType, TaskId, waitEnds.Token);
            }

            await reservation.StartAsync(cancellationToken);

            // Stored holding a start permit, not a slot: the marker's round trip overlaps running attempts. A cancel that
            // came while the attempt waited (for the permit, the marker or the slot) ends it here, before the handler:
            // RecordAsync then applies the cancel edge.
            if (cancel.IsCancellationRequested || !(await _row.ApplyAsync(start, StoreWindow.Start, OnFailure.Revert)).Applied)
            {
                return AttemptOutcome.NotStarted;
            }

            await reservation.EnterAsync(cancellationToken);
            if (cancel.IsCancellationRequested)
            {
                return AttemptOutcome.NotStarted;
            }

            return await c.Runner.RunAsync(TaskId, Current!, prepared!, cancellationToken, cancel.Token);
        }
        catch (OperationCanceledException) when (!reservation.HoldsSlot)
        {
            return AttemptOutcome.NotStarted;
        }
        finally
        {
            limit?.Dispose();
            _attemptCancel = null;
            reservation.Dispose();
        }
    }

    private async Task RecordAsync(AttemptOutcome outcome, CancellationToken cancellationToken)
    {
        var edge = _cancelRequested ? TaskLifecycle.Cancel(Current, running: true) : TaskLifecycle.Record(Current, outcome, c.Me);
        if (edge.Edge is Edge.Succeed or Edge.Cancel)
        {
            // At-least-once point: the handler has finished; if the silo dies before this delete commits, it runs again.
            await CompleteAsync(edge);
            return;
        }

        _phase = TaskPhase.Parked;
        if (edge.Edge != Edge.Stop)
        {
            _startFailures = 0;
            await SettleAsync(edge, outcome);
            await ScheduleAsync();
            return;
        }

        // Stop: the attempt reached no outcome; clear a stored marker so it is not taken for a crash (best effort).
        await _row.ApplyAsync(edge, StoreWindow.Start, OnFailure.Revert);
        if (outcome.Result == AttemptResult.NotStarted && !c.Gate.IsStopping && !cancellationToken.IsCancellationRequested && Current is { IsLive: true })
        {
            // The marker could not be stored: try again later, with backoff, until the database is back.
            ArmTimer(TaskPhase.BackingOff, RunDueAsync, c.Resilience.Window(StoreWindow.Start).Backoff(++_startFailures));
        }
    }

    /// <summary>The final delete after an attempt: succeed, or cancel when an operator cancelled it while it ran.</summary>
    private async Task CompleteAsync(Transition succeed)
    {
        _phase = TaskPhase.Recording;
        var result = succeed.Refused ? default : await _row.ApplyAsync(succeed, StoreWindow.Outcome, OnFailure.Revert);
        if (!succeed.Refused && !result.Applied && Current is not null)
        {
            // Keep trying the delete, never the task: the handler already ran.
            ArmTimer(TaskPhase.Recording, RetryCompletionAsync, TimeSpan.FromSeconds(10));
            return;
        }

        _phase = TaskPhase.Completed;
        _cancelRequested = false;
        DeferredTelemetry.Transitioned(succeed);
        if (succeed.Edge == Edge.Succeed)
        {
            DeferredLog.TaskSucceeded(c.Logger, TaskId, succeed.Before?.TaskType ?? "", (succeed.Before?.Attempts ?? 0) + 1);
        }

        await AfterAsync(succeed);
    }

    private Task RetryCompletionAsync(CancellationToken cancellationToken) => LockedAsync(async () =>
    {
        _timer = null;
        await _row.RefreshIfStaleAsync();
        await CompleteAsync(_cancelRequested ? TaskLifecycle.Cancel(Current, running: true) : TaskLifecycle.Succeed(Current));
        return true;
    });

    /// <summary>Writes an outcome edge other than success (failed, dead, quarantined) and reports it once stored.</summary>
    private async Task SettleAsync(Transition edge, AttemptOutcome? outcome)
    {
        edge = await ParkIfFarAsync(edge);
        var stored = (await _row.ApplyAsync(edge, StoreWindow.Outcome, OnFailure.Keep)).Applied;
        var record = edge.After!;
        if (edge.Edge is Edge.Fail or Edge.Interrupted)
        {
            DeferredTelemetry.Transitioned(edge);
        }

        if (edge.Edge == Edge.Fail)
        {
            DeferredLog.TaskFailed(c.Logger, outcome!.Exception!, TaskId, record.TaskType, record.Attempts, record.MaxAttempts, record.NextRunAt);
        }
        else if (record.Status == DeferredTaskStatus.Dead && stored)
        {
            // Reported once stored: if the write fails, the next activation derives (and reports) it again.
            DeferredTelemetry.Transitioned(edge);
            DeferredLog.TaskDead(c.Logger, TaskId, record.TaskType, record.Attempts, record.LastError?.Type ?? "", record.LastError?.Message ?? "");
        }

        if (stored)
        {
            await AfterAsync(edge);
        }
    }
}
