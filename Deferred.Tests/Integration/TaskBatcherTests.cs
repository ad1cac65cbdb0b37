using Deferred.Lifecycle;
using Deferred.Storage.Postgres;
using Deferred.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>The default store's group commit, on the real table.</summary>
public sealed class TaskBatcherTests
{
    [Fact]
    public async Task Concurrent_operations_share_batches_and_a_bad_row_fails_only_its_own_operation()
    {
        var database = await TestDatabase.Shared;
        var service = "b-" + Guid.NewGuid().ToString("N")[..12];
        await using var batcher = new TaskBatcher(database.DataSource, service, new DeferredOptions { StoreMaxBatchesInFlight = 1, StoreMaxBatchSize = 512 });

        // 200 inserts at once, one of which breaks a CHECK constraint (max_attempts >= 1).
        var inserts = Enumerable.Range(0, 200)
            .Select(i => batcher.InsertAsync(Row($"task-{i}", maxAttempts: i == 77 ? 0 : 3)))
            .ToList();
        var outcomes = await Task.WhenAll(inserts.Select(async t =>
        {
            try
            {
                return await t ? "inserted" : "conflict";
            }
            catch (PostgresException ex)
            {
                return ex.SqlState;
            }
        }));

        Assert.Equal(PostgresErrorCodes.CheckViolation, outcomes[77]);
        Assert.Equal(199, outcomes.Count(o => o == "inserted"));
        Assert.Equal(199L, await database.ScalarAsync<long>("SELECT count(*) FROM deferred_tasks WHERE service_id = @s", ("s", service)));

        // A second insert of an existing id is a conflict, not an error.
        Assert.False(await batcher.InsertAsync(Row("task-1", maxAttempts: 3)));

        // Versioned writes: the right version applies, a stale one does not.
        var read = await batcher.ReadAsync("task-2");
        Assert.NotNull(read);
        Assert.Equal(1, read.Version);
        Assert.Equal(2, await batcher.UpdateAsync(read with { State = Failed(read.State) }, expectedVersion: 1));
        Assert.Null(await batcher.UpdateAsync(read, expectedVersion: 1));
        Assert.False(await batcher.DeleteAsync("task-2", expectedVersion: 1));
        Assert.True(await batcher.DeleteAsync("task-2", expectedVersion: 2));
        Assert.Null(await batcher.ReadAsync("task-2"));

        var stored = await batcher.ReadAsync("task-3");
        Assert.Equal("probe", stored!.State.TaskType);
        Assert.Equal(new byte[] { 1, 2, 3 }, stored.State.Payload);
    }

    private static TaskRow Row(string id, int maxAttempts) => new(id, new TaskRecord
    {
        TaskType = "probe",
        Payload = [1, 2, 3],
        Status = DeferredTaskStatus.Pending,
        MaxAttempts = maxAttempts,
        EnqueuedAt = DateTimeOffset.UtcNow,
        NextRunAt = DateTimeOffset.UtcNow,
    }, 0);

    private static TaskRecord Failed(TaskRecord state)
    {
        return state with
        {
            Status = DeferredTaskStatus.Failed,
            Attempts = 1,
            LastError = new DeferredTaskError { Type = "X", Message = "boom", Attempt = 1 },
        };
    }
}
