using Deferred.Storage.Resilience;

namespace Deferred.Wakeups;

/// <summary>What a loop's pass is told: whether <see cref="BackgroundLoop.WakeNow"/> was called since the last pass, and
/// whether the last pass failed.</summary>
internal readonly record struct LoopPass(bool Woken, bool AfterFailure);

/// <summary>
/// The one shape of the silo's background loops (the orphan sweep, the stranded-task audit, housekeeping, the due-time
/// poller, the scheduler, the notification listener): run a pass, which returns how long to wait before the next; wait
/// that long, or until <see cref="WakeNow"/>. A pass that throws is classified once, here: an unreachable store is the
/// resilience policy's to log (once per outage), anything else the loop's own <see cref="LogFailure"/>; then the loop
/// backs off with the one backoff (<see cref="StoreWindow.Claim"/>'s, at most <see cref="MaxRetryWait"/>) and tries
/// again. Started and stopped with the silo (<see cref="SiloBackgroundWork"/>).
/// </summary>
internal abstract class BackgroundLoop(StoreResilience resilience, TimeProvider time) : SiloBackgroundWork
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>The clock the loop waits on.</summary>
    protected TimeProvider Time { get; } = time;

    /// <summary>Runs a pass now, or right after the one under way.</summary>
    public void WakeNow()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }

    /// <summary>How long to wait before the first pass (zero: at once).</summary>
    protected virtual TimeSpan FirstWait => TimeSpan.Zero;

    /// <summary>The longest wait after a failed pass (e.g. the loop's own interval).</summary>
    protected virtual TimeSpan MaxRetryWait => Timeout.InfiniteTimeSpan;

    /// <summary>One pass; returns how long to wait before the next (zero: at once).</summary>
    protected abstract Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping);

    /// <summary>A pass failed, not because the store is unreachable: log it once; the next try is in <paramref name="retryIn"/>.</summary>
    protected abstract void LogFailure(Exception error, TimeSpan retryIn);

    protected override async Task RunAsync(CancellationToken stopping)
    {
        var backoff = resilience.Window(StoreWindow.Claim);
        var failures = 0;
        var wait = FirstWait;
        var woken = false;
        while (true)
        {
            if (wait > TimeSpan.Zero || _wake.CurrentCount > 0)
            {
                try
                {
                    woken |= await WaitAsync(wait, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            if (stopping.IsCancellationRequested)
            {
                return;
            }

            try
            {
                wait = await RunOnceAsync(new LoopPass(woken, failures > 0), stopping);
                failures = 0;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                wait = backoff.Backoff(++failures);
                if (MaxRetryWait != Timeout.InfiniteTimeSpan && wait > MaxRetryWait)
                {
                    wait = MaxRetryWait;
                }

                if (StoreFailures.Classify(ex) == StoreOutcome.Unavailable)
                {
                    // An outage is logged once, by the resilience policy.
                    resilience.Unreachable(ex);
                }
                else
                {
                    LogFailure(ex, wait);
                }
            }

            woken = false;
        }
    }

    // True when woken; false when the wait ran out. The wait is on the TimeProvider, so tests can drive it.
    private async Task<bool> WaitAsync(TimeSpan wait, CancellationToken stopping)
    {
        if (_wake.Wait(0, CancellationToken.None))
        {
            return true;
        }

        if (wait <= TimeSpan.Zero)
        {
            return false;
        }

        using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var woken = _wake.WaitAsync(Timeout.Infinite, waitEnds.Token);
        var delay = Task.Delay(wait, Time, waitEnds.Token);
        var first = await Task.WhenAny(woken, delay);
        await waitEnds.CancelAsync();
        stopping.ThrowIfCancellationRequested();
        if (first == woken)
        {
            return true;
        }

        // The delay ran out; a release that raced the cancel still counts (the semaphore was taken).
        try
        {
            return await woken;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
