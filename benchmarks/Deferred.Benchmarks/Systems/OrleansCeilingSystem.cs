using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Hosting;

namespace Deferred.Benchmarks.Systems;

/// <summary>The ceiling's grain: one fresh activation per call, which deactivates itself once it has run.</summary>
public interface ICeilingGrain : IGrainWithIntegerKey
{
    /// <summary>Notes the run and asks to be deactivated.</summary>
    Task RunAsync(int seq);
}

/// <summary>No storage, no timer: what Orleans alone costs for a grain per task.</summary>
internal sealed class CeilingGrain : Grain, ICeilingGrain
{
    public Task RunAsync(int seq)
    {
        Recorder.OnRun(seq);
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}

/// <summary>
/// The raw Orleans ceiling (issue 11): a plain silo with localhost clustering, each "task" a call to a fresh grain that
/// deactivates itself, nothing stored. The same enqueuers as the task systems; a task is done when its call returns.
/// Only throughput and latency mean anything here.
/// </summary>
internal sealed class OrleansCeilingSystem(string serviceId, bool verbose) : IBenchSystem
{
    private IHost? _host;
    private IGrainFactory? _grains;

    public async Task StartAsync(bool seeding, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.UseOrleans(silo => silo.UseLocalhostClustering(FreePort(), FreePort(), null, serviceId, serviceId));
        _host = builder.Build();
        await _host.StartAsync(cancellationToken);
        _grains = _host.Services.GetRequiredService<IGrainFactory>();
    }

    public Task EnqueueAsync(int seq, TimeSpan? delay, CancellationToken cancellationToken) =>
        delay is null
            ? _grains!.GetGrain<ICeilingGrain>(seq).RunAsync(seq)
            : throw new NotSupportedException("orleans-ceiling stores nothing: it runs the throughput, batch-free latency scenarios only (no delayed tasks, no recovery).");

    public Task<long> CountPendingAsync(CancellationToken cancellationToken) => Task.FromResult(0L);

    public Task MakeDueAsync(CancellationToken cancellationToken) => throw new NotSupportedException("orleans-ceiling stores nothing to recover.");

    public async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await StopAsync();
            _host.Dispose();
            _host = null;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
