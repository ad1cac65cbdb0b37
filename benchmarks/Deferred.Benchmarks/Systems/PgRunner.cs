using Npgsql;
using NpgsqlTypes;

namespace Deferred.Benchmarks.Systems;

/// <summary>
/// The database alone, as the limit: a task is a row inserted (the enqueue, committed) and then deleted (the
/// worker finishing it, committed). <c>pg-row</c>: one row per statement and transaction. <c>pg-batch</c>: 100 rows
/// per INSERT and per DELETE. The same number of concurrent enqueuers as the other systems.
/// </summary>
internal static class PgRunner
{
    public const int BatchSize = 100;

    private const string CreateTable = """
        CREATE TABLE IF NOT EXISTS bench_tasks
        (
            id          bigserial   PRIMARY KEY,
            payload     bytea       NOT NULL,
            enqueued_at timestamptz NOT NULL DEFAULT now()
        )
        """;

    // About the size of a small serialized task.
    private static readonly byte[] Payload = new byte[32];

    public static async Task<BenchResult> ThroughputAsync(string system, string connectionString, int tasks, int warmup, int concurrency, CancellationToken cancellationToken)
    {
        var batch = system == "pg-batch" ? BatchSize : 1;
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using (var create = dataSource.CreateCommand(CreateTable))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        Recorder.Reset(tasks + warmup);
        if (warmup > 0)
        {
            await RunAsync(dataSource, tasks, tasks + warmup, batch, concurrency, cancellationToken);
        }

        // The same cost figures as the other systems (process and PostgreSQL CPU per task), so Deferred's PostgreSQL CPU
        // can be set against the database's floor (pg-batch).
        var cost = Cost.Now();
        var start = Clock.Now;
        await RunAsync(dataSource, 0, tasks, batch, concurrency, cancellationToken);
        var elapsed = Clock.Seconds(Clock.Now - start);
        var (p50, p99) = Stats.P50P99(Recorder.DoneLatencies(0, tasks));
        return new BenchResult(system, "throughput", tasks, tasks / elapsed, p50, p99, Stats.PeakRssMb()).WithCost(cost);
    }

    private static Task RunAsync(NpgsqlDataSource dataSource, int from, int to, int batch, int concurrency, CancellationToken cancellationToken)
    {
        var chunks = Enumerable.Range(0, (to - from + batch - 1) / batch).Select(c => (From: from + c * batch, To: Math.Min(to, from + (c + 1) * batch)));
        return Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken }, async (chunk, ct) =>
        {
            var enqueuedAt = Clock.Now;
            for (var i = chunk.From; i < chunk.To; i++)
            {
                Recorder.MarkEnqueued(i, enqueuedAt);
            }

            if (chunk.To - chunk.From == 1)
            {
                long id;
                await using (var insert = dataSource.CreateCommand("INSERT INTO bench_tasks (payload) VALUES (@p) RETURNING id"))
                {
                    insert.Parameters.AddWithValue("p", Payload);
                    id = (long)(await insert.ExecuteScalarAsync(ct))!;
                }

                await using var delete = dataSource.CreateCommand("DELETE FROM bench_tasks WHERE id = @id");
                delete.Parameters.AddWithValue("id", id);
                await delete.ExecuteNonQueryAsync(ct);
            }
            else
            {
                var ids = new List<long>(chunk.To - chunk.From);
                await using (var insert = dataSource.CreateCommand("INSERT INTO bench_tasks (payload) SELECT @p FROM generate_series(1, @n) RETURNING id"))
                {
                    insert.Parameters.AddWithValue("p", Payload);
                    insert.Parameters.AddWithValue("n", chunk.To - chunk.From);
                    await using var reader = await insert.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        ids.Add(reader.GetInt64(0));
                    }
                }

                await using var delete = dataSource.CreateCommand("DELETE FROM bench_tasks WHERE id = ANY(@ids)");
                delete.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = ids.ToArray() });
                await delete.ExecuteNonQueryAsync(ct);
            }

            for (var i = chunk.From; i < chunk.To; i++)
            {
                Recorder.OnRun(i);
            }
        });
    }
}
