using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Options;
using Deferred.Runtime;
using Deferred.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Recovery;

/// <summary>What one recovery scan saw and did.</summary>
/// <param name="Found">Task ids the scan returned.</param>
/// <param name="Pages">Queries it ran.</param>
/// <param name="Resumed">Tasks that were live and are now scheduled on this silo.</param>
/// <param name="Skipped">Ids that turned out not to be live (completed meanwhile, dead, unreadable).</param>
/// <param name="Errors">Resume calls that failed; the next scan retries them.</param>
internal sealed record RecoveryReport(int Found, int Pages, int Resumed, int Skipped, int Errors);

/// <summary>
/// The startup scan: when the silo becomes active, pages through the store for pending and failed tasks and
/// resumes each on this silo. Pages are read one at a time (never every row at once), resumes run with bounded
/// parallelism, and the scan pauses while the silo's due backlog is full, so a large backlog is fed in at the
/// rate it drains. It runs in the background: silo start does not wait for it, and silo stop cancels it.
/// </summary>
internal sealed class DeferredRecovery(
    IDeferredTaskCatalog catalog,
    TaskResumer resumer,
    IOptions<DeferredTasksOptions> options,
    TimeProvider time,
    ILogger<DeferredRecovery> logger) : SiloBackgroundWork
{
    private readonly DeferredTasksOptions _options = options.Value;

    /// <summary>What the startup scan found and did, once it has finished.</summary>
    public RecoveryReport? LastReport { get; private set; }

    protected override bool Enabled => _options.RecoverOnStartup;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        // A scan that fails (database unreachable at start-up, say) is retried with backoff for as long as
        // the silo runs: otherwise the stored tasks would wait for the next restart. Resuming twice is harmless.
        var retryDelay = TimeSpan.FromSeconds(1);
        while (true)
        {
            DeferredLog.RecoveryStarted(logger);
            var started = Stopwatch.GetTimestamp();
            try
            {
                var report = await ScanAsync(cancellationToken);
                LastReport = report;
                DeferredLog.RecoveryFinished(logger, report.Found, report.Pages, report.Resumed, report.Skipped, report.Errors, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Silo stopping: what was not resumed stays in the store for the next start.
                return;
            }
            catch (Exception ex)
            {
                DeferredLog.RecoveryFailed(logger, ex, retryDelay.TotalSeconds);
            }

            try
            {
                await Task.Delay(retryDelay, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            retryDelay = TimeSpan.FromTicks(Math.Min(retryDelay.Ticks * 2, TimeSpan.FromMinutes(1).Ticks));
        }
    }

    /// <summary>Runs one full scan.</summary>
    public async Task<RecoveryReport> ScanAsync(CancellationToken cancellationToken)
    {
        int found = 0, pages = 0, resumed = 0, skipped = 0, errors = 0;
        var after = "";
        while (true)
        {
            var ids = await catalog.ListResumableAsync(after, _options.RecoveryPageSize, time.GetUtcNow(), cancellationToken);
            if (ids.Count == 0)
            {
                break;
            }

            pages++;
            found += ids.Count;
            after = ids[^1];
            var (r, s, e) = await resumer.ResumeAsync(ids, cancellationToken);
            resumed += r;
            skipped += s;
            errors += e;
            if (ids.Count < _options.RecoveryPageSize)
            {
                break;
            }
        }

        return new RecoveryReport(found, pages, resumed, skipped, errors);
    }
}
