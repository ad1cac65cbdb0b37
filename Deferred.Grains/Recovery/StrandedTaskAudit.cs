using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Deferred.Recovery;

/// <summary>
/// The stranded-task audit: every <see cref="DeferredOptions.SweepInterval"/>, this silo's own live rows overdue by
/// <see cref="StrandedAfter"/> that no local activation holds (<see cref="LocalTasks"/>) are resumed. It catches a task
/// whose wake-up was lost in this silo (its activation went with it), which no sweep would claim: its owner is alive.
/// </summary>
internal sealed class StrandedTaskAudit(
    IDeferredTaskStore store,
    StoreResilience resilience,
    TaskResumer resumer,
    SiloIdentity silo,
    LocalTasks local,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<StrandedTaskAudit> logger) : BackgroundLoop(resilience, time)
{
    /// <summary>How overdue a row must be before the audit takes it for stranded.</summary>
    internal static readonly TimeSpan StrandedAfter = TimeSpan.FromSeconds(30);

    private readonly DeferredOptions _options = options.Value;

    protected override bool Enabled => _options.RecoverOnStartup;

    // The startup sweep resumes this silo's own rows anyway: the first audit is one interval later.
    protected override TimeSpan FirstWait => _options.SweepInterval;

    protected override TimeSpan MaxRetryWait => _options.SweepInterval;

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        await AuditAsync(stopping);
        return _options.SweepInterval;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn) => DeferredLog.LoopPassFailed(logger, error, "stranded-task audit", retryIn.TotalSeconds);

    /// <summary>One audit; returns how many stranded tasks it resumed.</summary>
    public async Task<int> AuditAsync(CancellationToken cancellationToken)
    {
        var stranded = 0;
        var dueBefore = Time.GetUtcNow() - StrandedAfter;
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
}
