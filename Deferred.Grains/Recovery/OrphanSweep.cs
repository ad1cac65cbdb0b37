using System.Diagnostics;
using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Recovery;

/// <summary>What one sweep found and did: rows claimed, pages, tasks resumed, skipped, and resumes that failed.</summary>
internal sealed record RecoveryReport(int Found, int Pages, int Resumed, int Skipped, int Errors);

/// <summary>
/// The orphan sweep: at silo start, when membership declares a silo dead, when tasks are committed outside the silos
/// (the <see cref="NotificationListener"/> wakes it), and every <see cref="DeferredOptions.SweepInterval"/>, it claims
/// the live tasks whose owner is gone (or that have none) and adopts them (<see cref="IDeferredTaskCatalog.SweepAsync"/>,
/// <see cref="TaskResumer"/>). The first pass is the startup recovery (<see cref="StartupSweep"/>).
/// </summary>
internal sealed class OrphanSweep(
    IDeferredTaskStore store,
    StoreResilience resilience,
    TaskResumer resumer,
    IClusterMembershipService membership,
    SiloIdentity silo,
    AdoptedTasks adopted,
    Housekeeping housekeeping,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<OrphanSweep> logger) : BackgroundLoop(resilience, time)
{
    private readonly DeferredOptions _options = options.Value;
    private readonly TaskCompletionSource<RecoveryReport> _startup = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When the last sweep finished, for the health check; null before the first.</summary>
    public DateTimeOffset? LastSweepAt { get; private set; }

    /// <summary>Whether this silo sweeps at all (<see cref="DeferredOptions.RecoverOnStartup"/>).</summary>
    public bool Sweeps => _options.RecoverOnStartup;

    /// <summary>The startup sweep's report, once it has run.</summary>
    public RecoveryReport? LastReport { get; private set; }

    /// <summary>Completes when the startup sweep has finished (or the silo stopped before it could).</summary>
    public Task<RecoveryReport> StartupSweep => _startup.Task;

    protected override bool Enabled => _options.RecoverOnStartup;

    // Database unreachable, say: try again soon (with backoff), not only at the next interval.
    protected override TimeSpan MaxRetryWait => _options.SweepInterval;

    protected override async Task RunAsync(CancellationToken stopping)
    {
        var watcher = WatchMembershipAsync(stopping);
        try
        {
            await base.RunAsync(stopping);
        }
        finally
        {
            _startup.TrySetResult(LastReport ?? new RecoveryReport(0, 0, 0, 0, 0));
            await watcher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        var first = !_startup.Task.IsCompleted;
        if (first)
        {
            DeferredLog.RecoveryStarted(logger);
        }

        var started = Stopwatch.GetTimestamp();
        var report = await ScanAsync(stopping);
        LastSweepAt = Time.GetUtcNow();
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

        return _options.SweepInterval;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn)
    {
        if (!_startup.Task.IsCompleted)
        {
            DeferredLog.RecoveryFailed(logger, error, retryIn.TotalSeconds);
        }
        else
        {
            DeferredLog.SweepFailed(logger, error);
        }
    }

    /// <summary>One sweep: claims the orphaned live tasks page by page and resumes them, adopted.</summary>
    public async Task<RecoveryReport> ScanAsync(CancellationToken cancellationToken)
    {
        int found = 0, pages = 0, resumed = 0, skipped = 0, errors = 0;
        var view = new OwnerView(silo.Address, membership.CurrentSnapshot);

        // The next page is claimed while this one is resumed, so claim round trips overlap resumption.
        await using var claims = store.Catalog.SweepAsync(view, silo.Owner, Time.GetUtcNow(), _options.RecoveryPageSize, cancellationToken).GetAsyncEnumerator(cancellationToken);

        // Claimed rows are noted as adopted the moment their claim returns, before anything can activate them: the
        // due-time poller sees them as this silo's own.
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
                foreach (var (ids, adopt) in new[] { (page.AdoptNow, true), (page.ResumeNow, false) })
                {
                    var (r, s, e) = await resumer.ResumeAsync(ids, recovery: true, cancellationToken, adopt);
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

    // A silo declared dead: sweep now, and free its concurrency leases now (housekeeping), not at the next interval.
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

                if (newlyDead)
                {
                    housekeeping.WakeNow();
                    WakeNow();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Silo stopping.
        }
    }
}
