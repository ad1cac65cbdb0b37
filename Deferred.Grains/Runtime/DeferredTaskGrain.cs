using Deferred.Diagnostics;
using Deferred.Options;
using Deferred.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;

namespace Deferred.Runtime;

/// <summary>
/// One deferred task: its stored row, its wake-up (an in-memory timer when near, a durable reminder when far),
/// and its attempts. See <c>docs/state-machine.md</c> for the states and <c>docs/semantics.md</c> for where a
/// task can run twice.
/// </summary>
/// <remarks>
/// Calls that only read, or that answer from memory (a duplicate enqueue, a resume of a task that is already
/// scheduled), interleave with a running attempt so they answer promptly. Everything that writes the row goes
/// through <see cref="_lock"/>, so at most one write is in flight and the ETag stays consistent.
/// </remarks>
// The SemaphoreSlim never allocates a wait handle (only WaitAsync is used), so there is nothing to dispose.
#pragma warning disable CA1001
[PreferLocalPlacement]
internal sealed class DeferredTaskGrain : Grain, IDeferredTaskGrain, IRemindable
{
    internal const string ReminderName = "deferred-wake";

    private readonly IPersistentState<DeferredTaskState> _state;
    private readonly TaskTypeRegistry _registry;
    private readonly TaskRunner _runner;
    private readonly ExecutionGate _gate;
    private readonly Serializer _serializer;
    private readonly DeferredTasksOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DeferredTaskGrain> _logger;
    private readonly string _me;
    private readonly LocalTasks _local;
    private readonly SemaphoreSlim _lock = new(1, 1);

    // The default store has its own durable wake-up (DuePoller reads due times from the table); the stock
    // store relies on Orleans reminders.
    private readonly bool _useReminders;

    private IGrainTimer? _timer;
    private bool _announced;
    private bool _running;
    private bool _stale;
    private bool _completionPending;

    // Backoff for starting an attempt while the in-flight marker cannot be stored (database unreachable).
    private TimeSpan _startBackoff = TimeSpan.Zero;

    // An enqueue write that outlived its timeout; the row is unknown until it settles.
    private Task? _pendingWrite;

    // This activation ran the task to success and deleted its row.
    private bool _completedHere;

    // Each attempt stores an in-flight marker first: the task was adopted from a silo that went away, or has
    // been interrupted before, or every attempt is watched (DeferredTasksOptions.WatchEveryAttempt).
    private bool _watched;

    public DeferredTaskGrain(
        [PersistentState(DeferredTaskState.StateName, DeferredStorage.ProviderName)] IPersistentState<DeferredTaskState> state,
        TaskTypeRegistry registry,
        TaskRunner runner,
        ExecutionGate gate,
        Serializer serializer,
        IOptions<DeferredTasksOptions> options,
        TimeProvider time,
        SiloIdentity silo,
        LocalTasks local,
        ILogger<DeferredTaskGrain> logger)
    {
        _me = silo.Owner;
        _local = local;
        _state = state;
        _registry = registry;
        _runner = runner;
        _gate = gate;
        _serializer = serializer;
        _options = options.Value;
        _useReminders = _options.Store == DeferredStore.OrleansAdoNet;
        _time = time;
        _logger = logger;
    }

    private string TaskId => this.GetPrimaryKeyString();

    private DeferredTaskState S => _state.State;

    private bool Live => _state.RecordExists && !_completionPending && S.Status is DeferredTaskStatus.Pending or DeferredTaskStatus.Failed;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _local.Add(TaskId);
        await AdoptInterruptedAttemptAsync(cancellationToken);
        _watched = _options.WatchEveryAttempt || (_state.RecordExists && S.Interruptions > 0);

        // Whatever call brought this activation up, a live task it loads is scheduled: an earlier activation
        // may have gone (Orleans deactivates one of two duplicate activations after a silo failure) and taken
        // the only wake-up with it.
        if (Live)
        {
            await _lock.WaitAsync(cancellationToken);
            try
            {
                await ScheduleLockedAsync();
            }
            finally
            {
                _lock.Release();
            }
        }
    }

    private async Task AdoptInterruptedAttemptAsync(CancellationToken cancellationToken)
    {
        if (!_state.RecordExists || S.RunningSince is null || S.Status is not (DeferredTaskStatus.Pending or DeferredTaskStatus.Failed))
        {
            return;
        }

        // The row says an attempt is in flight, but no activation holds it: the silo that ran it went away
        // (crashed, was killed, or stopped without recording it). Count it; quarantine a task that keeps doing it.
        S.RunningSince = null;
        S.Interruptions++;
        DeferredTelemetry.Interrupted.Add(1);
        DeferredLog.TaskInterrupted(_logger, TaskId, S.TaskType, S.Interruptions);
        var limit = _options.QuarantineAfterInterruptions;
        if (limit > 0 && S.Interruptions >= limit)
        {
            S.Status = DeferredTaskStatus.Dead;
            S.LastError = new DeferredTaskError
            {
                Type = DeferredErrorTypes.Quarantined,
                Message = $"An attempt of this task was in flight when its silo went away {S.Interruptions} times (limit {limit}); it is quarantined so it cannot take more silos down. Fix the cause, then retry the dead task.",
                Attempt = S.Attempts + 1,
                At = _time.GetUtcNow(),
            };
        }

        S.Owner = _me;
        try
        {
            await _state.WriteStateAsync(cancellationToken);
            if (S.Status == DeferredTaskStatus.Dead)
            {
                // Reported once stored: if the write fails, the next activation derives (and reports) it again.
                DeferredTelemetry.Dead.Add(1);
                DeferredLog.TaskDead(_logger, TaskId, S.TaskType, S.Attempts, S.LastError!.Type, S.LastError.Message);
            }
        }
        catch (Exception ex)
        {
            // Kept in memory: the next attempt's marker write stores the count before its handler starts, and
            // a dead task is simply not scheduled. A later activation re-derives both from the row.
            DeferredLog.StoreWriteRetry(_logger, ex, TaskId, "interruption count", 1);
            _stale = ex is InconsistentStateException;
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CancelTimer();
        _local.Remove(TaskId);
        return Task.CompletedTask;
    }

    public async Task<DeferredEnqueueResult> EnqueueAsync(DeferredEnqueueRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Task is null)
        {
            throw new ArgumentNullException(nameof(request), "DeferredEnqueueRequest.Task is null; enqueue a task object.");
        }

        DeferredTaskOptionsValidation.ThrowIfInvalid(request.Options);
        if (DeferredTaskId.Validate(TaskId) is { } idProblem)
        {
            throw new ArgumentException($"Task id '{TaskId}' is not valid: {idProblem}.", nameof(request));
        }

        if (request.Options?.TaskId is { } requestedId && requestedId != TaskId)
        {
            throw new ArgumentException($"DeferredTaskOptions.TaskId '{requestedId}' does not match the grain key '{TaskId}'.", nameof(request));
        }

        var registration = _registry.Find(request.Task.GetType())
            ?? throw new DeferredTaskTypeNotRegisteredException(request.Task.GetType().FullName ?? request.Task.GetType().Name);

        // Idempotent fast path: answers a repeated enqueue even while an attempt is running.
        if (_state.RecordExists && !_stale)
        {
            return new DeferredEnqueueResult(S.ToInfo(TaskId, _running), Created: false);
        }

        // Serialize before taking the lock or touching storage: a task that cannot be serialized stores nothing.
        var payload = registration.Serialize(_serializer, request.Task);

        await _lock.WaitAsync();
        try
        {
            await RefreshIfStaleAsync();
            if (_state.RecordExists)
            {
                return new DeferredEnqueueResult(S.ToInfo(TaskId, _running), Created: false);
            }

            var now = Now();
            var options = request.Options;
            var runAt = Microseconds(options?.RunAt is { } at ? (at > now ? at.ToUniversalTime() : now) : now + (options?.Delay ?? TimeSpan.Zero));
            var state = new DeferredTaskState
            {
                TaskType = registration.Name,
                Payload = payload,
                Status = DeferredTaskStatus.Pending,
                MaxAttempts = options?.MaxAttempts ?? _options.DefaultMaxAttempts,
                EnqueuedAt = now,
                NextRunAt = runAt,
                Owner = _me,
            };

            // A far task's reminder is registered before the row is written. A crash in between leaves a
            // reminder with no row, which finds nothing and unregisters itself; the other order could leave a
            // row that nothing wakes.
            if (_useReminders && runAt - now > _options.TimerThreshold)
            {
                await this.RegisterOrUpdateReminder(ReminderName, runAt - now, _options.ReminderPeriod);
                state.HasReminder = true;
            }

            if (!await InsertWithinTimeoutAsync(state))
            {
                // A row appeared that this enqueue did not write (it raced another enqueue of the same id).
                return new DeferredEnqueueResult(S.ToInfo(TaskId, _running), Created: false);
            }

            DeferredTelemetry.Enqueued.Add(1);
            DeferredLog.TaskStored(_logger, TaskId, state.TaskType, runAt);
            await ScheduleLockedAsync();
            return new DeferredEnqueueResult(S.ToInfo(TaskId, false), Created: true);
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    // Null only once the row is gone: while the completion delete is in flight the task still reports Running.
    public Task<DeferredTaskInfo?> GetInfoAsync() =>
        Task.FromResult(_state.RecordExists ? S.ToInfo(TaskId, _running || _completionPending) : null);

    public async Task<bool> ResumeAsync()
    {
        if (_running || _timer is not null || _completedHere)
        {
            // _completedHere: the activation ran the task to completion before this call got its turn.
            return Live || _running || _completedHere;
        }

        await _lock.WaitAsync();
        try
        {
            await RefreshIfStaleAsync();
            if (S.NeedsRewrite)
            {
                // The row could not be read; store it as a dead task so an operator sees why and scans skip it.
                S.LastError = S.LastError! with { At = _time.GetUtcNow() };
                await WriteWithRetryAsync("dead state", () => _state.WriteStateAsync());
                S.NeedsRewrite = false;
                DeferredTelemetry.Dead.Add(1);
                DeferredLog.TaskDead(_logger, TaskId, S.TaskType, S.Attempts, S.LastError?.Type ?? "", S.LastError?.Message ?? "");
            }

            await ScheduleLockedAsync();
            return Live || _completedHere;
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    public Task<bool> AdoptAsync()
    {
        _watched = true;
        return ResumeAsync();
    }

    public async Task<bool> RetryDeadAsync()
    {
        await _lock.WaitAsync();
        try
        {
            await RefreshIfStaleAsync();
            if (!_state.RecordExists || S.Status != DeferredTaskStatus.Dead)
            {
                return false;
            }

            var updated = S.Clone();
            updated.Status = DeferredTaskStatus.Pending;
            updated.Attempts = 0;
            updated.Interruptions = 0;
            updated.RunningSince = null;
            updated.Owner = _me;
            updated.NextRunAt = Now();
            if (!await TryWriteAsync(updated, "retry"))
            {
                return false;
            }

            await ScheduleLockedAsync();
            return true;
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    public async Task<bool> DeleteAsync()
    {
        ThrowIfRunning();
        await _lock.WaitAsync();
        try
        {
            ThrowIfRunning();
            await RefreshIfStaleAsync();
            if (!_state.RecordExists)
            {
                return false;
            }

            var hadReminder = S.HasReminder;
            CancelTimer();
            await _state.ClearStateAsync();
            if (hadReminder)
            {
                await UnregisterReminderAsync();
            }

            return true;
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ReminderName)
        {
            return;
        }

        await _lock.WaitAsync();
        try
        {
            await RefreshIfStaleAsync();
            if (!Live && !_completionPending)
            {
                // Nothing left to wake: the task completed, was deleted, died, or its row was never written.
                await UnregisterReminderAsync();
                if (_state.RecordExists && S.HasReminder)
                {
                    var updated = S.Clone();
                    updated.HasReminder = false;
                    await TryWriteAsync(updated, "reminder flag");
                }

                return;
            }

            await ScheduleLockedAsync();
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
    }

    /// <summary>
    /// Arms the wake-up for a live task: a timer when it is due within <see cref="DeferredTasksOptions.TimerThreshold"/>;
    /// otherwise the activation may go, and the task is woken by <see cref="Recovery.DuePoller"/> (default store) or
    /// by a durable reminder (stock store). Caller holds <see cref="_lock"/>.
    /// </summary>
    private async Task ScheduleLockedAsync()
    {
        if (!Live || _running || _timer is not null)
        {
            return;
        }

        var wait = S.NextRunAt - _time.GetUtcNow();
        if (wait <= _options.TimerThreshold)
        {
            ArmTimer(wait);
            return;
        }

        if (_useReminders && !S.HasReminder)
        {
            await this.RegisterOrUpdateReminder(ReminderName, wait, _options.ReminderPeriod);
            var updated = S.Clone();
            updated.HasReminder = true;
            await TryWriteAsync(updated, "reminder flag");
        }

        DeferredLog.TaskParked(_logger, TaskId, S.NextRunAt);
    }

    private void ArmTimer(TimeSpan wait)
    {
        if (wait <= TimeSpan.Zero)
        {
            wait = TimeSpan.Zero;

            // Counted now, not when the timer fires, so recovery's backlog limit sees due work immediately.
            _gate.Announce();
            _announced = true;
        }

        _timer = this.RegisterGrainTimer(RunDueAsync, new GrainTimerCreationOptions
        {
            DueTime = wait,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = false,
            KeepAlive = true,
        });
    }

    private void CancelTimer()
    {
        _timer?.Dispose();
        _timer = null;
        if (_announced)
        {
            _announced = false;
            _gate.Withdraw();
        }
    }

    private async Task RunDueAsync(CancellationToken cancellationToken)
    {
        // The firing timer is one-shot. Disposing it here would cancel this callback's token, so it is only
        // forgotten; it cannot fire again.
        _timer = null;
        var announced = _announced;
        _announced = false;

        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            if (_completionPending)
            {
                await RecordSuccessLockedAsync();
                return;
            }

            if (!Live || S.NextRunAt > _time.GetUtcNow())
            {
                if (announced)
                {
                    _gate.Withdraw();
                }

                // Never early: a timer can fire a little before the stored run time.
                await ScheduleLockedAsync();
                return;
            }

            if (_gate.IsStopping)
            {
                // The silo is stopping: start nothing. The row stays as it is and another silo adopts it.
                if (announced)
                {
                    _gate.Withdraw();
                }

                return;
            }

            if (!announced)
            {
                _gate.Announce();
            }

            _running = true;
            AttemptOutcome outcome;
            try
            {
                outcome = await _runner.RunAnnouncedAsync(TaskId, S, MarkStartedAsync, cancellationToken);
            }
            finally
            {
                _running = false;
            }

            switch (outcome.Result)
            {
                case AttemptResult.NotStarted:
                    // Stopped between storing the marker and taking a slot: nothing ran, so clear it.
                    await ClearMarkerAsync();
                    if (!_gate.IsStopping && !cancellationToken.IsCancellationRequested && Live)
                    {
                        // The marker could not be stored: try again later, with backoff, until the database is back.
                        _startBackoff = TimeSpan.FromTicks(Math.Clamp(_startBackoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromSeconds(30).Ticks));
                        ArmTimer(_startBackoff);
                    }

                    return;

                case AttemptResult.Interrupted:
                    // The silo is stopping and the handler did not finish: one of the at-least-once points in
                    // docs/semantics.md. Clear the marker so this does not count as a crash; the task resumes elsewhere.
                    await ClearMarkerAsync();
                    return;
            }

            _startBackoff = TimeSpan.Zero;
            await RecordLockedAsync(outcome);
        }
        finally
        {
            _running = false;
            _lock.Release();
            DeactivateIfDone();
        }
    }

    private async Task RecordLockedAsync(AttemptOutcome outcome)
    {
        switch (outcome.Result)
        {
            case AttemptResult.Succeeded:
                // At-least-once point: the handler has finished; if the silo dies before this delete commits,
                // the task runs again.
                _completionPending = true;
                await RecordSuccessLockedAsync();
                return;

            case AttemptResult.Failed when outcome.NextRunAt is { } next:
            {
                var updated = S.Clone();
                updated.Attempts++;
                updated.Status = DeferredTaskStatus.Failed;
                updated.NextRunAt = Microseconds(next);
                updated.LastError = outcome.Error;
                updated.RunningSince = null;
                updated.Owner = _me;
                if (_useReminders && next - _time.GetUtcNow() > _options.TimerThreshold)
                {
                    await this.RegisterOrUpdateReminder(ReminderName, next - _time.GetUtcNow(), _options.ReminderPeriod);
                    updated.HasReminder = true;
                }

                DeferredTelemetry.Failed.Add(1);
                DeferredLog.TaskFailed(_logger, outcome.Exception!, TaskId, S.TaskType, updated.Attempts, S.MaxAttempts, next);
                if (!await TryWriteAsync(updated, "failed attempt"))
                {
                    // The row still shows the previous attempt count; keep the retry going from memory.
                    _state.State = updated;
                }

                await ScheduleLockedAsync();
                return;
            }

            default:
            {
                var updated = S.Clone();
                if (outcome.Result == AttemptResult.Failed)
                {
                    updated.Attempts++;
                }

                updated.Status = DeferredTaskStatus.Dead;
                updated.LastError = outcome.Error;
                updated.RunningSince = null;
                updated.Owner = _me;
                var hadReminder = updated.HasReminder;
                updated.HasReminder = false;
                DeferredTelemetry.Dead.Add(1);
                DeferredLog.TaskDead(_logger, TaskId, S.TaskType, updated.Attempts, outcome.Error?.Type ?? "", outcome.Error?.Message ?? "");
                if (await TryWriteAsync(updated, "dead state") && hadReminder)
                {
                    await UnregisterReminderAsync();
                }

                return;
            }
        }
    }

    private async Task RecordSuccessLockedAsync()
    {
        var taskType = S.TaskType;
        var attempt = S.Attempts + 1;
        var hadReminder = S.HasReminder;
        if (_state.RecordExists
            && !await WriteWithRetryAsync("completion", () => _state.ClearStateAsync())
            && _state.RecordExists)
        {
            // Keep trying the delete, never the task: the handler already ran. If this activation dies first,
            // the row is still there and the task runs again (at-least-once).
            _timer = this.RegisterGrainTimer(RunDueAsync, new GrainTimerCreationOptions
            {
                DueTime = TimeSpan.FromSeconds(10),
                Period = Timeout.InfiniteTimeSpan,
                KeepAlive = true,
            });
            return;
        }

        _completionPending = false;
        _completedHere = true;
        DeferredTelemetry.Succeeded.Add(1);
        DeferredLog.TaskSucceeded(_logger, TaskId, taskType, attempt);
        if (hadReminder)
        {
            await UnregisterReminderAsync();
        }
    }

    /// <summary>
    /// For a watched task (<see cref="_watched"/>), stores the in-flight marker (and this silo as owner) just before
    /// a handler starts, so a crash during the attempt is counted by whichever activation comes next. For other
    /// tasks it only records this silo as owner when another silo is named. Runs holding a start permit, right before the attempt
    /// takes its slot. One try: when it fails the attempt is not started and the grain tries again later.
    /// </summary>
    private async Task<bool> MarkStartedAsync()
    {
        var watch = _watched && _options.QuarantineAfterInterruptions > 0;
        if (!watch && S.Owner == _me)
        {
            return true;
        }

        var marked = S.Clone();
        marked.RunningSince = watch ? Now() : null;
        marked.Owner = _me;
        return await TryWriteOnceAsync(marked, "in-flight marker");
    }

    /// <summary>Clears the in-flight marker of an attempt the silo's shutdown interrupted (best effort).</summary>
    private async Task ClearMarkerAsync()
    {
        if (_state.RecordExists && S.RunningSince is not null)
        {
            var cleared = S.Clone();
            cleared.RunningSince = null;
            await TryWriteOnceAsync(cleared, "in-flight marker");
        }
    }

    /// <summary>
    /// The first write of a new task, retried while the store is unreachable for up to
    /// <see cref="DeferredTasksOptions.EnqueueTimeout"/>; then <see cref="DeferredStoreUnavailableException"/>. False
    /// when the row turns out to exist already and was not written by this enqueue.
    /// </summary>
    private async Task<bool> InsertWithinTimeoutAsync(DeferredTaskState state)
    {
        var started = _time.GetUtcNow();
        var deadline = started + _options.EnqueueTimeout;
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            _state.State = state;
            Exception failure;
            try
            {
                var left = deadline - _time.GetUtcNow();
                var write = _state.WriteStateAsync();
                try
                {
                    await write.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time);
                }
                catch (TimeoutException)
                {
                    // Still in flight: nothing may read or write the row until it settles.
                    _pendingWrite = write;
                    throw;
                }

                return true;
            }
            catch (InconsistentStateException)
            {
                // The row exists: an earlier try of this same enqueue committed after reporting an error, or the
                // id was taken meanwhile. Read it to tell which.
                _state.State = new DeferredTaskState();
                _stale = true;
                await RefreshIfStaleAsync();
                if (_stale)
                {
                    failure = new TimeoutException("the existing row could not be read");
                }
                else if (_state.RecordExists)
                {
                    return S.EnqueuedAt == state.EnqueuedAt && S.TaskType == state.TaskType;
                }
                else
                {
                    continue;
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            // The write may still commit later. Forget what was written and read the row again before the next
            // decision; a verification timer makes sure a late commit is scheduled, not stranded.
            _state.State = new DeferredTaskState();
            _stale = true;
            if (_time.GetUtcNow() + delay >= deadline || failure is TimeoutException)
            {
                var waited = _time.GetUtcNow() - started;
                DeferredLog.EnqueueUnavailable(_logger, failure, TaskId, (long)waited.TotalMilliseconds);
                ArmVerifyTimer(TimeSpan.FromSeconds(1));
                throw new DeferredStoreUnavailableException(TaskId, waited, $"{failure.GetType().Name}: {failure.Message}");
            }

            await Task.Delay(delay, _time);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    /// <summary>
    /// After an enqueue whose outcome is unknown: read the row once the store answers, and schedule the task if the
    /// write committed after all. Retries with backoff while the store is unreachable.
    /// </summary>
    private void ArmVerifyTimer(TimeSpan wait)
    {
        if (_timer is not null)
        {
            return;
        }

        _timer = this.RegisterGrainTimer(
            async _ =>
            {
                _timer = null;
                await _lock.WaitAsync(CancellationToken.None);
                try
                {
                    await RefreshIfStaleAsync();
                    if (_stale)
                    {
                        ArmVerifyTimer(TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromSeconds(30).Ticks)));
                        return;
                    }

                    await ScheduleLockedAsync();
                }
                finally
                {
                    _lock.Release();
                    DeactivateIfDone();
                }
            },
            new GrainTimerCreationOptions { DueTime = wait, Period = Timeout.InfiniteTimeSpan, KeepAlive = true });
    }

    /// <summary>Writes <paramref name="updated"/> once; on failure the old state stays in memory.</summary>
    private async Task<bool> TryWriteOnceAsync(DeferredTaskState updated, string what)
    {
        var previous = _state.State;
        _state.State = updated;
        try
        {
            await _state.WriteStateAsync();
            return true;
        }
        catch (Exception ex)
        {
            _state.State = previous;
            DeferredLog.StoreWriteRetry(_logger, ex, TaskId, what, 1);
            _stale = true;
            if (ex is InconsistentStateException)
            {
                await RefreshIfStaleAsync();
            }

            return false;
        }
    }

    /// <summary>Writes <paramref name="updated"/> as the row, keeping the old state in memory if it fails.</summary>
    private async Task<bool> TryWriteAsync(DeferredTaskState updated, string what)
    {
        var previous = _state.State;
        _state.State = updated;
        if (await WriteWithRetryAsync(what, () => _state.WriteStateAsync()))
        {
            return true;
        }

        _state.State = previous;
        return false;
    }

    /// <summary>
    /// Retries a storage write for up to <see cref="DeferredTasksOptions.StoreRetryTimeout"/>. A version conflict
    /// means the row is not what this activation thinks (an earlier write committed though it reported an
    /// error): the row is read again instead of overwritten.
    /// </summary>
    private async Task<bool> WriteWithRetryAsync(string what, Func<Task> write)
    {
        var deadline = _time.GetUtcNow() + _options.StoreRetryTimeout;
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await write();
                return true;
            }
            catch (InconsistentStateException ex)
            {
                DeferredLog.StoreWriteGaveUp(_logger, ex, TaskId, what);
                _stale = true;
                await RefreshIfStaleAsync();
                return false;
            }
            catch (Exception ex) when (_time.GetUtcNow() + delay < deadline)
            {
                DeferredLog.StoreWriteRetry(_logger, ex, TaskId, what, attempt);
                await Task.Delay(delay, _time);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex)
            {
                DeferredLog.StoreWriteGaveUp(_logger, ex, TaskId, what);
                _stale = true;
                return false;
            }
        }
    }

    private async Task RefreshIfStaleAsync()
    {
        if (!_stale)
        {
            return;
        }

        if (_pendingWrite is { } pending)
        {
            if (!pending.IsCompleted)
            {
                return;
            }

            // Settled: whatever it did to the state object is overwritten by the read below.
            _ = pending.Exception;
            _pendingWrite = null;
        }

        try
        {
            await _state.ReadStateAsync();
            _stale = false;
        }
        catch (Exception ex)
        {
            // Still unreachable: stay stale, and let the caller's own write fail and report it.
            DeferredLog.StoreWriteRetry(_logger, ex, TaskId, "re-read", 1);
        }
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
            DeferredLog.ReminderCleanupFailed(_logger, ex, TaskId);
        }
    }

    /// <summary>Now, at the microsecond precision PostgreSQL stores, so memory and row always agree.</summary>
    private DateTimeOffset Now() => Microseconds(_time.GetUtcNow());

    private static DateTimeOffset Microseconds(DateTimeOffset t) => Timestamps.Microseconds(t);

    private void ThrowIfRunning()
    {
        if (_running)
        {
            throw new InvalidOperationException($"Deferred task '{TaskId}' has an attempt running; delete it after the attempt ends.");
        }
    }

    /// <summary>Lets the activation go once nothing in memory is waiting: no timer, no attempt, no write.</summary>
    private void DeactivateIfDone()
    {
        if (_timer is null && !_running && _lock.CurrentCount == 1)
        {
            DeactivateOnIdle();
        }
    }
}
