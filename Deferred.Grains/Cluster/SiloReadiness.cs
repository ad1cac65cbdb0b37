using Orleans.Runtime;

namespace Deferred.Cluster;

/// <summary>
/// Whether this silo can take tasks yet: its lifecycle has begun, and reached <see cref="ServiceLifecycleStage.Active"/>
/// (before that, a task grain cannot be placed on it). Enqueues on a silo consult it so an early call fails with a
/// clear <see cref="DeferredNotReadyException"/> instead of an Orleans placement error.
/// </summary>
internal sealed class SiloReadiness : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly TaskCompletionSource _active = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _started;

    /// <summary>True once the silo is active.</summary>
    public bool IsActive => _active.Task.IsCompleted;

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(SiloReadiness), ServiceLifecycleStage.First, _ =>
        {
            _started = true;
            return Task.CompletedTask;
        });
        lifecycle.Subscribe(nameof(SiloReadiness), ServiceLifecycleStage.Active, _ =>
        {
            _active.TrySetResult();
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// Returns at once when the silo is active; waits up to <paramref name="timeout"/> while it is starting; throws
    /// <see cref="DeferredNotReadyException"/> when it has not begun to start (waiting could not help: the caller is
    /// likely part of the host's start-up that runs before the silo's) or does not become active in time.
    /// </summary>
    public async ValueTask WaitUntilActiveAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (IsActive)
        {
            return;
        }

        if (!_started)
        {
            throw new DeferredNotReadyException(
                "Deferred cannot take tasks yet: this silo has not started (the call came during host start-up, before the silo's). " +
                "Enqueue from BackgroundService.ExecuteAsync or after IHostApplicationLifetime.ApplicationStarted, or register the hosted service after UseOrleans.");
        }

        try
        {
            await _active.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new DeferredNotReadyException(
                $"Deferred cannot take tasks yet: this silo did not become active within {timeout.TotalSeconds:0.#} s (DeferredOptions.EnqueueTimeout). Retry once the silo is up.");
        }
    }
}
