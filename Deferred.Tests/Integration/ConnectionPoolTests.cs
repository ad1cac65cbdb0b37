using Deferred.Options;
using Deferred.Storage;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Storage.Postgres;
using Deferred.Tests.Infrastructure;
using Npgsql;
using Orleans.Configuration;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// Issue 23, item 2: a NUL in an operator's filter was refused by PostgreSQL (22021) and left a pooled connection out
/// of step (Npgsql's automatic preparation kept the refused statement as prepared), so later ordinary listings failed
/// with "Received unexpected backend message DataRow". Input is now refused at the boundary; these check the second
/// line: a statement the server refuses never hands a broken connection to the next user.
/// </summary>
public sealed class ConnectionPoolTests
{
    [Theory]
    [InlineData(DeferredStore.Postgres)]
    [InlineData(DeferredStore.OrleansAdoNet)]
    public async Task A_listing_the_server_refuses_leaves_its_pooled_connection_usable(DeferredStore store)
    {
        var database = await TestDatabase.Shared;

        // One pooled connection, so the refused statement's connection is the one every later listing gets; the
        // refusal lands on each use count in turn, including the one that prepares the statement (the 5th by default).
        for (var usesBefore = 0; usesBefore < 8; usesBefore++)
        {
            var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString) { MaxPoolSize = 1 };
            await using var deferredDatabase = new DeferredDatabase(Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions { ConnectionString = connection.ConnectionString }));
            var cluster = Microsoft.Extensions.Options.Options.Create(new ClusterOptions { ServiceId = "pool-" + Guid.NewGuid().ToString("N")[..12] });
            IDeferredTaskCatalog catalog = store == DeferredStore.Postgres
                ? new PostgresCatalog(deferredDatabase, cluster, Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions()))
                : new OrleansAdoNetCatalog(deferredDatabase, cluster);
            var plain = new DeferredTaskFilter { TaskType = "some.type" };
            for (var i = 0; i < usesBefore; i++)
            {
                await catalog.ListAsync(plain, null, 10, CancellationToken.None);
            }

            // Straight to the catalog, past the validation that refuses it now.
            var refused = await Assert.ThrowsAsync<PostgresException>(() => catalog.ListAsync(new DeferredTaskFilter { TaskType = "a\0b" }, null, 10, CancellationToken.None));
            Assert.Equal(PostgresErrorCodes.CharacterNotInRepertoire, refused.SqlState);

            for (var i = 0; i < 20; i++)
            {
                await catalog.ListAsync(plain, null, 10, CancellationToken.None);
            }
        }
    }
}

[Collection(nameof(HandlerErrorTextTestsOnPostgresStore))]
public sealed class HandlerErrorTextTestsOnPostgresStore : HandlerErrorTextTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

[Collection(nameof(HandlerErrorTextTestsOnStockAdoNet))]
public sealed class HandlerErrorTextTestsOnStockAdoNet : HandlerErrorTextTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>A handler's error text is third-party text: one PostgreSQL cannot store must not lose the task's outcome.</summary>
public abstract class HandlerErrorTextTests : StoreConformance
{
    [Fact]
    public async Task A_failure_whose_message_holds_a_NUL_or_half_a_surrogate_pair_is_stored_with_replacement_characters()
    {
        await using var cluster = await StartAsync();
        var id = await cluster.Client.EnqueueAsync(
            new ProbeTask { Behavior = ProbeBehavior.FailWithNote, Note = "before\0after \uD800 end" },
            new DeferredTaskOptions { MaxAttempts = 1 });

        var dead = await Eventually.Until(
            () => cluster.Client.GetAsync(id),
            info => info is { Status: DeferredTaskStatus.Dead },
            "the task to be stored as dead with its error");
        Assert.Equal("before\uFFFDafter \uFFFD end", dead!.LastError!.Message);
        Assert.Single(cluster.Probe.RunsOf(id));
    }
}
