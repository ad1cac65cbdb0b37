using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// Stores own what they need: only the stock store, which wakes far tasks by Orleans reminders, brings Orleans' reminder
/// service (and its table); the default store runs without one; a stock store chosen where AddDeferredTasks cannot see
/// the choice fails at start, saying what to call.
/// </summary>
public sealed class ReminderServiceTests
{
    [Fact]
    public async Task A_silo_on_the_default_store_runs_without_a_reminder_service()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();

        Assert.Null(cluster.Cluster.Silos[0].ServiceProvider.GetService<IReminderTable>());
        var far = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "far" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        Assert.Equal(DeferredTaskStatus.Pending, (await cluster.Client.GetAsync(far))!.Status);
    }

    [Fact]
    public async Task A_silo_on_the_stock_store_gets_the_reminder_service_and_stores_a_far_task()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(store: DeferredStore.OrleansAdoNet);

        Assert.NotNull(cluster.Cluster.Silos[0].ServiceProvider.GetService<IReminderTable>());
        var far = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "far" }, new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        var details = await cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>().ShowAsync(far);
        Assert.Equal(DeferredTaskStatus.Pending, details!.Info.Status);
    }

    [Fact]
    public async Task The_stock_store_chosen_out_of_sight_of_AddDeferredTasks_fails_the_start_naming_the_call_to_make()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(
            configureSilo: silo => silo.Services.PostConfigure<DeferredOptions>(o => o.Store = DeferredStore.OrleansAdoNet)));

        var message = ExceptionText.Flatten(error);
        Assert.Contains("no reminder service is configured", message);
        Assert.Contains("UseDeferredOrleansAdoNetStore()", message);
    }
}
