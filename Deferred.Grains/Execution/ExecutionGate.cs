using Microsoft.Extensions.Options;

namespace Deferred.Execution;

/// <summary>
/// Bounds how many attempts run at once on this silo (<see cref="DeferredOptions.MaxConcurrentTasks"/>), counts
/// the due work queued behind it (so recovery can feed a backlog in at the rate it drains), and carries the silo's
/// shutdown: once <see cref="BeginStop"/> is called no attempt gets a slot, and <see cref="CancelRunning"/> cancels
/// the tokens of those still running.
/// </summary>
internal sealed class ExecutionGate(IOptions<DeferredOptions> options) : IDisposable
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
    private int _abandoned;
    private System.Diagnostics.Metrics.Meter? _gauges;

    /// <summary>Due attempts that are announced, waiting for a slot, or running.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Attempts holding a slot.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>True once the silo has begun to stop: no attempt starts from then on.</summary>
    public bool IsStopping => _noNewStarts.IsCancellationRequested;

    /// <summary>Cancelled when the silo begins to stop: waits for a start end then.</summary>
    public CancellationToken NoNewStarts => _noNewStarts.Token;

    /// <summary>Cancelled when the shutdown grace period is over; every handler's token is linked to it.</summary>
    public CancellationToken RunningCancelled => _cancelRunning.Token;

    /// <summary>
    /// Counts a due attempt (a timer about to fire, or firing) and returns the handle that carries it through the
    /// gate: <see cref="Reservation.StartAsync"/> for a start permit, <see cref="Reservation.EnterAsync"/> for a slot.
    /// Disposing the handle gives back whatever it holds, exactly once, on every path.
    /// </summary>
    public Reservation Announce()
    {
        Interlocked.Increment(ref _queued);
        return new Reservation(this);
    }

    /// <summary>Handlers that ignored their cancelled token and were abandoned, and have not returned yet.</summary>
    public int Abandoned => Volatile.Read(ref _abandoned);

    /// <summary>Counts an abandoned handler until <paramref name="handler"/> finally ends.</summary>
    public void TrackAbandoned(Task handler)
    {
        Interlocked.Increment(ref _abandoned);
        _ = handler.ContinueWith(static (_, gate) => Interlocked.Decrement(ref ((ExecutionGate)gate!)._abandoned), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async ValueTask WaitAsync(SemaphoreSlim semaphore, CancellationToken cancellationToken)
    {
        // Hot path: a free permit or slot is taken without building a linked token source.
        if (!IsStopping && !cancellationToken.IsCancellationRequested && semaphore.Wait(0, CancellationToken.None))
        {
            return;
        }

        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _noNewStarts.Token))
        {
            await semaphore.WaitAsync(linked.Token).ConfigureAwait(false);
        }

        if (IsStopping)
        {
            semaphore.Release();
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

    /// <summary>Publishes this silo's running and due attempts as gauges (<c>deferred.attempts.running</c>, <c>deferred.tasks.due</c>).</summary>
    public void PublishGauges() => _gauges ??= Diagnostics.DeferredTelemetry.CreateGateMeter(() => Running, () => Queued);

    public void Dispose()
    {
        _gauges?.Dispose();
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

    /// <summary>
    /// One due attempt's passage through the gate, owned by whoever runs it: counted (announced), then holding a start
    /// permit, then holding an execution slot. <see cref="Dispose"/> gives back what it holds and un-counts the attempt,
    /// exactly once (compare-and-swap), whichever step it got to.
    /// </summary>
    internal sealed class Reservation(ExecutionGate gate) : IDisposable
    {
        private const int Announced = 0, Permitted = 1, Running = 2, Released = 3;
        private int _stage;

        /// <summary>True once the attempt holds an execution slot.</summary>
        public bool HoldsSlot => Volatile.Read(ref _stage) == Running;

        /// <summary>
        /// Waits for a start permit: the attempt may now prepare (store its marker) before it takes its slot. Throws
        /// <see cref="OperationCanceledException"/> when the silo starts stopping or <paramref name="cancellationToken"/> is
        /// cancelled first; the reservation then still only counts the attempt, until disposed.
        /// </summary>
        public async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            await gate.WaitAsync(gate._starting, cancellationToken).ConfigureAwait(false);
            if (Interlocked.CompareExchange(ref _stage, Permitted, Announced) != Announced)
            {
                gate._starting.Release();
                throw new ObjectDisposedException(nameof(Reservation));
            }
        }

        /// <summary>Trades the start permit for an execution slot. Throws <see cref="OperationCanceledException"/> when the silo starts stopping first.</summary>
        public async ValueTask EnterAsync(CancellationToken cancellationToken)
        {
            await gate.WaitAsync(gate._slots, cancellationToken).ConfigureAwait(false);
            if (Interlocked.CompareExchange(ref _stage, Running, Permitted) != Permitted)
            {
                gate._slots.Release();
                throw new ObjectDisposedException(nameof(Reservation));
            }

            gate._starting.Release();
            Interlocked.Increment(ref gate._running);
        }

        /// <summary>Gives back the permit or slot held, and un-counts the attempt. Only the first call does anything.</summary>
        public void Dispose()
        {
            switch (Interlocked.Exchange(ref _stage, Released))
            {
                case Permitted:
                    gate._starting.Release();
                    break;
                case Running:
                    Interlocked.Decrement(ref gate._running);
                    gate._slots.Release();
                    break;
                case Released:
                    return;
            }

            gate.Leave();
        }
    }
}
