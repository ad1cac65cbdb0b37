using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>A task of a concurrency-limit test.</summary>
[GenerateSerializer, Alias("deferred.tests.limited")]
public sealed record LimitedTask
{
    [Id(0)] public int Index { get; init; }

    /// <summary>Wait for the test's gate before returning.</summary>
    [Id(1)] public bool Gated { get; init; }

    /// <summary>Wait for one of the test's turns (<see cref="LimitLog.Turns"/>) before returning: held one by one.</summary>
    [Id(2)] public bool Turnstile { get; init; }
}

/// <summary>What the limited handlers of one service saw: attempts running at once, in the cluster and per silo.</summary>
public sealed class LimitLog
{
    private static readonly ConcurrentDictionary<string, LimitLog> ByService = new();
    private readonly ConcurrentDictionary<SiloAddress, int> _perSilo = new();
    private readonly ConcurrentDictionary<SiloAddress, int> _maxPerSilo = new();
    private readonly ConcurrentDictionary<int, byte> _done = new();
    private int _running;
    private int _max;

    public static LimitLog For(string serviceId) => ByService.GetOrAdd(serviceId, _ => new LimitLog());

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Each release lets one held <see cref="LimitedTask.Turnstile"/> attempt return.</summary>
    public SemaphoreSlim Turns { get; } = new(0);

    public int Running => Volatile.Read(ref _running);

    public int MaxRunning => Volatile.Read(ref _max);

    public int MaxOnOneSilo => _maxPerSilo.Values.DefaultIfEmpty().Max();

    public int Done => _done.Count;

    public bool IsDone(int index) => _done.ContainsKey(index);

    public void Enter(SiloAddress silo)
    {
        var running = Interlocked.Increment(ref _running);
        InterlockedMax(ref _max, running);
        var onSilo = _perSilo.AddOrUpdate(silo, 1, (_, n) => n + 1);
        _maxPerSilo.AddOrUpdate(silo, onSilo, (_, n) => Math.Max(n, onSilo));
    }

    public void Exit(SiloAddress silo, int index, bool succeeded)
    {
        _perSilo.AddOrUpdate(silo, 0, (_, n) => n - 1);
        Interlocked.Decrement(ref _running);
        if (succeeded)
        {
            _done.TryAdd(index, 0);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }
}

internal sealed class LimitedHandler(IOptions<ClusterOptions> cluster, ILocalSiloDetails silo) : IDeferredTaskHandler<LimitedTask>
{
    public async Task ExecuteAsync(LimitedTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        var log = LimitLog.For(cluster.Value.ServiceId);
        log.Enter(silo.SiloAddress);
        var succeeded = false;
        try
        {
            // Held until the test lets go: an attempt over the limit would be in its handler beside the held ones, and
            // counted, however fast or slow the machine.
            if (task.Turnstile)
            {
                await log.Turns.WaitAsync(cancellationToken);
            }
            else if (task.Gated)
            {
                await log.Gate.Task.WaitAsync(cancellationToken);
            }
            succeeded = true;
        }
        finally
        {
            log.Exit(silo.SiloAddress, task.Index, succeeded);
        }
    }
}

public sealed class ConcurrencyLimitTestsOnPostgresStore : ConcurrencyLimitTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    [Fact]
    public async Task A_cluster_wide_limit_is_never_exceeded_across_three_silos_under_load()
    {
        await using var cluster = await StartLimitedAsync(silos: 3, perSilo: 2, clusterWide: 3);
        var log = LimitLog.For(cluster.ServiceId);

        // Nine held attempts are due on three silos: exactly three run (two would fit on each silo; the cluster allows three).
        for (var i = 0; i < 9; i++)
        {
            await cluster.OnSilo(i % 3).EnqueueAsync(new LimitedTask { Index = i, Gated = true });
        }

        await Eventually.True(() => Task.FromResult(log.Running == 3), "three held attempts to run");
        Assert.Equal(3L, await CountLeasesAsync(cluster));
        log.Gate.TrySetResult();

        // Then a burst of 30 more from all three silos at once, every attempt held until the test gives it a turn: each
        // round waits until the limit is full, then lets exactly the running ones return.
        await Eventually.True(() => Task.FromResult(log.Done == 9), "the nine held attempts to succeed");
        await Task.WhenAll(Enumerable.Range(0, 3).Select(s =>
            cluster.OnSilo(s).EnqueueManyAsync(Enumerable.Range(0, 10).Select(i => new LimitedTask { Index = 100 + (s * 10) + i, Turnstile = true }))));
        while (log.Done < 39)
        {
            var done = log.Done;
            // The limit is full when three run, or fewer when what is left sits on fewer silos (two at most on each).
            var expected = Math.Min(3, Enumerable.Range(0, 3).Sum(silo => Math.Min(2, Enumerable.Range(100 + (silo * 10), 10).Count(i => !log.IsDone(i)))));
            await Eventually.True(() => Task.FromResult(log.Running == expected), $"{expected} attempt(s) to hold the limit after {done} succeeded");
            Assert.True(log.MaxRunning <= 3, $"{log.MaxRunning} attempts ran at once; the cluster-wide limit is 3");
            log.Turns.Release(expected);
            await Eventually.True(() => Task.FromResult(log.Done == done + expected), $"{expected} released attempt(s) to succeed");
        }

        Assert.Equal(3, log.MaxRunning);
        Assert.True(log.MaxOnOneSilo <= 2, $"{log.MaxOnOneSilo} attempts ran at once on one silo; the limit is 2");
        await Eventually.True(async () => await CountLeasesAsync(cluster) == 0, "every lease to be given back");
    }

    [Fact]
    public async Task The_leases_of_a_dead_silo_are_freed_and_the_tasks_waiting_for_them_run()
    {
        await using var cluster = await StartLimitedAsync(silos: 2, perSilo: null, clusterWide: 1);
        var log = LimitLog.For(cluster.ServiceId);
        await cluster.OnSilo(1).EnqueueAsync(new LimitedTask { Index = 0, Gated = true });
        await Eventually.True(() => Task.FromResult(log.Running == 1), "the held attempt to run on silo 1");
        await cluster.OnSilo(0).EnqueueAsync(new LimitedTask { Index = 1 });
        Assert.Equal(1L, await CountLeasesAsync(cluster));

        await cluster.KillSiloAsync(1);

        // Silo 1's lease is freed by silo 0's sweep once membership declares it dead; the waiting task, and the held one
        // adopted from silo 1, then run on silo 0 one after the other.
        await Eventually.True(() => Task.FromResult(log.IsDone(1)), "the waiting task to run once the dead silo's lease is freed");
        log.Gate.TrySetResult();
        await Eventually.True(() => Task.FromResult(log.IsDone(0)), "the adopted task to run again");
        await Eventually.True(async () => await CountLeasesAsync(cluster) == 0, "every lease to be given back");
    }
}

public sealed class ConcurrencyLimitTestsOnStockAdoNet : ConcurrencyLimitTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>Per-type concurrency limits, per silo and cluster-wide, on both stores; bad limits refused at start.</summary>
public abstract class ConcurrencyLimitTests : StoreConformance
{
    private protected Task<DeferredTestCluster> StartLimitedAsync(short silos, int? perSilo, int? clusterWide) =>
        StartAsync(
            silos: silos,
            configureSilo: silo => silo.Services
                .AddDeferredTaskHandler<LimitedTask, LimitedHandler>()
                .AddDeferredConcurrencyLimit<LimitedTask>(perSilo, clusterWide));

    [Theory]
    [InlineData(1, null)]
    [InlineData(null, 2)]
    public async Task A_limited_type_never_runs_more_attempts_at_once_than_its_limit(int? perSilo, int? clusterWide)
    {
        await using var cluster = await StartLimitedAsync(silos: 1, perSilo, clusterWide);
        var log = LimitLog.For(cluster.ServiceId);
        for (var i = 0; i < 4; i++)
        {
            await cluster.Client.EnqueueAsync(new LimitedTask { Index = i, Gated = true });
        }

        // Four held attempts are due; the limit lets exactly this many run, and the probe's unlimited task runs beside them.
        var limit = perSilo ?? clusterWide!.Value;
        await Eventually.True(() => Task.FromResult(log.Running == limit), $"{limit} held attempt(s) to run");
        var free = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "unlimited" });
        await cluster.Probe.WaitForRunsAsync(free, 1);
        Assert.Equal(limit, log.Running);

        log.Gate.TrySetResult();
        await Eventually.True(() => Task.FromResult(log.Done == 4), "all four to succeed");
        Assert.Equal(limit, log.MaxRunning);
    }

    [Fact]
    public async Task A_bad_limit_fails_the_silo_start_naming_the_type_and_the_value()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(
            o =>
            {
                o.ConcurrencyLimits["deferred.tests.limited"] = new DeferredConcurrencyLimit { Cluster = 0 };
                o.ConcurrencyLimits["no.such.type"] = new DeferredConcurrencyLimit { PerSilo = 1 };
            },
            configureSilo: silo => silo.Services.AddDeferredTaskHandler<LimitedTask, LimitedHandler>()));

        var message = ExceptionText.Flatten(error);
        Assert.Contains("ConcurrencyLimits['deferred.tests.limited'].Cluster is 0", message);
        Assert.Contains("'no.such.type', which has no handler", message);
    }

    [Theory]
    [InlineData(0, null, "perSilo")]
    [InlineData(null, -1, "cluster")]
    [InlineData(null, null, "perSilo")]
    public void A_bad_limit_in_code_is_refused_naming_the_value(int? perSilo, int? clusterWide, string parameter)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddDeferredConcurrencyLimit<LimitedTask>(perSilo, clusterWide));
        Assert.Equal(parameter, error.ParamName);
        Assert.Contains(nameof(LimitedTask), error.Message);
    }

    private protected static async Task<long> CountLeasesAsync(DeferredTestCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM deferred_concurrency_leases WHERE service_id = @s", connection);
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
