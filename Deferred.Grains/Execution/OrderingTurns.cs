using System.Collections.Concurrent;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Deferred.Execution;

/// <summary>
/// Turns of ordering keys (<see cref="DeferredEnqueueOptions.OrderingKey"/>): whether a keyed task may start now, and
/// which tasks wait for a key on this silo. A keyed task starts only when it holds its key (<c>ordering-take.sql</c>: no
/// earlier task of the key is stored, and no other task holds the key); it gives the key back once its row is deleted.
/// The grain wakes the tasks waiting for a key here as soon as a task of that key ends here; tasks of the key on other
/// silos look again on their own (a short backoff, at most <see cref="MaxWait"/>).
/// </summary>
internal sealed class OrderingTurns(DeferredDatabase database, IOptions<ClusterOptions> cluster, StoreResilience resilience)
{
    /// <summary>The longest a task waiting for its key goes without looking again.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);

    private readonly string _serviceId = cluster.Value.ServiceId;

    // key → the ids of the tasks on this silo waiting for it.
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _waiting = new(StringComparer.Ordinal);

    // 50 ms doubling, at most MaxWait: the one backoff function (RetryWindow), with jitter.
    private static readonly RetryWindow KeyWaits = new(Timeout.InfiniteTimeSpan, TimeSpan.FromMilliseconds(50), MaxWait);

    /// <summary>How long the <paramref name="waits"/>-th wait in a row (0-based) for a key lasts: 50 ms doubling, at most <see cref="MaxWait"/>, less up to a fifth of jitter.</summary>
    public static TimeSpan Backoff(int waits) => KeyWaits.Jittered(waits + 1);

    /// <summary>True when task <paramref name="taskId"/> holds <paramref name="key"/> (now, or already): it may start.</summary>
    public async Task<bool> TryTakeAsync(string key, string taskId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(SqlQueries.OrderingTake);
        command.Parameters.AddWithValue("service_id", _serviceId);
        command.Parameters.AddWithValue("ordering_key", key);
        command.Parameters.AddWithValue("task_id", taskId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken);
    }

    /// <summary>Notes that <paramref name="taskId"/> waits on this silo for <paramref name="key"/>.</summary>
    public void Wait(string key, string taskId) => _waiting.GetOrAdd(key, static _ => new(StringComparer.Ordinal)).TryAdd(taskId, 0);

    /// <summary>Forgets that <paramref name="taskId"/> waits for <paramref name="key"/>.</summary>
    public void StopWaiting(string key, string taskId)
    {
        if (_waiting.TryGetValue(key, out var tasks) && tasks.TryRemove(taskId, out _) && tasks.IsEmpty)
        {
            _waiting.TryRemove(new KeyValuePair<string, ConcurrentDictionary<string, byte>>(key, tasks));
        }
    }

    /// <summary>Tasks waiting on this silo, all keys together (a gauge for tests and diagnostics).</summary>
    public int Waiting => _waiting.Values.Sum(static t => t.Count);

    /// <summary>The ids of the tasks on this silo waiting for <paramref name="key"/> (the grain wakes them when a task of the key ends).</summary>
    public IReadOnlyCollection<string> WaitingFor(string key) => _waiting.TryGetValue(key, out var tasks) ? [.. tasks.Keys] : [];

    /// <summary>
    /// After the row of <paramref name="taskId"/> was deleted: gives <paramref name="key"/> back. Best effort: a hold
    /// whose row is gone is free anyway (<c>ordering-take.sql</c>).
    /// </summary>
    public async Task ReleaseAsync(string key, string taskId)
    {
        try
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.OrderingRelease);
            command.Parameters.AddWithValue("service_id", _serviceId);
            command.Parameters.AddWithValue("ordering_key", key);
            command.Parameters.AddWithValue("task_id", taskId);
            await command.ExecuteNonQueryAsync();
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex))
        {
            resilience.Unreachable(ex);
        }
    }
}
