using Deferred.Storage;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class CatalogTests
{
    [Fact]
    public async Task The_stock_store_scan_works_when_PostgreSQL_picks_a_parallel_plan()
    {
        // Regression: deferred_try_jsonb starts a subtransaction, which parallel plans forbid; on a big enough
        // orleansstorage the scan failed. Zero parallel costs make the planner go parallel on a small table.
        var database = await TestDatabase.Shared;
        var service = "c-" + Guid.NewGuid().ToString("N")[..12];
        await database.ExecuteAsync(
            """
            INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
            SELECT i, 0, 0, 1, 'deferred-task', 'task-' || i, @s,
                   convert_to('{"status":"Pending","nextRunAt":"2020-01-01T00:00:00+00:00","hasReminder":false}', 'UTF8'), now(), 1
            FROM generate_series(1, 2000) AS i
            """,
            ("s", service));
        var connection = new NpgsqlConnectionStringBuilder(database.ConnectionString)
        {
            Options = "-c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 -c min_parallel_index_scan_size=0 -c max_parallel_workers_per_gather=2",
        };
        await using var deferredDatabase = new DeferredDatabase(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { ConnectionString = connection.ConnectionString }));
        var catalog = new OrleansAdoNetCatalog(deferredDatabase, Microsoft.Extensions.Options.Options.Create(new ClusterOptions { ServiceId = service }));

        var counts = await catalog.CountByStatusAsync(CancellationToken.None);
        var page = await catalog.ListResumableAsync("", 5000, DateTimeOffset.UtcNow, CancellationToken.None);

        Assert.Equal(2000, counts["Pending"]);
        Assert.Equal(2000, page.Count);
    }
}
