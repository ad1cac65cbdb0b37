using System.Collections.Concurrent;
using Deferred.Diagnostics;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Deferred.Wakeups;

/// <summary>
/// Resume calls that failed, tried again soon. Every wake-up of a stored task that no activation holds goes through
/// <see cref="TaskResumer"/>: the orphan sweep's adopt, the due-time poller, the stranded-task audit, and the wake of rows a
/// silo has just committed (batch enqueue, schedule occurrences). When such a call fails, the row already names a live
/// owner (this silo: the sweep claimed it, or this silo wrote it), so no sweep adopts it again, and the due-time poller
/// only looks at rows coming due ahead of it. Before this class, only the stranded-task audit found such a task, 30 s
/// after it was due and only after a periodic sweep: 30 to 60 s late. That is what happened in the seconds after a silo
/// crash, while Orleans' grain directory still named the dead silo (a call routed there fails). Now the call is tried
/// again after <see cref="FirstDelay"/>, doubling to <see cref="MaxDelay"/>, until it gets through or
/// <see cref="MaxTries"/> tries have failed (then the audit is the backstop again).
/// </summary>
internal sealed class ResumeRetries(TaskGrainReferences grains, IOptions<DeferredOptions> options, TimeProvider time, ILogger<ResumeRetries> logger) : SiloBackgroundWork
{
    /// <summary>The wait before the first retry.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between two retries.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>Retries of one task before it is left to the stranded-task audit (about 45 s of trying).</summary>
    public const int MaxTries = 12;

    /// <summary>Tasks waiting for a retry at most; beyond it a failed resume is left to the audit.</summary>
    public const int Capacity = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly int _concurrency = Math.Max(1, options.Value.RecoveryConcurrency);

    protected override bool Enabled => true;

    /// <summary>Tasks waiting for a retry now (for tests and diagnostics).</summary>
    public int Pending => _pending.Count;

    /// <summary>The wait before retry number <paramref name="tries"/> (1-based).</summary>
    public static TimeSpan Delay(int tries) => new RetryWindow(Timeout.InfiniteTimeSpan, FirstDelay, MaxDelay).Backoff(tries);

    /// <summary>Notes that the resume of <paramref name="taskId"/> failed; it is tried again soon.</summary>
    public void Add(string taskId, bool adopted, bool recovery, Exception error)
    {
        if (_pending.Count >= Capacity && !_pending.ContainsKey(taskId))
        {
            DeferredLog.ResumeGaveUp(logger, error, taskId, 0);
            return;
        }

        var first = new Entry(adopted, 0, time.GetUtcNow() + Delay(1)) { Recovery = recovery };
        var entry = _pending.AddOrUpdate(taskId, first, (_, e) => e with { Adopted = e.Adopted || adopted, Recovery = e.Recovery || recovery });
        if (entry.Tries == 0)
        {
            DeferredLog.RecoveryResumeFailed(logger, error, taskId, (long)Delay(1).TotalMilliseconds);
        }

        Wake();
    }

    protected override async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var due = _pending.Where(p => p.Value.At <= now).ToList();
            if (due.Count > 0)
            {
                var parallel = new ParallelOptions { MaxDegreeOfParallelism = _concurrency, CancellationToken = stopping };
                try
                {
                    await Parallel.ForEachAsync(due, parallel, async (item, ct) => await RetryAsync(item.Key, item.Value, ct));
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
            }

            var next = _pending.IsEmpty ? MaxDelay : _pending.Values.Min(e => e.At) - time.GetUtcNow();
            next = next <= TimeSpan.Zero ? TimeSpan.Zero : next > MaxDelay ? MaxDelay : next;
            try
            {
                await _wake.WaitAsync(next, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RetryAsync(string taskId, Entry entry, CancellationToken cancellationToken)
    {
        var tries = entry.Tries + 1;
        try
        {
            var grain = grains.Recoverable(taskId);
            var live = await (entry.Adopted ? grain.AdoptAsync() : grain.ResumeAsync()).WaitAsync(cancellationToken);
            _pending.TryRemove(taskId, out _);
            if (live && entry.Recovery)
            {
                DeferredTelemetry.Recovered.Add(1);
            }

            DeferredLog.ResumeRetried(logger, taskId, tries);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (tries >= MaxTries)
            {
                _pending.TryRemove(taskId, out _);
                DeferredLog.ResumeGaveUp(logger, ex, taskId, tries);
                return;
            }

            // Adopted may have been set by a later failure meanwhile: keep it.
            _pending.AddOrUpdate(taskId, _ => entry with { Tries = tries, At = time.GetUtcNow() + Delay(tries + 1) },
                (_, e) => e with { Tries = tries, At = time.GetUtcNow() + Delay(tries + 1) });
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
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
    }

    private sealed record Entry(bool Adopted, int Tries, DateTimeOffset At)
    {
        /// <summary>Whether a recovery asked for the resume (counted in <c>deferred.tasks.recovered</c> once it gets through).</summary>
        public bool Recovery { get; init; }
    }
}
