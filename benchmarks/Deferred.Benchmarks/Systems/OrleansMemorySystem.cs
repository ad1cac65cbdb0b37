using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;
using Orleans.Placement;
using Orleans.Runtime;

namespace Deferred.Benchmarks.Systems;

/// <summary>
/// Orleans alone, as a ceiling for any one-grain-per-task design on this machine: each task is a grain with
/// in-memory grain storage that writes its state, arms a timer, runs the no-op on it, clears its state and
/// deactivates: Deferred's lifecycle without a database. Throughput only.
/// </summary>
internal sealed class OrleansMemorySystem(string serviceId) : IBenchSystem
{
    private IHost? _host;
    private IGrainFactory? _grains;

    public async Task StartAsync(bool seeding, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(FreePort(), FreePort(), null, serviceId, serviceId);
            silo.AddMemoryGrainStorage("bench-memory");
        });
        _host = builder.Build();
        await _host.StartAsync(cancellationToken);
        _grains = _host.Services.GetRequiredService<IGrainFactory>();
    }

    public Task EnqueueAsync(int seq, TimeSpan? delay, CancellationToken cancellationToken) =>
        _grains!.GetGrain<IMemoryTaskGrain>("m-" + Guid.CreateVersion7().ToString("N")).EnqueueAsync(seq);

    public Task<long> CountPendingAsync(CancellationToken cancellationToken) => Task.FromResult(Interlocked.Read(ref MemoryTaskGrain.Stored));

    public Task MakeDueAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync()
    {
        if (_host is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _host.StopAsync(timeout.Token);
            }
            finally
            {
                _host.Dispose();
                _host = null;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _host?.Dispose();
        return ValueTask.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The ceiling system's task grain.</summary>
public interface IMemoryTaskGrain : IGrainWithStringKey
{
    /// <summary>Stores the task and schedules it.</summary>
    Task EnqueueAsync(int seq);
}

/// <summary>The ceiling system's task state.</summary>
[GenerateSerializer]
public sealed class MemoryTaskState
{
    /// <summary>The task number.</summary>
    [Id(0)] public int Seq { get; set; }
}

[PreferLocalPlacement]
internal sealed class MemoryTaskGrain([PersistentState("task", "bench-memory")] IPersistentState<MemoryTaskState> state) : Grain, IMemoryTaskGrain
{
    public static long Stored;

    public async Task EnqueueAsync(int seq)
    {
        state.State.Seq = seq;
        await state.WriteStateAsync();
        Interlocked.Increment(ref Stored);
        this.RegisterGrainTimer(RunAsync, new GrainTimerCreationOptions { DueTime = TimeSpan.Zero, Period = Timeout.InfiniteTimeSpan, KeepAlive = true });
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Run(() => Recorder.OnRun(state.State.Seq), CancellationToken.None);
        await state.ClearStateAsync(CancellationToken.None);
        Interlocked.Decrement(ref Stored);
        DeactivateOnIdle();
    }
}
