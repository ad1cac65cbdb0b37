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
    // The shape that showed the fault (found with a console reproduction against Npgsql 10.0.3): a text filter and
    // a keyset bound, both text parameters.
    private const string Listing = "SELECT g::text FROM generate_series(1, 50) AS g WHERE ($1::text IS NULL OR g::text = $1) AND g::text > $2 ORDER BY 1 LIMIT 10";

    [Fact]
    public async Task A_read_the_server_refuses_leaves_its_pooled_connection_usable()
    {
        var database = await TestDatabase.Shared;

        // One pooled connection, so the refused statement's connection is the one every later read gets. The refusals
        // land on each use count in turn, among them the use that prepares the statement (the 5th by default).
        for (var usesBefore = 0; usesBefore < 8; usesBefore++)
        {
            var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString) { MaxPoolSize = 1 };
            await using var deferredDatabase = new DeferredDatabase(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { ConnectionString = connection.ConnectionString }));
            Task<int> Read(string? filter, string after = "") => deferredDatabase.ReadGuardedAsync(
                Listing,
                command =>
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = (object?)filter ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                    command.Parameters.Add(new NpgsqlParameter { Value = after, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                },
                async command =>
                {
                    await using var reader = await command.ExecuteReaderAsync();
                    var rows = 0;
                    while (await reader.ReadAsync())
                    {
                        rows++;
                    }

                    return rows;
                },
                CancellationToken.None);

            for (var i = 0; i < usesBefore; i++)
            {
                Assert.Equal(10, await Read(null));
            }

            foreach (var (filter, after) in new[] { ("a\0b", ""), (null as string, "c\0") })
            {
                var refused = await Assert.ThrowsAsync<PostgresException>(() => Read(filter, after));
                Assert.Equal(PostgresErrorCodes.CharacterNotInRepertoire, refused.SqlState);
            }

            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(10, await Read(null));
            }
        }
    }

    [Theory]
    [InlineData(DeferredStore.Postgres)]
    [InlineData(DeferredStore.OrleansAdoNet)]
    public async Task Both_catalogs_list_through_the_guarded_read(DeferredStore store)
    {
        var database = await TestDatabase.Shared;
        var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString) { MaxPoolSize = 1 };
        await using var deferredDatabase = new DeferredDatabase(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { ConnectionString = connection.ConnectionString }));
        var cluster = Microsoft.Extensions.Options.Options.Create(new ClusterOptions { ServiceId = "pool-" + Guid.NewGuid().ToString("N")[..12] });
        IDeferredTaskCatalog catalog = store == DeferredStore.Postgres
            ? new PostgresCatalog(deferredDatabase, cluster, Microsoft.Extensions.Options.Options.Create(new DeferredOptions()))
            : new OrleansAdoNetCatalog(deferredDatabase, cluster);
        for (var i = 0; i < 8; i++)
        {
            await Assert.ThrowsAsync<PostgresException>(() => catalog.ListAsync(new DeferredTaskFilter { TaskType = "a\0b" }, null, 10, CancellationToken.None));
            Assert.Empty(await catalog.ListAsync(new DeferredTaskFilter { TaskType = "some.type" }, null, 10, CancellationToken.None));
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
            new DeferredEnqueueOptions { MaxAttempts = 1 });

        var dead = await Eventually.Until(
            () => cluster.Client.GetAsync(id),
            info => info is { Status: DeferredTaskStatus.Dead },
            "the task to be stored as dead with its error");
        Assert.Equal("before\uFFFDafter \uFFFD end", dead!.LastError!.Message);
        Assert.Single(cluster.Probe.RunsOf(id));
    }
}
