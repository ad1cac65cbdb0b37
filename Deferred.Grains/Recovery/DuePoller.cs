using Deferred.Diagnostics;
using Deferred.Options;
using Deferred.Storage;
using Deferred.Storage.Postgres;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Recovery;

/// <summary>
/// The default store's durable wake-up for far tasks. Each silo wakes only the tasks it owns; the orphan sweep
/// hands a departed silo's tasks to a live one first. A task due beyond <see cref="DeferredTasksOptions.TimerThreshold"/>
/// holds no activation, timer or reminder: it is only a row. Every <see cref="DeferredTasksOptions.DuePollInterval"/>
/// this poller reads the rows that have come within the threshold since the last poll (from the due-time index,
/// paged) and resumes them, and their grains arm timers for the rest of the wait. The startup scan covers what is
/// due by start-up plus the threshold; the poller takes over from there. Windows overlap a little so that a row
/// committed during a poll is not missed; resuming a task twice is harmless.
/// </summary>
internal sealed partial class DuePoller(
    IDeferredTaskCatalog catalog,
    TaskResumer resumer,
    Runtime.SiloIdentity silo,
    IOptions<DeferredTasksOptions> options,
    TimeProvider time,
    ILogger<DuePoller> logger) : SiloBackgroundWork
{
    private readonly DeferredTasksOptions _options = options.Value;

    protected override bool Enabled => catalog is PostgresTableCatalog;

    protected override async Task RunAsync(CancellationToken cancellationToken)
    {
        var table = (PostgresTableCatalog)catalog;

        // The startup scan covers what is due by now plus the threshold.
        var covered = time.GetUtcNow() + _options.TimerThreshold;
        var overlap = _options.DuePollInterval + TimeSpan.FromSeconds(5);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.DuePollInterval, time, cancellationToken);
                var horizon = time.GetUtcNow() + _options.TimerThreshold;
                await PollAsync(table, covered - overlap, horizon, cancellationToken);

                // Only a poll that got through moves the window; after a failure the next poll covers the gap.
                covered = horizon;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                PollFailed(logger, ex);
            }
        }
    }

    private async Task PollAsync(PostgresTableCatalog table, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var afterDue = DateTimeOffset.MinValue.ToUniversalTime();
        var afterId = "";
        while (true)
        {
            var page = await table.ListDueAsync(silo.Owner, from, to, afterDue, afterId, _options.RecoveryPageSize, cancellationToken);
            if (page.Count == 0)
            {
                return;
            }

            (afterId, afterDue) = page[^1];
            await resumer.ResumeAsync(page.Select(p => p.TaskId).ToList(), cancellationToken);
            if (page.Count < _options.RecoveryPageSize)
            {
                return;
            }
        }
    }

    [LoggerMessage(2005, LogLevel.Warning, "Deferred due-time poll failed; the next poll covers the same window")]
    private static partial void PollFailed(ILogger logger, Exception exception);
}
