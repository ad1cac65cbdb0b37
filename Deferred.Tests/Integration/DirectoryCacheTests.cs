using Deferred.TaskGrain;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Metadata;
using Orleans.Runtime.GrainDirectory;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// Completed tasks leave nothing in Orleans' grain directory cache (issue 11: a silo's memory grew by about 340 bytes per
/// completed task), and an application's own directory cache choice is left alone.
/// </summary>
public sealed class DirectoryCacheTests
{
    [Fact]
    public async Task Completed_tasks_leave_no_entry_in_the_grain_directory_cache_of_either_silo()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(silos: 2);

        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await cluster.OnSilo(i % 2).EnqueueAsync(new ProbeTask()));
        }

        foreach (var id in ids)
        {
            await cluster.Probe.WaitForRunsAsync(id, 1);
        }

        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every task row to be deleted");
        foreach (var silo in cluster.Cluster.Silos)
        {
            var services = silo.ServiceProvider;
            Assert.Equal(GrainDirectoryOptions.CachingStrategyType.Custom, services.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value.CachingStrategy);
            var cache = Assert.IsType<TaskDirectoryCache>(services.GetRequiredService<IGrainDirectoryCache>());
            var taskType = services.GetRequiredService<GrainTypeResolver>().GetGrainType(typeof(TaskGrain.DeferredTaskGrain));
            var cached = cache.KeyValues.Select(e => e.ActivationAddress.GrainId).ToList();
            Assert.DoesNotContain(cached, id => id.Type == taskType);
        }
    }

    [Fact]
    public async Task An_application_that_chose_its_directory_cache_strategy_keeps_it()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(configureSilo: silo =>
            silo.Configure<GrainDirectoryOptions>(o => o.CachingStrategy = GrainDirectoryOptions.CachingStrategyType.None));

        var id = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(id, 1);

        var options = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value;
        Assert.Equal(GrainDirectoryOptions.CachingStrategyType.None, options.CachingStrategy);
    }

    [Fact]
    public async Task The_option_turned_off_leaves_Orleans_default_cache()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(configure: o => o.SkipDirectoryCacheForTasks = false);

        var id = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(id, 1);

        var options = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value;
        Assert.Equal(GrainDirectoryOptions.CachingStrategyType.LRU, options.CachingStrategy);
    }
}
