using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The default store's schedules, in <c>deferred_schedules</c> (migration 0017). A pass claims due rows with
/// <c>FOR UPDATE SKIP LOCKED</c>, inserts their occurrences into <c>deferred_tasks</c> with the same statement as every
/// new task (<c>tasks-insert.sql</c>: an id that exists inserts nothing) and advances the rows, in one transaction.
/// </summary>
internal sealed class PostgresScheduleStore(DeferredDatabase database, PostgresGrainStorage storage, IOptions<ClusterOptions> cluster) : IDeferredScheduleStore
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    public async Task<ScheduleUpsert?> UpsertAsync(ScheduleDefinition definition, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesUpsert);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("name", definition.Name);
        command.Parameters.AddWithValue("task_type", definition.TaskType);
        command.Parameters.Add(new NpgsqlParameter("payload", NpgsqlDbType.Bytea) { Value = (object?)definition.Payload ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("cron", NpgsqlDbType.Text) { Value = (object?)definition.Cron ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("interval_ms", NpgsqlDbType.Bigint) { Value = (object?)definition.IntervalMs ?? DBNull.Value });
        command.Parameters.AddWithValue("time_zone", definition.TimeZone);
        command.Parameters.AddWithValue("missed_policy", definition.Missed.ToString());
        command.Parameters.AddWithValue("max_attempts", definition.MaxAttempts);
        command.Parameters.AddWithValue("next_at", definition.NextAt.ToUniversalTime());
        command.Parameters.AddWithValue("source", SourceText(definition.Source));
        command.Parameters.AddWithValue("definition", definition.Definition);
        command.Parameters.AddWithValue("replace_code", definition.Source == DeferredScheduleSource.Code);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new ScheduleUpsert(reader.GetBoolean(0), reader.GetBoolean(1), reader.GetFieldValue<DateTimeOffset>(2))
            : null;
    }

    public async Task<StoredSchedule?> ReadAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesRead);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadRow(reader) : null;
    }

    public async Task<IReadOnlyList<StoredSchedule>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesList);
        command.Parameters.AddWithValue("service_id", _serviceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<StoredSchedule>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(ReadRow(reader));
        }

        return rows;
    }

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken) => ChangeAsync(SqlQueries.SchedulesDelete, name, cancellationToken);

    public Task<bool> PauseAsync(string name, CancellationToken cancellationToken) => ChangeAsync(SqlQueries.SchedulesPause, name, cancellationToken);

    public async Task<bool> ResumeAsync(string name, int version, DateTimeOffset nextAt, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesResume);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("next_at", nextAt.ToUniversalTime());
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<IReadOnlyList<FiredSchedule>> FireDueAsync(
        IReadOnlyCollection<string> codeNames,
        IReadOnlyCollection<string> taskTypes,
        int limit,
        Func<StoredSchedule, DateTimeOffset, ScheduleFiring> plan,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var claimed = new List<(StoredSchedule Schedule, DateTimeOffset Now)>();
        await using (var claim = new NpgsqlCommand(SqlQueries.SchedulesClaimDue, connection, transaction))
        {
            claim.Parameters.AddWithValue("service_id", _serviceId);
            claim.Parameters.AddWithValue("task_types", taskTypes.ToArray());
            claim.Parameters.AddWithValue("code_names", codeNames.ToArray());
            claim.Parameters.AddWithValue("limit", limit);
            await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                claimed.Add((ReadRow(reader), reader.GetFieldValue<DateTimeOffset>(13)));
            }
        }

        if (claimed.Count == 0)
        {
            // Nothing due: the empty transaction ends with the connection.
            return [];
        }

        var firings = claimed.Select(c => (c.Schedule, Firing: plan(c.Schedule, c.Now))).ToList();
        var rows = firings.SelectMany(f => f.Firing.Tasks).Select(t => new TaskRow(t.TaskId, t.Record, 1)).ToArray();
        var inserted = new HashSet<string>(StringComparer.Ordinal);
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            if (rows.Length > 0)
            {
                // Occurrence ids are Deferred's own (not a caller's), never checked against completed ids.
                batch.BatchCommands.Add(TaskRowStatements.Insert(_serviceId, rows, TimeSpan.Zero));
            }

            batch.BatchCommands.Add(Advance(firings));
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (rows.Length > 0)
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    inserted.Add(reader.GetString(0));
                }
            }
        }

        await transaction.CommitAsync(cancellationToken);
        foreach (var row in rows.Where(r => inserted.Contains(r.TaskId)))
        {
            // Woken on this silo next: the activation's first read needs no round trip.
            storage.NoteInserted(row);
        }

        return firings
            .Select(f => new FiredSchedule(f.Schedule, f.Firing, f.Firing.Tasks.Select(t => t.TaskId).Where(inserted.Contains).ToArray()))
            .ToList();
    }

    public async Task<(DateTimeOffset? NextAt, DateTimeOffset Now)> NextDueAsync(
        IReadOnlyCollection<string> codeNames, IReadOnlyCollection<string> taskTypes, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesNextDue);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("task_types", taskTypes.ToArray());
        command.Parameters.AddWithValue("code_names", codeNames.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    public async Task<DateTimeOffset> NowAsync(CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchedulesNow);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetFieldValue<DateTimeOffset>(0);
    }

    private NpgsqlBatchCommand Advance(List<(StoredSchedule Schedule, ScheduleFiring Firing)> firings)
    {
        var command = new NpgsqlBatchCommand(SqlQueries.SchedulesAdvance);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("names", firings.Select(f => f.Schedule.Name).ToArray());
        command.Parameters.AddWithValue("versions", firings.Select(f => f.Schedule.Version).ToArray());
        command.Parameters.AddWithValue("next_ats", firings.Select(f => f.Firing.NextAt.ToUniversalTime()).ToArray());
        command.Parameters.Add(new NpgsqlParameter("last_occurrences", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
        {
            Value = firings.Select(f => f.Firing.LastOccurrence?.ToUniversalTime()).ToArray(),
        });
        command.Parameters.AddWithValue("pauses", firings.Select(f => f.Firing.Pause).ToArray());
        return command;
    }

    private async Task<bool> ChangeAsync(string sql, string name, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    private static string SourceText(DeferredScheduleSource source) => source == DeferredScheduleSource.Code ? "code" : "runtime";

    /// <summary>A row as schedules-read/list/claim-due.sql return it (the same first 13 columns).</summary>
    private static StoredSchedule ReadRow(NpgsqlDataReader reader) => new()
    {
        Name = reader.GetString(0),
        TaskType = reader.GetString(1),
        Payload = reader.IsDBNull(2) ? null : reader.GetFieldValue<byte[]>(2),
        Cron = reader.IsDBNull(3) ? null : reader.GetString(3),
        IntervalMs = reader.IsDBNull(4) ? null : reader.GetInt64(4),
        TimeZone = reader.GetString(5),
        Missed = reader.GetString(6),
        MaxAttempts = reader.GetInt32(7),
        Paused = reader.GetBoolean(8),
        NextAt = reader.GetFieldValue<DateTimeOffset>(9),
        LastOccurrence = reader.IsDBNull(10) ? null : reader.GetFieldValue<DateTimeOffset>(10),
        Source = reader.GetString(11) == "code" ? DeferredScheduleSource.Code : DeferredScheduleSource.Runtime,
        Version = reader.GetInt32(12),
    };
}
