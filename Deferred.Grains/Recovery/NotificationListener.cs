using Deferred.Diagnostics;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Deferred.Recovery;

/// <summary>
/// Keeps the store's new-task signal listening (<see cref="INewTaskSignal"/>, default store only): tasks committed by
/// app code in its own transactions have no owner, and the signal wakes the <see cref="OrphanSweep"/> to adopt them at
/// once. A lost connection is opened again with the one backoff; the periodic sweep covers what was signalled meanwhile.
/// </summary>
internal sealed class NotificationListener(
    IDeferredTaskStore store,
    OrphanSweep sweep,
    StoreResilience resilience,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    ILogger<NotificationListener> logger) : BackgroundLoop(resilience, time)
{
    protected override bool Enabled => options.Value.RecoverOnStartup && store.NewTasks is not null;

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        // Returns only when the connection ends (by throwing): the loop classifies, backs off and listens again.
        await store.NewTasks!.ListenOnceAsync(sweep.WakeNow, stopping);
        return TimeSpan.Zero;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn) => DeferredLog.LoopPassFailed(logger, error, "notification listener", retryIn.TotalSeconds);
}
