using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Cluster;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Recovery;

/// <summary>What one sweep saw and did.</summary>
/// <param name="Found">Orphaned tasks the sweep adopted.</param>
/// <param name="Pages">Pages it took.</param>
/// <param name="Resumed">Adopted tasks that were live and are now scheduled on this silo.</param>
/// <param name="Skipped">Ids that turned out not to be live (completed meanwhile, dead, unreadable).</param>
/// <param name="Errors">Resume calls that failed; each is tried again within about a second (<see cref="ResumeRetries"/>).</param>
internal sealed record RecoveryReport(int Found, int Pages, int Resumed, int Skipped, int Errors);

/// <summary>
/// Recovery and failover, one path: the orphan sweep. When the silo becomes active it sweeps once (startup
/// recovery: the tasks of its own previous run and of any silo that went away), then again whenever membership
/// declares a silo dead, and every <see cref="DeferredOptions.SweepInterval"/> as a backstop. A sweep adopts
/// only tasks whose owner is gone (<see cref="OwnerView"/>), a page at a time, and resumes them through
/// <see cref="TaskResumer"/>, which pauses while the silo's due backlog is full: a backlog is taken up at the rate
/// it drains, and silos sweeping together split it (row claims, or a hash split on the stock store).
/// It runs in the background: silo start does not wait for it, and silo stop cancels it.
/// </summary>
internal sealed class DeferredRecovery(
    IDeferredTaskStore store,
    StoreResilience resilience,
    TaskResumer resumer,
    IClusterMembershipService membership,
    SiloIdentity silo,
    LocalTasks local,
    ConcurrencyLimits limits,
    AdoptedTasks adopted,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<DeferredRecovery> logger) : SiloBackgroundWork
{
    private readonly DeferredOptions _options = options.Value;
    private readonly TaskCompletionSource<RecoveryReport> _startup = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>Runs a sweep now (or right after the one under way), instead of at the next interval.</summary>
    public void WakeNow()
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

    /// <summary>When the last sweep finished without error; null before the first.</summary>
    public DateTimeOffset? LastSweepAt { get; private set; }

    /// <summary>True when this silo sweeps at all (<see cref="DeferredOptions.RecoverOnStartup"/>).</summary>
    public bool Sweeps => _options.RecoverOnStartup;

    /// <summary>What the startup sweep found and did, once it has finished.</summary>
    public RecoveryReport? LastReport { get; private set; }

    /// <summary>Completes when the startup sweep has finished (or the silo stopped first).</summary>
    public Task StartupSweep => _startup.Task;

    protected override bool Enabled => _options.RecoverOnStartup;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var watcher = WatchMembershipAsync(cancellationToken);

        // Tasks committed by app code in its own transactions have no owner: the sweep adopts them, woken at once.
        var listener = store.NewTasks?.ListenAsync(WakeNow, cancellationToken) ?? Task.CompletedTask;
        var backoff = resilience.Window(StoreWindow.Claim);
        var failures = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var wait = _options.SweepInterval;
                var first = !_startup.Task.IsCompleted;
                if (first)
                {
                    DeferredLog.RecoveryStarted(logger);
                }

                var started = Stopwatch.GetTimestamp();
                try
                {
                    var report = await ScanAsync(cancellationToken);
                    LastSweepAt = time.GetUtcNow();
                    var elapsed = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (first)
                    {
                        LastReport = report;
                        DeferredLog.RecoveryFinished(logger, report.Found, report.Pages, report.Resumed, report.Skipped, report.Errors, elapsed);
                        _startup.TrySetResult(report);
                    }
                    else if (report.Found > 0)
                    {
                        DeferredLog.SweepAdopted(logger, report.Found, report.Pages, report.Resumed, elapsed);
                    }

                    if (!first)
                    {
                        await AuditAsync(cancellationToken);
                    }

                    failures = 0;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    // Database unreachable, say: try again soon (with backoff), not only at the next interval.
                    var retryDelay = backoff.Backoff(++failures);
                    if (StoreFailures.Classify(ex) == StoreOutcome.Unavailable)
                    {
                        // An outage is logged once, by the resilience policy.
                        resilience.Unreachable(ex);
                    }
                    else if (first)
                    {
                        DeferredLog.RecoveryFailed(logger, ex, retryDelay.TotalSeconds);
                    }
                    else
                    {
                        DeferredLog.SweepFailed(logger, ex);
                    }

                    wait = retryDelay < wait ? retryDelay : wait;
                }

                try
                {
                    await _wake.WaitAsync(wait, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        finally
        {
            _startup.TrySetResult(LastReport ?? new RecoveryReport(0, 0, 0, 0, 0));
            await watcher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await listener.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Runs one full sweep.</summary>
    public async Task<RecoveryReport> ScanAsync(CancellationToken cancellationToken)
    {
        int found = 0, pages = 0, resumed = 0, skipped = 0, errors = 0;
        var view = new OwnerView(silo.Address, membership.CurrentSnapshot);

        // Concurrency leases of gone silos first: the same rule as adoption, so a dead silo's slots end with it.
        await limits.ReleaseGoneAsync(view.IsOrphaned, cancellationToken);
        if (store.CompletedIds is { } completed)
        {
            await completed.ForgetExpiredAsync(cancellationToken);
        }

        // The next page is claimed while this one is resumed, so claim round trips overlap resumption.
        await using var claims = store.Catalog.SweepAsync(view, silo.Owner, time.GetUtcNow(), _options.RecoveryPageSize, cancellationToken).GetAsyncEnumerator(cancellationToken);
        // Claimed rows are noted as adopted the moment their claim returns, before anything can activate them: the
        // due-time poller sees them as this silo's own, and the next page is claimed while this one is resumed.
        async Task<bool> ClaimNextAsync()
        {
            if (!await claims.MoveNextAsync())
            {
                return false;
            }

            adopted.Add(claims.Current.AdoptNow);
            return true;
        }

        var next = ClaimNextAsync();
        try
        {
            while (await next)
            {
                var page = claims.Current;
                next = ClaimNextAsync();
                pages++;
                found += page.Adopted;
                DeferredTelemetry.Adopted.Add(page.Adopted);
                foreach (var (ids, adopted) in new[] { (page.AdoptNow, true), (page.ResumeNow, false) })
                {
                    var (r, s, e) = await resumer.ResumeAsync(ids, recovery: true, cancellationToken, adopted);
                    resumed += r;
                    skipped += s;
                    errors += e;
                }
            }
        }
        finally
        {
            // A claim still in flight must end before the enumerator is disposed; its rows stay claimed by this
            // silo and are resumed by the audit or the next start.
            await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return new RecoveryReport(found, pages, resumed, skipped, errors);
    }

    /// <summary>
    /// The stranded-task audit: rows this silo owns that were due a while ago but that no activation here holds
    /// (Orleans can deactivate one of two duplicate activations after a silo failure, taking its timer along). The
    /// sweep never adopts them, since their owner is alive; this resumes them. Returns how many it resumed.
    /// </summary>
    public async Task<int> AuditAsync(CancellationToken cancellationToken)
    {
        var stranded = 0;
        var dueBefore = time.GetUtcNow() - StrandedAfter;
        await foreach (var page in store.Catalog.ListOwnDueAsync(silo.Owner, dueBefore, _options.RecoveryPageSize, cancellationToken))
        {
            var missing = page.Where(id => !local.Contains(id)).ToList();
            if (missing.Count > 0)
            {
                var (resumed, _, _) = await resumer.ResumeAsync(missing, recovery: true, cancellationToken);
                stranded += resumed;
            }
        }

        if (stranded > 0)
        {
            DeferredLog.StrandedResumed(logger, stranded);
        }

        return stranded;
    }

    /// <summary>How long past its due time a task must be before the audit looks for its activation.</summary>
    internal static readonly TimeSpan StrandedAfter = TimeSpan.FromSeconds(30);

    /// <summary>Wakes the sweep as soon as membership declares a silo dead.</summary>
    private async Task WatchMembershipAsync(CancellationToken cancellationToken)
    {
        var dead = new HashSet<SiloAddress>(membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress));
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                var newlyDead = false;
                foreach (var member in snapshot.Members.Values)
                {
                    if (member.Status == SiloStatus.Dead && dead.Add(member.SiloAddress))
                    {
                        newlyDead = true;
                    }
                }

                if (newlyDead && _wake.CurrentCount == 0)
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
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Silo stopping.
        }
    }
}
