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

    // Attempts storing their in-flight marker, or holding one and waiting for a slot: StartPermitsPerSlot per
    // slot. Markers are written while earlier attempts run, not inside the slots; and there are enough permits
    // for the marker round trip (a batched commit, tens of milliseconds under load) not to cap throughput at
    // permits / commit latency. Few enough that a crash counts an interruption only for attempts that were
    // running or about to.
    private readonly SemaphoreSlim _starting = new(StartPermitsPerSlot * Math.Max(1, options.Value.MaxConcurrentTasks), StartPermitsPerSlot * Math.Max(1, options.Value.MaxConcurrentTasks));

    /// <summary>Start permits per execution slot.</summary>
    public const int StartPermitsPerSlot = 4;
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

    /// <summary>Counts a due attempt before it reaches the gate (a timer about to fire). Pair with <see cref="Withdraw"/> or <see cref="StartAnnouncedAsync"/>.</summary>
    public void Announce() => Interlocked.Increment(ref _queued);

    /// <summary>Un-counts an announced attempt that will not run here after all.</summary>
    public void Withdraw() => Leave();

    /// <summary>
    /// Waits for a start permit for an attempt counted by <see cref="Announce"/>: the attempt may now prepare (store
    /// its marker), then must take its slot with <see cref="EnterAsync"/>. Throws <see cref="OperationCanceledException"/>
    /// (and un-counts the attempt) when the silo starts stopping or <paramref name="cancellationToken"/> is cancelled first.
    /// </summary>
    public async ValueTask<Permit> StartAnnouncedAsync(CancellationToken cancellationToken)
    {
        await WaitAsync(_starting, cancellationToken).ConfigureAwait(false);
        return new Permit(this);
    }

    /// <summary>
    /// Trades <paramref name="permit"/> for an execution slot. Dispose the result when the attempt ends. Throws
    /// <see cref="OperationCanceledException"/> (and un-counts the attempt) when the silo starts stopping first.
    /// </summary>
    public async ValueTask<Slot> EnterAsync(Permit permit, CancellationToken cancellationToken)
    {
        try
        {
            await WaitAsync(_slots, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            permit.Release();
        }

        Interlocked.Increment(ref _running);
        return new Slot(this);
    }

    private async ValueTask WaitAsync(SemaphoreSlim semaphore, CancellationToken cancellationToken)
    {
        // Hot path: a free permit or slot is taken without building a linked token source.
        if (!IsStopping && !cancellationToken.IsCancellationRequested && semaphore.Wait(0, CancellationToken.None))
        {
            return;
        }

        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _noNewStarts.Token);
            await semaphore.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch
        {
            Leave();
            throw;
        }

        if (IsStopping)
        {
            semaphore.Release();
            Leave();
            throw new OperationCanceledException("The silo is stopping; the attempt was not started.", _noNewStarts.Token);
        }
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
        _starting.Dispose();
        _noNewStarts.Dispose();
        _cancelRunning.Dispose();
    }

    private void Leave()
    {
        Interlocked.Decrement(ref _queued);
        Interlocked.Exchange(ref _drained, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A held start permit; give it back (once) by trading it for a slot or with <see cref="Release"/>.</summary>
    internal sealed class Permit(ExecutionGate gate)
    {
        private int _released;

        /// <summary>Gives the permit back without taking a slot: the attempt is not going to run (its count is withdrawn).</summary>
        public void Abandon()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate._starting.Release();
                gate.Leave();
            }
        }

        internal void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate._starting.Release();
            }
        }
    }

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
