using System.Collections.Concurrent;
using System.Globalization;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class FilterTestsOnPostgresStore : FilterTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class FilterTestsOnStockAdoNet : FilterTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>Execution filters: ordered, around every attempt, able to set an ambient scope or fail the attempt.</summary>
public abstract class FilterTests : StoreConformance
{
    [Fact]
    public async Task Filters_run_around_every_attempt_in_registration_order_and_their_scope_reaches_the_handler()
    {
        await using var cluster = await StartAsync(configureSilo: silo => silo.Services
            .AddDeferredTaskFilter<OuterFilter>()
            .AddDeferredTaskFilter<CultureFilter>());
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "filtered" });

        await cluster.Probe.WaitForRunsAsync(taskId, 1);
        await Eventually.True(() => Task.FromResult(Trail(taskId).Count == 4), "both filters to finish");

        Assert.Equal(["outer>", "culture>", "<culture", "<outer"], Trail(taskId));
        Assert.Equal("fr-FR", cluster.Probe.RunsOf(taskId).Single().Culture);
    }

    [Fact]
    public async Task A_filter_that_throws_fails_the_attempt_without_running_the_handler()
    {
        await using var cluster = await StartAsync(configureSilo: silo => silo.Services.AddDeferredTaskFilter<BlockingFilter>());
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "blocked" }, new DeferredEnqueueOptions { MaxAttempts = 1 });

        await Eventually.True(async () => (await cluster.Client.GetAsync(taskId))?.Status == DeferredTaskStatus.Dead, "the blocked task to die");
        var info = await cluster.Client.GetAsync(taskId);
        Assert.Contains("blocked by filter", info!.LastError!.Message);
        Assert.Empty(cluster.Probe.RunsOf(taskId));
    }

    private static readonly ConcurrentDictionary<string, ConcurrentQueue<string>> Trails = new();

    private static List<string> Trail(string taskId) => [.. Trails.GetOrAdd(taskId, _ => new())];

    private sealed class OuterFilter : IDeferredTaskFilter
    {
        public async Task InvokeAsync(DeferredAttempt attempt, Func<Task> proceed)
        {
            var trail = Trails.GetOrAdd(attempt.Context.TaskId, _ => new());
            trail.Enqueue("outer>");
            await proceed();
            trail.Enqueue("<outer");
        }
    }

    private sealed class CultureFilter : IDeferredTaskFilter
    {
        public async Task InvokeAsync(DeferredAttempt attempt, Func<Task> proceed)
        {
            var trail = Trails.GetOrAdd(attempt.Context.TaskId, _ => new());
            trail.Enqueue("culture>");
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("fr-FR");
            await proceed();
            trail.Enqueue("<culture");
        }
    }

    private sealed class BlockingFilter : IDeferredTaskFilter
    {
        public Task InvokeAsync(DeferredAttempt attempt, Func<Task> proceed) =>
            attempt.Task is ProbeTask { Note: "blocked" } ? throw new InvalidOperationException("blocked by filter") : proceed();
    }
}
