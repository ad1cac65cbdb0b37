using System.Collections.Concurrent;
using Deferred.Storage;
using Deferred.Storage.Resilience;

namespace Deferred.Execution;

/// <summary>
/// Turns of ordering keys (<see cref="DeferredEnqueueOptions.OrderingKey"/>): whether a keyed task may start now, and
/// which tasks wait for a key on this silo. A keyed task starts only when it holds its key (<c>ordering-take.sql</c>: no
/// earlier task of the key is stored, and no other task holds the key); it gives the key back once its row is deleted.
/// The grain wakes the tasks waiting for a key here as soon as a task of that key ends here; tasks of the key on other
/// silos look again on their own (a short backoff, at most <see cref="MaxWait"/>).
/// </summary>
internal sealed class OrderingTurns(IDeferredTaskStore store, StoreResilience resilience)
{
    /// <summary>The longest a task waiting for its key goes without looking again.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);

    // Only a store that orders tasks has keys; the others refuse keyed tasks at enqueue, so nothing here is reached.
    private IOrderingKeys Keys => store.OrderingKeys ?? throw new InvalidOperationException($"The {store.Name} store has no ordering keys.");

    // key → the ids of the tasks on this silo waiting for it.
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _waiting = new(StringComparer.Ordinal);

    // 50 ms doubling, at most MaxWait: the one backoff function (RetryWindow), with jitter.
    private static readonly RetryWindow KeyWaits = new(Timeout.InfiniteTimeSpan, TimeSpan.FromMilliseconds(50), MaxWait);

    /// <summary>How long the <paramref name="waits"/>-th wait in a row (0-based) for a key lasts: 50 ms doubling, at most <see cref="MaxWait"/>, less up to a fifth of jitter.</summary>
    public static TimeSpan Backoff(int waits) => KeyWaits.Jittered(waits + 1);

    /// <summary>
    /// True when task <paramref name="taskId"/> holds <paramref name="key"/> (now, or already): it may start, and no
    /// longer waits. False while it must wait, or when the store cannot be asked (it waits as for a held key).
    /// </summary>
    public async Task<bool> TryTakeAsync(string key, string taskId, CancellationToken cancellationToken)
    {
        try
        {
            if (!await Keys.TryTakeAsync(key, taskId, cancellationToken))
            {
                return false;
            }
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex))
        {
            // The store cannot be asked: wait as for a held key (the resilience policy logs the outage once).
            resilience.Unreachable(ex);
            return false;
        }

        StopWaiting(key, taskId);
        return true;
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
    public Task ReleaseAsync(string key, string taskId) => Keys.ReleaseAsync(key, taskId);
}
