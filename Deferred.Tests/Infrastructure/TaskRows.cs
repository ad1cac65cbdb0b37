
namespace Deferred.Tests.Infrastructure;

/// <summary>
/// Direct SQL on a test service's task rows, for setting up what an earlier cluster "left behind". One
/// implementation per store, so the lifecycle tests run unchanged against both.
/// </summary>
internal sealed class TaskRows(TestDatabase database, string serviceId, DeferredStore store)
{
    public Task<long> CountAsync() => store == DeferredStore.OrleansAdoNet
        ? database.CountTaskRowsAsync(serviceId)
        : database.ScalarAsync<long>("SELECT count(*) FROM deferred_tasks WHERE service_id = @s", ("s", serviceId));

    /// <summary>Makes every row due now; with <paramref name="failHalf"/> about half become Failed after one attempt.</summary>
    public Task<int> MakeAllDueAsync(bool failHalf = false) => store == DeferredStore.OrleansAdoNet
        ? database.ExecuteAsync(
            """
            UPDATE orleansstorage
            SET payloadbinary = convert_to((
                    convert_from(payloadbinary, 'UTF8')::jsonb
                    || jsonb_build_object('nextRunAt', now() - interval '1 second')
                    || CASE WHEN @fail AND random() < 0.5 THEN '{"status": "Failed", "attempts": 1}'::jsonb ELSE '{}'::jsonb END
                )::text, 'UTF8')
            WHERE serviceid = @s AND graintypestring = 'deferred-task'
            """,
            ("s", serviceId), ("fail", failHalf))
        : database.ExecuteAsync(
            """
            UPDATE deferred_tasks
            SET next_run_at = now() - interval '1 second',
                status = CASE WHEN @fail AND random() < 0.5 THEN 'Failed' ELSE status END,
                attempts = CASE WHEN status = 'Failed' THEN 1 ELSE attempts END
            WHERE service_id = @s
            """,
            ("s", serviceId), ("fail", failHalf));

    public Task SetTaskTypeAsync(string taskId, string taskType) => store == DeferredStore.OrleansAdoNet
        ? PatchJsonAsync(taskId, $$"""{"taskType": "{{taskType}}"}""")
        : database.ExecuteAsync("UPDATE deferred_tasks SET task_type = @t, next_run_at = now() WHERE service_id = @s AND task_id = @id", ("t", taskType), ("s", serviceId), ("id", taskId));

    public Task SetPayloadAsync(string taskId, byte[] payload) => store == DeferredStore.OrleansAdoNet
        ? PatchJsonAsync(taskId, $$"""{"payload": "{{Convert.ToBase64String(payload)}}"}""")
        : database.ExecuteAsync("UPDATE deferred_tasks SET payload = @p, next_run_at = now() WHERE service_id = @s AND task_id = @id", ("p", payload), ("s", serviceId), ("id", taskId));

    private Task<int> PatchJsonAsync(string taskId, string patch, bool keepDue = false) => database.ExecuteAsync(
        """
        UPDATE orleansstorage
        SET payloadbinary = convert_to((convert_from(payloadbinary, 'UTF8')::jsonb
                                        || CASE WHEN @keep THEN '{}'::jsonb ELSE jsonb_build_object('nextRunAt', now()) END
                                        || @patch::jsonb)::text, 'UTF8')
        WHERE serviceid = @s AND grainidextensionstring = @id
        """,
        ("s", serviceId), ("id", taskId), ("patch", patch), ("keep", keepDue));

    /// <summary>
    /// Leaves a row as a crash mid-attempt would: due now, its in-flight marker set, <paramref name="interruptions"/>
    /// earlier interruptions recorded.
    /// </summary>
    public Task SetInFlightAsync(string taskId, int interruptions) => store == DeferredStore.OrleansAdoNet
        ? PatchJsonAsync(taskId, $$"""{"runningSince": "2026-01-01T00:00:00+00:00", "interruptions": {{interruptions}}}""")
        : database.ExecuteAsync(
            "UPDATE deferred_tasks SET running_since = now(), interruptions = @n, next_run_at = now() WHERE service_id = @s AND task_id = @id",
            ("n", interruptions), ("s", serviceId), ("id", taskId));

    /// <summary>Makes a row look due two minutes ago, as if its wake-up had been lost.</summary>
    public Task MakeOverdueAsync(string taskId) => store == DeferredStore.OrleansAdoNet
        ? PatchJsonAsync(taskId, $$"""{"nextRunAt": "{{DateTimeOffset.UtcNow.AddMinutes(-2):O}}"}""", keepDue: true)
        : database.ExecuteAsync("UPDATE deferred_tasks SET next_run_at = now() - interval '2 minutes' WHERE service_id = @s AND task_id = @id", ("s", serviceId), ("id", taskId));

    /// <summary>The stored owner, in-flight marker and status of a task (null when it has no row).</summary>
    public async Task<(string? Owner, bool InFlight, string Status, int Attempts)?> ReadAsync(string taskId)
    {
        var sql = store == DeferredStore.OrleansAdoNet
            ? """
              SELECT d ->> 'owner', d ->> 'runningSince' IS NOT NULL, d ->> 'status', coalesce((d ->> 'attempts')::int, 0)
              FROM (SELECT convert_from(payloadbinary, 'UTF8')::jsonb AS d FROM orleansstorage WHERE serviceid = @s AND grainidextensionstring = @id) AS r
              """
            : "SELECT owner, running_since IS NOT NULL, status, attempts FROM deferred_tasks WHERE service_id = @s AND task_id = @id";
        await using var command = database.DataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("s", serviceId);
        command.Parameters.AddWithValue("id", taskId);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1), reader.GetString(2), reader.GetInt32(3));
    }
}
