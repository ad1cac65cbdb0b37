using Deferred.Cluster;
using Deferred.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Execution;

/// <summary>
/// A silo's orderly stop, before Orleans deactivates the task grains: no new attempt starts, running attempts get
/// <see cref="DeferredOptions.ShutdownGracePeriod"/> to finish, then their tokens are cancelled and they get
/// <see cref="DeferredOptions.AbandonAfter"/> to return. Attempts that did not finish leave their rows as they
/// were (the grain clears its in-flight marker), so the tasks resume on another silo or at the next start. A clean
/// stop then releases the silo's live tasks (owner cleared), so their adoption is not mistaken for a crash's.
/// </summary>
internal sealed class GracefulShutdown(
    ExecutionGate gate,
    Storage.IDeferredTaskStore store,
    SiloIdentity silo,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    IOptions<Microsoft.Extensions.Hosting.HostOptions> host,
    ILogger<GracefulShutdown> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly DeferredOptions _options = options.Value;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(GracefulShutdown), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        // The host stops waiting for the silo after its own ShutdownTimeout: a shorter one cuts the drain off.
        var needed = _options.ShutdownGracePeriod + _options.AbandonAfter;
        if (host.Value.ShutdownTimeout < needed)
        {
            DeferredLog.ShutdownTimeoutTooShort(logger, host.Value.ShutdownTimeout.TotalSeconds, _options.ShutdownGracePeriod.TotalSeconds, _options.AbandonAfter.TotalSeconds);
        }

        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await DrainAsync(cancellationToken);
        if (cancellationToken.IsCancellationRequested)
        {
            // Not a clean stop: leave the rows as a crash would, so their adoption is watched.
            return;
        }

        try
        {
            var released = await store.Catalog.ReleaseAsync(silo.Owner, cancellationToken);
            DeferredLog.ShutdownReleased(logger, released);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The tasks stay owned by this (soon dead) silo and are adopted as after a crash.
            DeferredLog.ShutdownReleaseFailed(logger, ex);
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        gate.BeginStop();
        var running = gate.Running;
        DeferredLog.ShutdownStarted(logger, running, _options.ShutdownGracePeriod.TotalSeconds);
        try
        {
            if (await gate.WaitForNoneRunningAsync(_options.ShutdownGracePeriod, time, cancellationToken))
            {
                DeferredLog.ShutdownDrained(logger, running);
                return;
            }

            var left = gate.Running;
            gate.CancelRunning();
            var ended = await gate.WaitForNoneRunningAsync(_options.AbandonAfter + TimeSpan.FromSeconds(1), time, cancellationToken);
            // Abandoned handlers gave their slots back but may still be running: they did not return either.
            DeferredLog.ShutdownCancelled(logger, left, (ended ? 0 : gate.Running) + gate.Abandoned);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host's own shutdown timeout ran out first; cancel whatever still runs and let the silo go.
            gate.CancelRunning();
        }
    }
}
