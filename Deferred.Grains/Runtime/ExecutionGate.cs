using Deferred.Options;
using Microsoft.Extensions.Options;

namespace Deferred.Runtime;

/// <summary>
/// Bounds how many attempts run at once on this silo (<see cref="DeferredTasksOptions.MaxConcurrentTasks"/>) and
/// counts the due work queued behind it, so recovery can feed a backlog in at the rate it drains.
/// </summary>
internal sealed class ExecutionGate(IOptions<DeferredTasksOptions> options) : IDisposable
{
    // Clamped: the gate can be built before the options validator runs, and the validator should be the one to report.
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentTasks), Math.Max(1, options.Value.MaxConcurrentTasks));
    private TaskCompletionSource _drained = NewSignal();
    private int _queued;

    /// <summary>Due attempts that are announced, waiting for a slot, or running.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Counts a due attempt before it reaches the gate (a timer about to fire). Pair with <see cref="Withdraw"/> or <see cref="EnterAnnouncedAsync"/>.</summary>
    public void Announce() => Interlocked.Increment(ref _queued);

    /// <summary>Un-counts an announced attempt that will not run here after all.</summary>
    public void Withdraw() => Leave();

    /// <summary>Waits for a slot for an attempt counted by <see cref="Announce"/>. Dispose the result when the attempt ends.</summary>
    public async ValueTask<Slot> EnterAnnouncedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Leave();
            throw;
        }

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

    public void Dispose() => _slots.Dispose();

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
            gate._slots.Release();
            gate.Leave();
        }
    }
}
