using Deferred.Lifecycle;
using Deferred.Storage.Resilience;

namespace Deferred.TaskGrain;

/// <summary>What an activation's memory holds after a write that did not land.</summary>
internal enum OnFailure
{
    /// <summary>The record from before the write: the caller is told it did not happen (enqueue, operator actions, markers).</summary>
    Revert,

    /// <summary>
    /// The new record: the change is already true (an attempt failed, a crash was counted). The row keeps its version, so
    /// the next write of this activation (conditional on that version) stores it along with its own change.
    /// </summary>
    Keep,
}

/// <summary>
/// A task's row as its activation knows it, and the one path that writes it: a transition's record goes to the
/// store under a named resilience window, conditional on the version read (the Orleans ETag). On a version conflict
/// the row is read again; losing that race is an ordinary outcome the caller decides on.
/// </summary>
internal sealed class StoredTask(IPersistentState<TaskRecord> state, StoreResilience resilience, string taskId)
{
    // An insert that outlived the enqueue window: nothing may read or write the row until it settles.
    private Task? _unsettled;

    /// <summary>The record this activation works from, or null when no row is known. During a write it is already the new one.</summary>
    public TaskRecord? Record => state.RecordExists ? state.State : null;

    /// <summary>
    /// The record as last read or committed: what reads report, so a caller never sees a change before it is durable
    /// (a list straight after would not find it yet).
    /// </summary>
    public TaskRecord? Committed { get; private set; } = state.RecordExists ? state.State : null;

    /// <summary>True when memory may not match the row (a write failed); the next decision reads it first.</summary>
    public bool Stale { get; private set; }

    /// <summary>The version of the row this activation read or wrote last (the ETag); null when no row is known.</summary>
    public string? Version => state.Etag;

    /// <summary>Writes what <paramref name="transition"/> says; returns what came of it.</summary>
    public ValueTask<StoreResult> ApplyAsync(Transition transition, StoreWindow window, OnFailure onFailure)
    {
        if (transition.Refused)
        {
            throw new InvalidOperationException($"A refused transition cannot be written ({transition}).");
        }

        return transition.Write switch
        {
            Write.None => ValueTask.FromResult(new StoreResult(StoreOutcome.Applied, null, TimeSpan.Zero)),
            Write.Committed => ForgetAsync(),
            _ => WriteAsync(transition, window, onFailure),
        };
    }

    /// <summary>
    /// The row was deleted in the attempt's own transaction: the state is cleared without a write (the store was told, and
    /// answers the clear from memory). Should the store not know any more, the row is read again: it is gone all the same.
    /// </summary>
    private async ValueTask<StoreResult> ForgetAsync()
    {
        try
        {
            await state.ClearStateAsync();
            Committed = null;
        }
        catch (Exception)
        {
            Stale = true;
            await RefreshIfStaleAsync();
        }

        return new StoreResult(StoreOutcome.Applied, null, TimeSpan.Zero);
    }

    /// <summary>Reads the row again now (the row changed under an attempt that was rolled back).</summary>
    public Task ReloadAsync()
    {
        Stale = true;
        return RefreshIfStaleAsync();
    }

    private async ValueTask<StoreResult> WriteAsync(Transition transition, StoreWindow window, OnFailure onFailure)
    {
        var previous = state.State;
        if (transition.After is not null)
        {
            state.State = transition.After;
        }

        var result = await resilience.RunAsync(window, taskId, LifecycleTable.NameOf(transition.Edge), transition.Write == Write.Delete ? state.ClearStateAsync : state.WriteStateAsync);
        if (result.Applied)
        {
            Committed = Record;
            return result;
        }

        _unsettled = result.StillRunning;
        if (result.Outcome == StoreOutcome.Unavailable && onFailure == OnFailure.Keep && transition.Write == Write.Update)
        {
            return result;
        }

        state.State = previous;
        Stale = true;
        if (result.Outcome == StoreOutcome.VersionConflict)
        {
            await RefreshIfStaleAsync();
        }

        return result;
    }

    /// <summary>Reads the row again when memory may be stale (and no unsettled insert is still in flight).</summary>
    public async Task RefreshIfStaleAsync()
    {
        if (!Stale)
        {
            return;
        }

        if (_unsettled is { } pending)
        {
            if (!pending.IsCompleted)
            {
                return;
            }

            // Settled: whatever it did to the state is overwritten by the read below.
            _ = pending.Exception;
            _unsettled = null;
        }

        try
        {
            await state.ReadStateAsync();
            Stale = false;
            Committed = Record;
        }
        catch (Exception)
        {
            // Still unreachable (the policy has logged it): stay stale; the caller's own write fails and reports it.
        }
    }
}
