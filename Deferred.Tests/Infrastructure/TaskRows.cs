using Deferred.Options;

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

    private Task<int> PatchJsonAsync(string taskId, string patch) => database.ExecuteAsync(
        """
        UPDATE orleansstorage
        SET payloadbinary = convert_to((convert_from(payloadbinary, 'UTF8')::jsonb || @patch::jsonb || jsonb_build_object('nextRunAt', now()))::text, 'UTF8')
        WHERE serviceid = @s AND grainidextensionstring = @id
        """,
        ("s", serviceId), ("id", taskId), ("patch", patch));
}
