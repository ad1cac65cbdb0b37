using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Storage.Postgres;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Configuration;
using Xunit;
using Xunit.Abstractions;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Deferred.Tests.Integration;

public sealed class ListingTestsOnPostgresStore(ITestOutputHelper output) : ListingTests(output)
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class ListingTestsOnStockAdoNet(ITestOutputHelper output) : ListingTests(output)
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>The operator listing and counts of <see cref="IDeferredTaskCatalog"/>, on both stores.</summary>
public abstract class ListingTests(ITestOutputHelper output) : StoreConformance
{
    private static readonly DateTimeOffset Base = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly DeferredTaskStatus[] Statuses = [DeferredTaskStatus.Pending, DeferredTaskStatus.Failed, DeferredTaskStatus.Dead];

    private bool Stock => Store == DeferredStore.OrleansAdoNet;

    [Fact]
    public async Task Paging_through_enqueued_tasks_returns_each_exactly_once_in_due_order()
    {
        await using var cluster = await StartAsync();
        const int count = 41;
        var due = new DateTimeOffset(DateTimeOffset.UtcNow.AddDays(1).UtcTicks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var enqueued = new Dictionary<string, DateTimeOffset>();
        for (var n = 0; n < count; n++)
        {
            // Enqueued out of list order; five tasks share each due time, so the id breaks ties.
            var i = n * 17 % count;
            var id = $"page-{i:D3}";
            enqueued[id] = due.AddMinutes(i % 9);
            await cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { TaskId = id, RunAt = enqueued[id] });
        }

        var catalog = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<IDeferredTaskCatalog>();
        var taskType = (await cluster.Client.GetAsync("page-000"))!.TaskType;

        foreach (var filter in new DeferredTaskFilter[] { new(), new() { Status = DeferredTaskStatus.Pending }, new() { TaskType = taskType } })
        {
            foreach (var pageSize in new[] { 1, 7, 41, 500 })
            {
                var listed = await ListAllAsync(catalog, filter, pageSize);

                Assert.Equal(count, listed.Count);
                Assert.Equal(enqueued.Keys.Order(StringComparer.Ordinal), listed.Select(t => t.TaskId).Order(StringComparer.Ordinal));
                Assert.Equal(
                    enqueued.OrderBy(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Select(e => e.Key),
                    listed.Select(t => t.TaskId));
                Assert.All(listed, t =>
                {
                    Assert.Equal(enqueued[t.TaskId], t.NextRunAt);
                    Assert.Equal(taskType, t.TaskType);
                    Assert.Equal(DeferredTaskStatus.Pending, t.Status);
                    Assert.Equal(0, t.Attempts);
                    Assert.True(t.MaxAttempts >= 1);
                    Assert.InRange(t.EnqueuedAt, DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddMinutes(1));
                    Assert.Null(t.LastErrorType);
                    Assert.Null(t.LastErrorMessage);
                });
            }
        }
    }

    [Fact]
    public async Task Each_filter_narrows_the_listing_to_exactly_the_matching_tasks_in_order()
    {
        var database = await TestDatabase.Shared;
        var service = "l-" + Guid.NewGuid().ToString("N")[..12];
        var seeds = Seeds();
        await SeedAsync(database, service, seeds);
        await SeedAsync(database, service + "-other", seeds);
        if (Stock)
        {
            await SeedStockOddRowsAsync(database, service);
        }

        await using var deferredDatabase = Connect(database.ConnectionString);
        var catalog = CatalogFor(deferredDatabase, service);
        var stored = Stock ? [.. seeds, .. OddStockSeeds] : seeds;

        var filters = new List<DeferredTaskFilter>
        {
            new(),
            new() { TaskType = "beta" },
            new() { TaskType = "gamma" },
            new() { TaskType = "no-such-type" },
            new() { DueFrom = Base.AddMinutes(3) },
            new() { DueBefore = Base.AddMinutes(5) },
            new() { DueFrom = Base.AddMinutes(3), DueBefore = Base.AddMinutes(5) },
            new() { DueFrom = Base.AddMinutes(3).AddTicks(1) },
            new() { DueBefore = Base.AddMinutes(5).AddTicks(1) },
            new() { ErrorContains = "timeout" },
            new() { ErrorContains = "DECLINED" },
            new() { ErrorContains = "acme.payment" },
            new() { ErrorContains = "%" },
            new() { Status = DeferredTaskStatus.Dead, TaskType = "alpha", DueFrom = Base.AddMinutes(1), ErrorContains = "card" },
            new() { TaskType = "beta", DueBefore = Base.AddMinutes(6), ErrorContains = "Timed Out" },
        };
        filters.AddRange(Statuses.Select(s => new DeferredTaskFilter { Status = s }));
        filters.AddRange(Statuses.Select(s => new DeferredTaskFilter { Status = s, TaskType = "alpha" }));

        foreach (var filter in filters)
        {
            var expected = stored.Where(s => Matches(filter, s)).OrderBy(s => s.NextRunAt).ThenBy(s => s.TaskId, StringComparer.Ordinal).Select(s => s.TaskId).ToList();
            foreach (var pageSize in new[] { 1, 4, 500 })
            {
                var listed = await ListAllAsync(catalog, filter, pageSize);
                Assert.True(expected.SequenceEqual(listed.Select(t => t.TaskId)), $"{filter} with pages of {pageSize}: expected [{string.Join(", ", expected)}], listed [{string.Join(", ", listed.Select(t => t.TaskId))}]");
            }
        }

        var all = await ListAllAsync(catalog, new DeferredTaskFilter(), 500);
        var byId = seeds.ToDictionary(s => s.TaskId);
        Assert.Equal(stored.Count, all.Count);
        Assert.All(all.Where(t => byId.ContainsKey(t.TaskId)), t =>
        {
            var seed = byId[t.TaskId];
            Assert.Equal(seed.TaskType, t.TaskType);
            Assert.Equal(seed.Status, t.Status);
            Assert.Equal(seed.Attempts, t.Attempts);
            Assert.Equal(5, t.MaxAttempts);
            Assert.Equal(seed.EnqueuedAt, t.EnqueuedAt);
            Assert.Equal(seed.NextRunAt, t.NextRunAt);
            Assert.Equal(seed.ErrorType, t.LastErrorType);
            Assert.Equal(seed.ErrorMessage, t.LastErrorMessage);
            Assert.Equal(seed.Owner, t.Owner);
        });
    }

    [Fact]
    public async Task Counts_by_status_and_type_match_what_is_stored()
    {
        var database = await TestDatabase.Shared;
        var service = "n-" + Guid.NewGuid().ToString("N")[..12];
        var seeds = Seeds();
        await SeedAsync(database, service, seeds);
        await SeedAsync(database, service + "-other", seeds.Take(7).ToList());
        if (Stock)
        {
            await SeedStockOddRowsAsync(database, service);
        }

        await using var deferredDatabase = Connect(database.ConnectionString);
        var catalog = CatalogFor(deferredDatabase, service);

        var counts = await catalog.CountByStatusAndTypeAsync(CancellationToken.None);
        var empty = await CatalogFor(deferredDatabase, service + "-none").CountByStatusAndTypeAsync(CancellationToken.None);

        var expected = (Stock ? [.. seeds, .. OddStockSeeds] : seeds)
            .GroupBy(s => (s.Status, s.TaskType))
            .Select(g => new DeferredTaskCount(g.Key.Status, g.Key.TaskType, g.Count()))
            .OrderBy(c => c.TaskType, StringComparer.Ordinal).ThenBy(c => c.Status.ToString(), StringComparer.Ordinal);
        Assert.Equal(expected, counts);
        Assert.Empty(empty);
    }

    [Fact]
    public async Task Paging_survives_tasks_due_at_the_same_time_as_the_page_boundary_and_at_the_earliest_time()
    {
        // Rows a store keeps with the default next run (0001-01-01: the stock store's rows stored dead as unreadable)
        // must page like any other: a key there must not turn into -infinity and list them again.
        var database = await TestDatabase.Shared;
        var service = "e-" + Guid.NewGuid().ToString("N")[..12];
        var seeds = Enumerable.Range(0, 9)
            .Select(i => new Seed($"e-{i}", "", DeferredTaskStatus.Dead, i < 5 ? DateTimeOffset.MinValue : Base, "Deferred.CorruptRow", "unreadable"))
            .ToList();
        await SeedAsync(database, service, seeds);
        await using var deferredDatabase = Connect(database.ConnectionString);
        var catalog = CatalogFor(deferredDatabase, service);

        var listed = await ListAllAsync(catalog, new DeferredTaskFilter(), 2);
        var from = await ListAllAsync(catalog, new DeferredTaskFilter { DueFrom = DateTimeOffset.MinValue }, 3);

        Assert.Equal(seeds.Select(s => s.TaskId), listed.Select(t => t.TaskId));
        Assert.Equal(seeds.Select(s => s.TaskId), from.Select(t => t.TaskId));
        Assert.Equal(DateTimeOffset.MinValue, listed[0].NextRunAt);
    }

    [Fact]
    public async Task A_page_of_the_listing_reads_an_index_range_not_the_table_whatever_the_plan()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        const string service = "explain";
        await database.ExecuteAsync(Stock ? StockBulkSeed : DefaultBulkSeed, ("s", service), ("n", 20_000));
        await database.ExecuteAsync(Stock ? StockBulkSeed : DefaultBulkSeed, ("s", "explain-other"), ("n", 2_000));
        await database.ExecuteAsync("ANALYZE");
        var table = Stock ? "orleansstorage" : "deferred_tasks";
        var tablePages = await database.ScalarAsync<long>("SELECT relpages FROM pg_class WHERE relname = @t", ("t", table));

        await using var deferredDatabase = Connect(database.ConnectionString);
        var catalog = CatalogFor(deferredDatabase, service);
        var middle = new DeferredTaskFilter { DueFrom = Base.AddMinutes(2500) };
        var deep = TaskListKey.Of((await catalog.ListAsync(middle, null, 50, CancellationToken.None))[^1]);

        // The index each shape must read. A page of a shape without an error substring must read fewer blocks than
        // half the table: one short index range per status. An error substring is checked row by row over the rows
        // with an error, so how far its pages read depends on how rare it is: they are not bounded that way.
        const string byStatus = "_list_status", byType = "_list_type", byError = "_list_errors";
        var shapes = new (string Name, DeferredTaskFilter Filter, TaskListKey? After, string[] Reads)[]
        {
            ("first page", new(), null, [byStatus]),
            ("a page deep in the list", new(), deep, [byStatus]),
            ("dead", new() { Status = DeferredTaskStatus.Dead }, null, [byStatus]),
            ("dead, deep", new() { Status = DeferredTaskStatus.Dead }, deep, [byStatus]),
            ("a rare type", new() { TaskType = "type-rare" }, null, [byType]),
            ("a common type, deep", new() { TaskType = "type-3" }, deep, [byType]),
            ("a type and a status", new() { TaskType = "type-3", Status = DeferredTaskStatus.Failed }, null, [byType]),
            ("a due range", new() { DueFrom = Base.AddMinutes(4000), DueBefore = Base.AddMinutes(4100) }, null, [byStatus]),
            ("a due range, deep", middle, deep, [byStatus]),
            ("an error substring", new() { ErrorContains = "TIMED OUT" }, null, [byError]),
            ("an error substring, dead, deep", new() { ErrorContains = "timed", Status = DeferredTaskStatus.Dead }, deep, [byError]),
            ("a type and an error substring", new() { TaskType = "type-3", ErrorContains = "TIMED OUT" }, null, [byError, byType]),
        };

        // Each plan twice: as PostgreSQL plans a statement for the values at hand, and as it plans a prepared statement
        // once for any values (which it may switch to after five runs; Deferred's data source auto-prepares).
        await using var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString);
        await session.OpenAsync();
        await using (var generic = new NpgsqlCommand("SET plan_cache_mode = force_generic_plan", session))
        {
            await generic.ExecuteNonQueryAsync();
        }

        var findings = new List<string>();
        foreach (var (name, filter, after, reads) in shapes)
        {
            var sql = Stock ? OrleansAdoNetCatalog.ListStatement(filter) : PostgresCatalog.ListStatement(filter);
            var expected = reads.Select(i => (Stock ? "ix_orleansstorage_deferred" : "ix_deferred_tasks") + i).ToArray();
            await using var prepared = new NpgsqlCommand(sql, session);
            CatalogListing.AddParameters(prepared, service, filter, after, 50);
            await prepared.PrepareAsync();
            await using var named = new NpgsqlCommand("SELECT name FROM pg_prepared_statements WHERE NOT from_sql", session);
            var statement = (string)(await named.ExecuteScalarAsync())!;

            // EXECUTE takes the values as literals (PostgreSQL binds no protocol parameters inside EXPLAIN EXECUTE), in
            // the order Npgsql numbered the statement's parameters: the order they first appear in it.
            var arguments = Regex.Matches(Regex.Replace(sql, "--[^\n]*", ""), "@([a-z_]+)").Select(m => m.Groups[1].Value).Distinct().Select(p => Literal(prepared.Parameters[p].Value));

            foreach (var kind in new[] { "custom", "generic" })
            {
                await using var explain = new NpgsqlCommand(
                    kind == "custom"
                        ? "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql
                        : $"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE \"{statement}\"({string.Join(", ", arguments)})",
                    session);
                if (kind == "custom")
                {
                    CatalogListing.AddParameters(explain, service, filter, after, 50);
                }

                using var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
                var root = plan.RootElement[0].GetProperty("Plan");
                var nodes = Nodes(root).ToList();
                var blocks = root.GetProperty("Shared Hit Blocks").GetInt64() + root.GetProperty("Shared Read Blocks").GetInt64();
                var scans = string.Join(", ", nodes.Where(n => n.Type.EndsWith("Scan", StringComparison.Ordinal) && n.Type is not "Values Scan" and not "Function Scan").Select(n => $"{n.Type} {n.Index ?? n.Relation}").Distinct());
                var what = $"{name} ({kind} plan): {scans}; {blocks} blocks, the table has {tablePages} pages";
                findings.Add(what);

                Assert.DoesNotContain(nodes, n => n.Type == "Seq Scan");
                Assert.True(nodes.Any(n => n.Index is not null) && nodes.Where(n => n.Index is not null).All(n => expected.Contains(n.Index)), what);
                if (filter.ErrorContains is null)
                {
                    // Ordered reads that stop after a page, not a bitmap of every match.
                    Assert.True(nodes.All(n => n.Type != "Bitmap Heap Scan") && blocks < tablePages / 2, $"{what}. All: {string.Join(" | ", findings)}");
                }
            }

            session.UnprepareAll();
        }

        output.WriteLine(string.Join(Environment.NewLine, findings));
    }

    [Fact]
    public async Task The_listing_and_counts_run_under_the_least_privilege_role()
    {
        var role = "deferred_list_" + Guid.NewGuid().ToString("N")[..8];
        await using (var database = await TestDatabase.CreateAsync(migrate: true))
        {
            var seeds = Seeds();
            await SeedAsync(database, "role", seeds);
            await DeferredRoles.CreateAppRoleAsync(database.ConnectionString, role, "app-password");
            var asRole = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = role, Password = "app-password" }.ConnectionString;

            await using var deferredDatabase = Connect(asRole);
            var catalog = CatalogFor(deferredDatabase, "role");
            Assert.Equal(seeds.Count, (await ListAllAsync(catalog, new DeferredTaskFilter { ErrorContains = "e" }, 500)).Count + seeds.Count(s => s.ErrorType is null));
            Assert.Equal(seeds.Count, (await catalog.CountByStatusAndTypeAsync(CancellationToken.None)).Sum(c => c.Count));
        }

        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.ServerConnectionString) { Database = "postgres" }.ConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP ROLE \"{role}\"", admin);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>Every page of a listing, each asked for with the page token of the previous one, as the operator does.</summary>
    private static async Task<List<DeferredTaskSummary>> ListAllAsync(IDeferredTaskCatalog catalog, DeferredTaskFilter filter, int pageSize)
    {
        var all = new List<DeferredTaskSummary>();
        string? token = null;
        for (var pages = 1; ; pages++)
        {
            Assert.True(pages <= 1000, $"paging {filter} did not end after 1000 pages");
            var page = await catalog.ListAsync(filter, TaskListing.Decode(filter, token), pageSize, CancellationToken.None);
            Assert.InRange(page.Count, 0, pageSize);
            all.AddRange(page);
            if (page.Count < pageSize)
            {
                return all;
            }

            token = TaskListing.Encode(filter, TaskListKey.Of(page[^1]));
        }
    }

    private static bool Matches(DeferredTaskFilter filter, Seed seed) =>
        (filter.Status is null || filter.Status == seed.Status)
        && (filter.TaskType is null || filter.TaskType == seed.TaskType)
        && (filter.DueFrom is null || seed.NextRunAt >= filter.DueFrom)
        && (filter.DueBefore is null || seed.NextRunAt < filter.DueBefore)
        && (filter.ErrorContains is null
            || (seed.ErrorType?.Contains(filter.ErrorContains, StringComparison.OrdinalIgnoreCase) ?? false)
            || (seed.ErrorMessage?.Contains(filter.ErrorContains, StringComparison.OrdinalIgnoreCase) ?? false));

    /// <summary>60 tasks over three statuses, three types and eight due times, with ids in no particular order.</summary>
    private static List<Seed> Seeds() => Enumerable.Range(0, 60).Select(i =>
    {
        var status = i % 5 == 0 ? DeferredTaskStatus.Dead : i % 3 == 0 ? DeferredTaskStatus.Failed : DeferredTaskStatus.Pending;
        var type = i % 4 == 0 ? "beta" : i % 7 == 0 ? "gamma" : "alpha";
        var failed = status != DeferredTaskStatus.Pending;
        return new Seed(
            $"f-{i * 37 % 60:D2}",
            type,
            status,
            Base.AddMinutes(i % 8),
            failed ? (i % 2 == 0 ? "System.TimeoutException" : "Acme.PaymentDeclinedException") : null,
            failed ? (i % 2 == 0 ? $"The operation timed out after {i} s" : $"Card {i} DECLINED by the issuer (50%)") : null,
            i % 2 == 0 ? "10.0.0.1:11111@1" : null);
    }).ToList();

    private async Task SeedAsync(TestDatabase database, string service, IReadOnlyList<Seed> seeds)
    {
        if (Stock)
        {
            await database.ExecuteAsync(
                """
                INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
                SELECT u.hash, 0, 0, 7, @state, u.id, @s, u.payload, now(), 1
                FROM unnest(@hashes, @ids, @payloads) AS u(hash, id, payload)
                """,
                ("state", TaskRecord.StateName),
                ("s", service),
                ("hashes", seeds.Select((_, i) => i).ToArray()),
                ("ids", seeds.Select(s => s.TaskId).ToArray()),
                ("payloads", seeds.Select(s => JsonSerializer.SerializeToUtf8Bytes(s.ToRecord(), DeferredStateJsonContext.Default.TaskRecord)).ToArray()));
            return;
        }

        await database.ExecuteAsync(
            """
            INSERT INTO deferred_tasks (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, payload, last_error, owner)
            SELECT @s, u.id, u.type, u.status, u.attempts, 5, u.enqueued_at, u.next_run_at::timestamptz, '\x01'::bytea, u.last_error::jsonb, u.owner
            FROM unnest(@ids, @types, @statuses, @attempts, @enqueued, @next, @errors, @owners)
                 AS u(id, type, status, attempts, enqueued_at, next_run_at, last_error, owner)
            """,
            ("s", service),
            ("ids", seeds.Select(s => s.TaskId).ToArray()),
            ("types", seeds.Select(s => s.TaskType).ToArray()),
            ("statuses", seeds.Select(s => s.Status.ToString()).ToArray()),
            ("attempts", seeds.Select(s => s.Attempts).ToArray()),
            ("enqueued", seeds.Select(s => s.EnqueuedAt).ToArray()),
            // As text: Npgsql would write DateTimeOffset.MinValue as -infinity, which no store writes.
            ("next", seeds.Select(s => s.NextRunAt.ToString("O", CultureInfo.InvariantCulture)).ToArray()),
            ("errors", seeds.Select(s => s.ToRecord().LastError is { } e ? JsonSerializer.Serialize(e, DeferredStateJsonContext.Default.DeferredTaskError) : null).ToArray()),
            ("owners", seeds.Select(s => s.Owner).ToArray()));
    }

    /// <summary>
    /// The rows of <see cref="SeedStockOddRowsAsync"/> that are listed: JSON with a status but no readable due time
    /// reads as due at 0001-01-01 (what the grain reads, or stores once it finds the row unreadable).
    /// </summary>
    private static readonly List<Seed> OddStockSeeds =
    [
        new("odd-no-due", "alpha", DeferredTaskStatus.Pending, DateTimeOffset.MinValue),
        new("odd-bad-due", "alpha", DeferredTaskStatus.Dead, DateTimeOffset.MinValue),
    ];

    /// <summary>
    /// Stock rows the listing must take without failing: bytes that are not JSON (not listed), JSON without a due
    /// time or with an impossible one (listed at 0001-01-01), and another grain state of the same service (not listed).
    /// </summary>
    private static Task<int> SeedStockOddRowsAsync(TestDatabase database, string service) => database.ExecuteAsync(
        """
        INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
        VALUES (9001, 0, 0, 7, 'deferred-task', 'odd-corrupt', @s, '\xff00fe'::bytea, now(), 1),
               (9002, 0, 0, 7, 'deferred-task', 'odd-no-due', @s, convert_to('{"status":"Pending","taskType":"alpha"}', 'UTF8'), now(), 1),
               (9003, 0, 0, 7, 'deferred-task', 'odd-bad-due', @s, convert_to('{"status":"Dead","taskType":"alpha","nextRunAt":"2030-02-30T00:00:00+00:00"}', 'UTF8'), now(), 1),
               (9004, 0, 0, 8, 'other-state', 'odd-other', @s, convert_to('{"status":"Pending","taskType":"alpha","nextRunAt":"2030-01-01T00:00:00+00:00"}', 'UTF8'), now(), 1)
        """,
        ("s", service));

    private IDeferredTaskCatalog CatalogFor(DeferredDatabase database, string service) => Stock
        ? new OrleansAdoNetCatalog(database, MsOptions.Create(new ClusterOptions { ServiceId = service }))
        : new PostgresCatalog(database, MsOptions.Create(new ClusterOptions { ServiceId = service }), MsOptions.Create(new DeferredOptions()));

    private static DeferredDatabase Connect(string connectionString) =>
        new(MsOptions.Create(new DeferredOptions { ConnectionString = connectionString }));

    private static string Literal(object? value) => value switch
    {
        DBNull or null => "NULL",
        string text => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'",
        DateTimeOffset time when time == DateTimeOffset.MaxValue => "'infinity'",
        DateTimeOffset time => "'" + time.ToString("O", CultureInfo.InvariantCulture) + "'",
        int number => number.ToString(CultureInfo.InvariantCulture),
        _ => throw new NotSupportedException(value.GetType().Name),
    };

    private static IEnumerable<(string Type, string? Relation, string? Index)> Nodes(JsonElement node)
    {
        yield return (
            node.GetProperty("Node Type").GetString()!,
            node.TryGetProperty("Relation Name", out var relation) ? relation.GetString() : null,
            node.TryGetProperty("Index Name", out var index) ? index.GetString() : null);
        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray().SelectMany(Nodes))
            {
                yield return child;
            }
        }
    }

    // 20,000 tasks of one service: 2% dead, 6% failed, seven common types and a rare one, due over 5,000 minutes.
    private const string DefaultBulkSeed =
        """
        INSERT INTO deferred_tasks (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at, payload, last_error, owner)
        SELECT @s, 'task-' || i, 'type-' || CASE WHEN i % 1000 = 0 THEN 'rare' ELSE (i % 7)::text END,
               CASE WHEN i % 50 = 0 THEN 'Dead' WHEN i % 12 = 0 THEN 'Failed' ELSE 'Pending' END,
               0, 5, timestamptz '2029-12-31', timestamptz '2030-01-01' + (i * 7919 % 5000) * interval '1 minute', '\x01'::bytea,
               CASE WHEN i % 12 = 0 OR i % 50 = 0 THEN jsonb_build_object('type', 'System.TimeoutException', 'message', 'attempt ' || i || ' timed out') END,
               '10.0.0.1:11111@1'
        FROM generate_series(1, @n) AS i
        """;

    // The same tasks as stock rows, in the JSON the stock store's serializer writes.
    private const string StockBulkSeed =
        """
        INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
        SELECT i, 0, 0, 7, 'deferred-task', 'task-' || i, @s,
               convert_to((jsonb_build_object(
                   'taskType', 'type-' || CASE WHEN i % 1000 = 0 THEN 'rare' ELSE (i % 7)::text END,
                   'payload', 'AQ==',
                   'status', CASE WHEN i % 50 = 0 THEN 'Dead' WHEN i % 12 = 0 THEN 'Failed' ELSE 'Pending' END,
                   'attempts', 0, 'maxAttempts', 5, 'enqueuedAt', '2029-12-31T00:00:00+00:00',
                   'nextRunAt', to_char((timestamptz '2030-01-01' + (i * 7919 % 5000) * interval '1 minute') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                   'hasReminder', false, 'owner', '10.0.0.1:11111@1', 'interruptions', 0)
                   || CASE WHEN i % 12 = 0 OR i % 50 = 0
                           THEN jsonb_build_object('lastError', jsonb_build_object('type', 'System.TimeoutException', 'message', 'attempt ' || i || ' timed out', 'attempt', 1, 'at', '2030-01-01T00:00:00+00:00'))
                           ELSE '{}'::jsonb END)::text, 'UTF8'),
               now(), 1
        FROM generate_series(1, @n) AS i
        """;

    private sealed record Seed(string TaskId, string TaskType, DeferredTaskStatus Status, DateTimeOffset NextRunAt, string? ErrorType = null, string? ErrorMessage = null, string? Owner = null)
    {
        public int Attempts => Status == DeferredTaskStatus.Pending ? 0 : 2;

        public DateTimeOffset EnqueuedAt { get; } = Base.AddDays(-1);

        public TaskRecord ToRecord() => new()
        {
            TaskType = TaskType,
            Payload = [1, 2, 3],
            Status = Status,
            Attempts = Attempts,
            MaxAttempts = 5,
            EnqueuedAt = EnqueuedAt,
            NextRunAt = NextRunAt,
            Owner = Owner,
            LastError = ErrorType is null ? null : new DeferredTaskError { Type = ErrorType, Message = ErrorMessage ?? "", StackTrace = "at Seed", Attempt = Attempts, At = NextRunAt },
        };
    }
}
