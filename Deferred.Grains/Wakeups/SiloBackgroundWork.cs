using Orleans.Runtime;

namespace Deferred.Wakeups;

/// <summary>
/// Work that starts in the background when the silo becomes active (silo start does not wait for it) and is
/// cancelled and awaited when the silo stops. Shared by the startup scan and the due-time poller.
/// </summary>
internal abstract class SiloBackgroundWork : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _work = Task.CompletedTask;

    /// <summary>Completes when the work has ended (at once when it never started).</summary>
    public Task Completion => _work;

    /// <summary>Whether this silo runs the work at all; read when the silo lifecycle is built.</summary>
    protected abstract bool Enabled { get; }

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (Enabled)
        {
            lifecycle.Subscribe(GetType().Name, ServiceLifecycleStage.Active, OnStartAsync, OnStopAsync);
        }
    }

    public void Dispose() => _stopping.Dispose();

    /// <summary>The work itself; <paramref name="stopping"/> is cancelled when the silo stops.</summary>
    protected abstract Task RunAsync(CancellationToken stopping);

    private Task OnStartAsync(CancellationToken cancellationToken)
    {
        _work = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task OnStopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _work.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
