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
/// (the same rule as adoption, so a dead silo's slots end with it), and completed ids older than
/// <see cref="DeferredOptions.CompletedIdRetention"/> are forgotten.
/// </summary>
internal sealed class Housekeeping(
    IDeferredTaskStore store,
    StoreResilience resilience,
    IClusterMembershipService membership,
    SiloIdentity silo,
    ConcurrencyLimits limits,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<Housekeeping> logger) : BackgroundLoop(resilience, time)
{
    private readonly DeferredOptions _options = options.Value;

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
    }
}
