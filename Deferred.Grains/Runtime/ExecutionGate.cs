using Deferred.Options;
using Microsoft.Extensions.Options;

namespace Deferred.Runtime;

/// <summary>
/// Bounds how many attempts run at once on this silo (<see cref="DeferredTasksOptions.MaxConcurrentTasks"/>), counts
/// the due work queued behind it (so recovery can feed a backlog in at the rate it drains), and carries the silo's
/// shutdown: once <see cref="BeginStop"/> is called no attempt gets a slot, and <see cref="CancelRunning"/> cancels
/// the tokens of those still running.
/// </summary>
internal sealed class ExecutionGate(IOptions<DeferredTasksOptions> options) : IDisposable
{
    // Clamped: the gate can be built before the options validator runs, and the validator should be the one to report.
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentTasks), Math.Max(1, options.Value.MaxConcurrentTasks));
    private readonly CancellationTokenSource _noNewStarts = new();
    private readonly CancellationTokenSource _cancelRunning = new();
    private TaskCompletionSource _drained = NewSignal();
    private int _queued;
    private int _running;

    /// <summary>Due attempts that are announced, waiting for a slot, or running.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Attempts holding a slot.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>True once the silo has begun to stop: no attempt starts from then on.</summary>
    public bool IsStopping => _noNewStarts.IsCancellationRequested;

    /// <summary>Cancelled when the shutdown grace period is over; every handler's token is linked to it.</summary>
    public CancellationToken RunningCancelled => _cancelRunning.Token;

    /// <summary>Counts a due attempt before it reaches the gate (a timer about to fire). Pair with <see cref="Withdraw"/> or <see cref="EnterAnnouncedAsync"/>.</summary>
    public void Announce() => Interlocked.Increment(ref _queued);

    /// <summary>Un-counts an announced attempt that will not run here after all.</summary>
    public void Withdraw() => Leave();

    /// <summary>
    /// Waits for a slot for an attempt counted by <see cref="Announce"/>. Dispose the result when the attempt ends.
    /// Throws <see cref="OperationCanceledException"/> (and un-counts the attempt) when the silo starts stopping
    /// or <paramref name="cancellationToken"/> is cancelled first.
    /// </summary>
    public async ValueTask<Slot> EnterAnnouncedAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _noNewStarts.Token);
            await _slots.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch
        {
            Leave();
            throw;
        }

        if (IsStopping)
        {
            _slots.Release();
            Leave();
            throw new OperationCanceledException("The silo is stopping; the attempt was not started.", _noNewStarts.Token);
        }

        Interlocked.Increment(ref _running);
        return new Slot(this);
    }

    /// <summary>Waits until fewer than <paramref name="limit"/> due attempts are queued or running.</summary>
    public async Task WaitUntilBelowAsync(int limit, CancellationToken cancellationToken)
    {
        while (true)
        {
            var signal = Volatile.Read(ref _drained).Task;
            if (Queued < limit)
            {
                return;
            }

            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>From now on no attempt starts on this silo.</summary>
    public void BeginStop() => _noNewStarts.Cancel();

    /// <summary>Cancels the tokens of the attempts still running.</summary>
    public void CancelRunning() => _cancelRunning.Cancel();

    /// <summary>Waits until no attempt holds a slot, or <paramref name="timeout"/> passes; true when none does.</summary>
    public async Task<bool> WaitForNoneRunningAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var signal = Volatile.Read(ref _drained).Task;
            if (Running == 0)
            {
                return true;
            }

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await signal.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return Running == 0;
            }
        }
    }

    public void Dispose()
    {
        _slots.Dispose();
        _noNewStarts.Dispose();
        _cancelRunning.Dispose();
    }

    private void Leave()
    {
        Interlocked.Decrement(ref _queued);
        Interlocked.Exchange(ref _drained, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A held execution slot.</summary>
    internal readonly struct Slot(ExecutionGate gate) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.Decrement(ref gate._running);
            gate._slots.Release();
            gate.Leave();
        }
    }
}
