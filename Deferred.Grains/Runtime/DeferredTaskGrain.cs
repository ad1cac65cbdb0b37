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
    private readonly SemaphoreSlim _lock = new(1, 1);

    // The default store has its own durable wake-up (DuePoller reads due times from the table); the stock
    // store relies on Orleans reminders.
    private readonly bool _useReminders;

    private IGrainTimer? _timer;
    private bool _announced;
    private bool _running;
    private bool _stale;
    private bool _completionPending;

    public DeferredTaskGrain(
        [PersistentState(DeferredTaskState.StateName, DeferredStorage.ProviderName)] IPersistentState<DeferredTaskState> state,
        TaskTypeRegistry registry,
        TaskRunner runner,
        ExecutionGate gate,
        Serializer serializer,
        IOptions<DeferredTasksOptions> options,
        TimeProvider time,
        ILogger<DeferredTaskGrain> logger)
    {
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

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CancelTimer();
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
            };

            // A far task's reminder is registered before the row is written. A crash in between leaves a
            // reminder with no row, which finds nothing and unregisters itself; the other order could leave a
            // row that nothing wakes.
            if (_useReminders && runAt - now > _options.TimerThreshold)
            {
                await this.RegisterOrUpdateReminder(ReminderName, runAt - now, _options.ReminderPeriod);
                state.HasReminder = true;
            }

            _state.State = state;
            try
            {
                await _state.WriteStateAsync();
            }
            catch
            {
                // The write may or may not have committed; read the row again before the next decision.
                _state.State = new DeferredTaskState();
                _stale = true;
                throw;
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
        if (_running || _timer is not null)
        {
            return Live || _running;
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
            return Live;
        }
        finally
        {
            _lock.Release();
            DeactivateIfDone();
        }
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

            if (!announced)
            {
                _gate.Announce();
            }

            _running = true;
            AttemptOutcome outcome;
            try
            {
                outcome = await _runner.RunAnnouncedAsync(TaskId, S, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The activation is going away (silo shutdown). The row is unchanged, so the task runs again
                // after recovery; this is one of the at-least-once points in docs/semantics.md.
                return;
            }
            finally
            {
                _running = false;
            }

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
        DeferredTelemetry.Succeeded.Add(1);
        DeferredLog.TaskSucceeded(_logger, TaskId, taskType, attempt);
        if (hadReminder)
        {
            await UnregisterReminderAsync();
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
