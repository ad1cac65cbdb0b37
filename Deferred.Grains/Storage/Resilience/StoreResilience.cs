using Deferred.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Deferred.Storage.Resilience;

/// <summary>What a store operation came to after its window's retries.</summary>
/// <param name="Outcome">Applied, or why not.</param>
/// <param name="Error">The last error; null when applied.</param>
/// <param name="Waited">How long the window ran.</param>
/// <param name="StillRunning">The operation, when the window closed while it was still in flight (it may yet commit).</param>
internal readonly record struct StoreResult(StoreOutcome Outcome, Exception? Error, TimeSpan Waited, Task? StillRunning = null)
{
    public bool Applied => Outcome == StoreOutcome.Applied;

    /// <summary>
    /// For a caller that waits on the write (an enqueue, an operator's action): returns when applied; otherwise throws
    /// <see cref="DeferredStoreUnavailableException"/> for an unreachable store, or the error itself.
    /// </summary>
    public void ThrowUnlessApplied(string taskId)
    {
        if (Outcome == StoreOutcome.Unavailable)
        {
            throw new DeferredStoreUnavailableException(taskId, Waited);
        }

        if (!Applied)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Error!);
        }
    }
}

/// <summary>
/// The one resilience policy at the store boundary: every store operation of the runtime runs through
/// <see cref="RunAsync"/> under a named <see cref="StoreWindow"/>, which retries while the database is unreachable
/// (one classifier, <see cref="StoreFailures"/>; one backoff, <see cref="RetryWindow.Backoff"/>) and returns what it came
/// to. Version conflicts and permanent errors are returned at once, never retried here.
/// </summary>
/// <remarks>
/// <para>
/// An outage is logged once when it starts (warning) and once when it ends (information), whatever number of
/// operations waited through it; single retries are debug lines, and only what is given up is an error. Its end is
/// decided by a probe of the database (<see cref="IStoreProbe"/>), not by the next operation that happens to succeed:
/// an idle silo still reports the end, two outages with a good spell between them are two, and an operation answered
/// without the database (from memory) does not end an outage it never looked at.
/// </para>
/// <para>
/// A retry runs the operation on the scheduler its caller ran on: a grain's write (<c>IPersistentState</c>) may only be
/// called on its activation's scheduler, and the awaits here leave it for speed.
/// </para>
/// </remarks>
// The token source is only cancelled, never disposed: a probe may still read its token as the silo stops.
#pragma warning disable CA1001
internal sealed class StoreResilience : IDisposable
#pragma warning restore CA1001
{
    private readonly DeferredOptions _options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly IStoreProbe? _probe;
    private readonly CoarseDeadlines _deadlines;
    private readonly CancellationTokenSource _disposed = new();
    private long _outageSince;
    private TaskCompletionSource _probeNow = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates the policy; <paramref name="probe"/> decides when an outage ends (without one, the next success does).</summary>
    public StoreResilience(IOptions<DeferredOptions> options, TimeProvider time, ILogger<StoreResilience> logger, IStoreProbe? probe = null)
    {
        _options = options.Value;
        this.time = time;
        this.logger = logger;
        _probe = probe;
        _deadlines = new(time);
    }

    /// <summary>How often an outage's probe asks the database whether it is back, at first and at most.</summary>
    internal static readonly (TimeSpan First, TimeSpan Max) ProbeEvery = (TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));

    /// <summary>The window's budget and backoff.</summary>
    public RetryWindow Window(StoreWindow window) => window switch
    {
        StoreWindow.Enqueue or StoreWindow.Read => new(_options.EnqueueTimeout, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1)),
        StoreWindow.Outcome => new(_options.StoreRetryTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5)),
        StoreWindow.Start => new(TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)),
        StoreWindow.Claim => new(Timeout.InfiniteTimeSpan, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1)),
        StoreWindow.SchemaCheck => new(TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5)),
        _ => throw new ArgumentOutOfRangeException(nameof(window), window, "Unknown store window."),
    };

    /// <summary>True while the last store operation of this silo found the database unreachable.</summary>
    public bool InOutage => Volatile.Read(ref _outageSince) != 0;

    /// <summary>
    /// Runs <paramref name="operation"/> under <paramref name="window"/>: retried with backoff while the store is
    /// unreachable and the window allows. For <see cref="StoreWindow.Enqueue"/> the window also bounds how long one try
    /// may take, so the caller never waits longer than its budget. <paramref name="subject"/> and <paramref name="what"/> name it in logs (a task id and
    /// "completion", say).
    /// </summary>
    public async Task<StoreResult> RunAsync(StoreWindow window, string subject, string what, Func<Task> operation, CancellationToken cancellationToken = default)
    {
        var w = Window(window);
        var started = time.GetTimestamp();

        // The caller's scheduler (an activation's, for a grain's write): retries run there, see the remarks.
        var scheduler = TaskScheduler.Current;
        for (var retry = 1; ; retry++)
        {
            Task call;
            try
            {
                call = retry == 1 || TaskScheduler.Current == scheduler
                    ? operation()
                    : Task.Factory.StartNew(operation, CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler).Unwrap();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                call = Task.FromException(ex);
            }

            // Only an enqueue bounds the try itself (its caller is waiting); other writes are left to finish, so no
            // write is still in flight behind the activation's back.
            var left = window == StoreWindow.Enqueue ? w.Budget - time.GetElapsedTime(started) : Timeout.InfiniteTimeSpan;
            var deadline = left == Timeout.InfiniteTimeSpan || cancellationToken.CanBeCanceled || left > CoarseDeadlines.MaxShared ? default : _deadlines.After(left);
            Exception failure;
            try
            {
                await (left == Timeout.InfiniteTimeSpan ? call.WaitAsync(cancellationToken)
                    : deadline.CanBeCanceled ? call.WaitAsync(deadline)
                    : call.WaitAsync(Max(left, TimeSpan.Zero), time, cancellationToken)).ConfigureAwait(false);
                Reachable();
                return new(StoreOutcome.Applied, null, time.GetElapsedTime(started));
            }
            catch (Exception ex) when ((ex is TimeoutException && !call.IsCompleted) || (ex is OperationCanceledException && deadline.IsCancellationRequested))
            {
                // The window closed with the operation still in flight: it may yet commit.
                var timeout = ex as TimeoutException ?? new TimeoutException($"The store did not answer within {w.Budget}.");
                Unreachable(timeout);
                return GaveUp(window, subject, what, new(StoreOutcome.Unavailable, timeout, time.GetElapsedTime(started), call));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            var outcome = StoreFailures.Classify(failure);
            if (outcome == StoreOutcome.VersionConflict)
            {
                Reachable();
                DeferredLog.StoreConflict(logger, subject, what);
                return new(outcome, failure, time.GetElapsedTime(started));
            }

            if (outcome == StoreOutcome.Unavailable)
            {
                Unreachable(failure);
                var next = w.Backoff(retry);
                if (w.Allows(time.GetElapsedTime(started), next))
                {
                    DeferredLog.StoreRetrying(logger, subject, what, retry, StoreFailures.Describe(failure));
                    await Task.Delay(next, time, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            return GaveUp(window, subject, what, new(outcome, failure, time.GetElapsedTime(started)));
        }
    }

    /// <summary>
    /// Runs an operator's read of the catalog (a list, a count, the ids of a bulk action) once. An unreachable database
    /// becomes <see cref="DeferredStoreUnavailableException"/> saying it could not <paramref name="what"/>: the one
    /// typed exception a caller can tell apart, and the only one of these that crosses to an Orleans client (Npgsql's
    /// exceptions have no Orleans codec). The cause is noted here as an outage, never sent to the caller.
    /// </summary>
    public async Task<T> OperatorReadAsync<T>(string what, Func<Task<T>> read)
    {
        try
        {
            return await read();
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex) && ex is not DeferredStoreUnavailableException)
        {
            Unreachable(ex);
            throw new DeferredStoreUnavailableException($"Deferred could not reach its task store, so it could not {what}; nothing was changed. Try again when the database is back.");
        }
    }

    private StoreResult GaveUp(StoreWindow window, string subject, string what, StoreResult result)
    {
        // A single-try window (a start) is retried by its caller's own backoff: not given up, not an error. A store
        // disposed under a late timer (the host is shutting down) ends quietly.
        if (window != StoreWindow.Start && result.Error is not ObjectDisposedException)
        {
            DeferredLog.StoreGaveUp(logger, subject, what, window.ToString(), (long)result.Waited.TotalMilliseconds, StoreFailures.Describe(result.Error!));
        }

        return result;
    }

    /// <summary>Notes that the store was found unreachable; the first such note of an outage logs it and starts its probe.</summary>
    public void Unreachable(Exception cause)
    {
        var since = Math.Max(1, time.GetTimestamp());
        if (Interlocked.CompareExchange(ref _outageSince, since, 0) == 0)
        {
            DeferredLog.StoreOutageStarted(logger, StoreFailures.Describe(cause));
            if (_probe is not null && !_disposed.IsCancellationRequested)
            {
                _ = Task.Run(() => ProbeUntilBackAsync(since));
            }
        }
    }

    private void Reachable()
    {
        // Hot path: one volatile read when there is no outage.
        if (Volatile.Read(ref _outageSince) is not 0 and var since)
        {
            if (_probe is null)
            {
                Ended(since);
            }
            else
            {
                // An operation got through: let the probe look now rather than at its next turn.
                _probeNow.TrySetResult();
            }
        }
    }

    private void Ended(long since)
    {
        if (Interlocked.CompareExchange(ref _outageSince, 0, since) == since)
        {
            DeferredLog.StoreOutageEnded(logger, (long)time.GetElapsedTime(since).TotalMilliseconds);
        }
    }

    // One probe loop per outage: asks the database until it answers, then ends the outage (one 1019).
    private async Task ProbeUntilBackAsync(long since)
    {
        var wait = ProbeEvery.First;
        var cancel = _disposed.Token;
        while (!cancel.IsCancellationRequested && Volatile.Read(ref _outageSince) == since)
        {
            var woken = Interlocked.Exchange(ref _probeNow, new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            try
            {
                await woken.WaitAsync(wait, time, cancel).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                bounded.CancelAfter(TimeSpan.FromSeconds(5));
                await _probe!.PingAsync(bounded.Token).ConfigureAwait(false);
                Ended(since);
                return;
            }
            catch (Exception) when (!cancel.IsCancellationRequested)
            {
                // Still down (or the probe timed out): ask again, less often.
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, ProbeEvery.Max.Ticks));
            }
            catch (Exception)
            {
                return;
            }
        }
    }

    /// <summary>Stops an outage's probe (the silo is shutting down).</summary>
    public void Dispose() => _disposed.Cancel();

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
