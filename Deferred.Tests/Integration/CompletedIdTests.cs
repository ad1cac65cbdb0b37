using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// CompletedIdRetention: the default store remembers a caller-chosen id for a while after its task completed, so a
/// repeated enqueue (the caller saw its first call fail, but the task was stored and has run) does not run it again.
/// </summary>
public sealed class CompletedIdTests
{
    [Fact]
    public async Task An_enqueue_repeated_after_the_task_completed_stores_nothing_and_reports_it_completed()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();
        var options = new DeferredEnqueueOptions { TaskId = "once-" + Guid.NewGuid().ToString("N")[..8] };
        var id = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "once" }, options);
        await cluster.Probe.WaitForRunsAsync(id, 1);
        await Eventually.True(async () => await cluster.Client.GetAsync(id) is null, "the task's row to be deleted");

        var repeated = await cluster.Client.EnqueueWithResultAsync(new ProbeTask { Note = "once" }, options);

        Assert.False(repeated.Created);
        Assert.Equal(DeferredTaskStatus.Completed, repeated.Info.Status);
        Assert.NotNull(repeated.Info.CompletedAt);
        Assert.Equal(id, repeated.Info.TaskId);
        Assert.Equal(0L, await cluster.CountRowsAsync());

        // The same through an app transaction: nothing is stored either.
        var enqueuer = cluster.Cluster.Client.ServiceProvider.GetRequiredService<DeferredTransactionalEnqueuer>();
        await using var app = NpgsqlDataSource.Create(cluster.Database.ConnectionString);
        await using (var connection = await app.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await enqueuer.EnqueueAsync(transaction, new ProbeTask { Note = "once" }, options);
            await transaction.CommitAsync();
        }

        Assert.Equal(0L, await cluster.CountRowsAsync());
        Assert.Single(cluster.Probe.RunsOf(id));
    }

    [Fact]
    public async Task Generated_ids_are_not_remembered_and_a_forgotten_id_enqueues_a_new_task()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.SweepInterval = TimeSpan.FromMinutes(10));
        var generated = await cluster.Client.EnqueueAsync(new ProbeTask { Note = "generated" });
        var chosen = "forgotten-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.Client.EnqueueAsync(new ProbeTask { Note = "chosen" }, new DeferredEnqueueOptions { TaskId = chosen });
        await cluster.Probe.WaitForRunsAsync(generated, 1);
        await cluster.Probe.WaitForRunsAsync(chosen, 1);
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "both rows to be deleted");
        Assert.Equal([chosen], await RememberedAsync(cluster));

        // Older than the retention: housekeeping forgets it, and the id is a new task again.
        await ExecuteAsync(cluster, "UPDATE deferred_completed_ids SET completed_at = now() - interval '1 hour' WHERE service_id = @s");
        await cluster.Housekeeping().TidyAsync(CancellationToken.None);
        Assert.Empty(await RememberedAsync(cluster));

        var again = await cluster.Client.EnqueueWithResultAsync(new ProbeTask { Note = "chosen" }, new DeferredEnqueueOptions { TaskId = chosen });
        Assert.True(again.Created);
        await cluster.Probe.WaitForRunsAsync(chosen, 2);
    }

    [Fact]
    public async Task With_retention_zero_a_completed_id_is_free_at_once()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.CompletedIdRetention = TimeSpan.Zero);
        var options = new DeferredEnqueueOptions { TaskId = "free-" + Guid.NewGuid().ToString("N")[..8] };
        var id = await cluster.Client.EnqueueAsync(new ProbeTask(), options);
        await cluster.Probe.WaitForRunsAsync(id, 1);
        await Eventually.True(async () => await cluster.Client.GetAsync(id) is null, "the task's row to be deleted");

        Assert.True((await cluster.Client.EnqueueWithResultAsync(new ProbeTask(), options)).Created);
        await cluster.Probe.WaitForRunsAsync(id, 2);
        Assert.Empty(await RememberedAsync(cluster));
    }

    private static async Task<List<string>> RememberedAsync(DeferredTestCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT task_id FROM deferred_completed_ids WHERE service_id = @s", connection);
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    private static async Task ExecuteAsync(DeferredTestCluster cluster, string sql)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        await command.ExecuteNonQueryAsync();
    }
}
