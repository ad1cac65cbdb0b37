using Deferred.Health;
using Deferred.Lifecycle;
using Deferred.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class HealthCheckTests
{
    [Theory]
    [InlineData(0, HealthStatus.Healthy)]
    [InlineData(2048, HealthStatus.Healthy)]
    [InlineData(2049, HealthStatus.Degraded)]
    [InlineData(20_481, HealthStatus.Unhealthy)]
    public async Task The_batcher_check_grades_the_write_queue_against_the_batch_settings(int queued, HealthStatus expected)
    {
        // 4 batches of 128 per connection, 4 connections: degraded above 2,048 queued, unhealthy above 20,480.
        var options = Microsoft.Extensions.Options.Options.Create(new DeferredOptions { StoreMaxBatchSize = 128, StoreMaxBatchesInFlight = 4 });
        var result = await new BatcherHealthCheck(new FakeStore(queued), options).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(expected, result.Status);
        Assert.Contains(queued.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Description);
    }

    [Fact]
    public async Task A_store_without_a_write_queue_is_healthy_and_says_so()
    {
        var options = Microsoft.Extensions.Options.Options.Create(new DeferredOptions());
        var result = await new BatcherHealthCheck(new FakeStore(null), options).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Contains("does not queue", result.Description);
    }

    [Fact]
    public async Task An_unreachable_database_makes_the_store_check_unhealthy_with_a_reason()
    {
        // Nothing listens on port 1: the connection is refused at once.
        await using var database = new DeferredDatabase(Microsoft.Extensions.Options.Options.Create(new DeferredOptions
        {
            ConnectionString = "Host=127.0.0.1;Port=1;Username=nobody;Database=nothing;Timeout=2",
        }));
        var result = await new StoreHealthCheck(database).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("cannot reach PostgreSQL", result.Description);
        Assert.DoesNotContain("nobody", result.Description);
    }

    private sealed class FakeStore(int? backlog) : IDeferredTaskStore
    {
        public string Name => "Fake";

        public IGrainStorage GrainStorage => throw new NotSupportedException();

        public IDeferredTaskCatalog Catalog => throw new NotSupportedException();

        public FarWakeup FarWakeup => FarWakeup.Poller;

        public IDueTaskSource? DueTasks => null;

        public IDirectTaskInserter? DirectInsert => null;

        public int? Backlog => backlog;

        public INewTaskSignal? NewTasks => null;

        public IOrderingKeys? OrderingKeys => null;

        public ICompletedTaskIds? CompletedIds => null;

        public IAttemptTransactions? Transactions => null;

        public void NoteNewTaskId(string taskId)
        {
        }
    }
}
