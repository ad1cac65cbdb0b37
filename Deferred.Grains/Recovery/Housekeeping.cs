using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Recovery;

/// <summary>
/// Housekeeping, at silo start, every <see cref="DeferredOptions.SweepInterval"/>, and when membership declares a silo
/// dead (the <see cref="OrphanSweep"/>'s watcher wakes it): the cluster-wide concurrency leases of gone silos are freed
/// (the same rule as adoption, so a dead silo's slots end with it), completed ids older than
/// <see cref="DeferredOptions.CompletedIdRetention"/> are forgotten, and progress rows left by attempts whose silo went
/// away are deleted once stale (<see cref="StaleProgressAfter"/>).
/// </summary>
internal sealed class Housekeeping(
    IDeferredTaskStore store,
    StoreResilience resilience,
    IClusterMembershipService membership,
    SiloIdentity silo,
    ConcurrencyLimits limits,
    TaskProgressStore progress,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<Housekeeping> logger) : BackgroundLoop(resilience, time)
{
    private readonly DeferredOptions _options = options.Value;

    /// <summary>
    /// A stored progress report older than this is taken to be left by an attempt that went away with its silo (a running
    /// attempt that reports refreshes its row at each report, at most once a second).
    /// </summary>
    public static readonly TimeSpan StaleProgressAfter = TimeSpan.FromHours(1);

    protected override bool Enabled => _options.RecoverOnStartup;

    protected override TimeSpan MaxRetryWait => _options.SweepInterval;

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        await TidyAsync(stopping);
        return _options.SweepInterval;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn) => DeferredLog.LoopPassFailed(logger, error, "housekeeping", retryIn.TotalSeconds);

    /// <summary>One pass: frees the leases of gone silos and forgets expired completed ids.</summary>
    public async Task TidyAsync(CancellationToken cancellationToken)
    {
        var view = new OwnerView(silo.Address, membership.CurrentSnapshot);
        await limits.ReleaseGoneAsync(view.IsOrphaned, cancellationToken);
        if (store.CompletedIds is { } completed)
        {
            await completed.ForgetExpiredAsync(cancellationToken);
        }

        await progress.TidyAsync(Time.GetUtcNow() - StaleProgressAfter, 1_000, cancellationToken);
    }
}
