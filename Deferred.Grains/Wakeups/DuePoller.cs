using Deferred.Diagnostics;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Wakeups;

/// <summary>
/// The default store's durable wake-up for far tasks. Each silo wakes only the tasks it owns; the orphan sweep
/// hands a departed silo's tasks to a live one first. A task due beyond <see cref="DeferredOptions.TimerThreshold"/>
/// holds no activation, timer or reminder: it is only a row. Every <see cref="DeferredOptions.DuePollInterval"/>
/// this poller reads the rows that have come within the threshold since the last poll (from the due-time index,
/// paged) and resumes them, and their grains arm timers for the rest of the wait. The startup scan covers what is
/// due by start-up plus the threshold; the poller takes over from there. Windows overlap a little so that a row
/// committed during a poll is not missed; resuming a task twice is harmless.
/// </summary>
internal sealed class DuePoller(
    IDeferredTaskStore store,
    TaskResumer resumer,
    Cluster.SiloIdentity silo,
    StoreResilience resilience,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<DuePoller> logger) : BackgroundLoop(resilience, time)
{
    private readonly DeferredOptions _options = options.Value;

    // Stores that wake far tasks by reminders have no due-time index to poll.
    protected override bool Enabled => store.DueTasks is not null;

    // The startup scan covers what is due by now plus the threshold; each poll that gets through moves this on.
    private DateTimeOffset? _covered;

    protected override TimeSpan FirstWait => _options.DuePollInterval;

    // After a failed poll, back off (the one backoff), at most to the poll interval.
    protected override TimeSpan MaxRetryWait => _options.DuePollInterval;

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        _covered ??= Time.GetUtcNow() + _options.TimerThreshold - _options.DuePollInterval;
        var overlap = _options.DuePollInterval + TimeSpan.FromSeconds(5);
        var horizon = Time.GetUtcNow() + _options.TimerThreshold;
        await PollAsync(store.DueTasks!, _covered.Value - overlap, horizon, stopping);

        // Only a poll that got through moves the window; after a failure the next poll covers the gap.
        _covered = horizon;
        return _options.DuePollInterval;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn) => DeferredLog.DuePollFailed(logger, error);

    private async Task PollAsync(IDueTaskSource index, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var afterDue = DateTimeOffset.MinValue.ToUniversalTime();
        var afterId = "";
        while (true)
        {
            var page = await index.ListDueAsync(silo.Owner, from, to, afterDue, afterId, _options.RecoveryPageSize, cancellationToken);
            if (page.Count == 0)
            {
                return;
            }

            (afterId, afterDue) = page[^1];
            await resumer.ResumeAsync(page.Select(p => p.TaskId).ToList(), recovery: false, cancellationToken);
            if (page.Count < _options.RecoveryPageSize)
            {
                return;
            }
        }
    }

}
