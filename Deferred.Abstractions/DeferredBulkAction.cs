namespace Deferred;

/// <summary>What a bulk action does to each task it covers.</summary>
[GenerateSerializer]
public enum DeferredBulkActionKind
{
    /// <summary>Retries each task that is still dead when reached (<see cref="IDeferredTaskOperator.RetryDeadAsync(string, CancellationToken)"/>).</summary>
    RetryDead = 0,

    /// <summary>Deletes each task that is still dead when reached.</summary>
    PurgeDead = 1,
}

/// <summary>Where a bulk action stands.</summary>
[GenerateSerializer]
public enum DeferredBulkActionState
{
    /// <summary>Its tasks are listed and counted (<see cref="DeferredBulkAction.Total"/>); nothing is changed until it is started.</summary>
    Prepared = 0,

    /// <summary>Going through its tasks on a silo, whether or not anyone is watching.</summary>
    Running = 1,

    /// <summary>Every task it covers was reached.</summary>
    Completed = 2,

    /// <summary>Cancelled before it reached every task (or before it started); what it did so far stays done.</summary>
    Cancelled = 3,
}

/// <summary>
/// A bulk action over the tasks that matched its filter when it was prepared: it reaches each of them at most once,
/// in a silo, whatever happens to the caller's connection. Its counts add up: <see cref="Done"/> +
/// <see cref="Skipped"/> + <see cref="Failed"/> + <see cref="Remaining"/> = <see cref="Total"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("deferred.bulk-action.v1")]
public sealed record DeferredBulkAction
{
    /// <summary>The action's id: pass it to start, watch or cancel it.</summary>
    [Id(0)] public required string Id { get; init; }

    /// <summary>What it does to each task.</summary>
    [Id(1)] public DeferredBulkActionKind Kind { get; init; }

    /// <summary>Where it stands.</summary>
    [Id(2)] public DeferredBulkActionState State { get; init; }

    /// <summary>How many tasks matched when it was prepared: the most it will change.</summary>
    [Id(3)] public int Total { get; init; }

    /// <summary>Tasks changed so far (retried, or deleted).</summary>
    [Id(4)] public int Done { get; init; }

    /// <summary>Tasks left as they were: no longer dead (retried or deleted meanwhile), or running, when reached.</summary>
    [Id(5)] public int Skipped { get; init; }

    /// <summary>Tasks whose change failed (the store was unreachable, say); <see cref="LastError"/> says why.</summary>
    [Id(6)] public int Failed { get; init; }

    /// <summary>When its tasks were listed.</summary>
    [Id(7)] public DateTimeOffset PreparedAt { get; init; }

    /// <summary>When it completed or was cancelled; null before.</summary>
    [Id(8)] public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>The last failure's type and message, when <see cref="Failed"/> is not 0.</summary>
    [Id(9)] public string? LastError { get; init; }

    /// <summary>Tasks not reached yet.</summary>
    public int Remaining => Total - Done - Skipped - Failed;

    /// <summary>True once it completed or was cancelled: its counts no longer change.</summary>
    public bool IsFinished => State is DeferredBulkActionState.Completed or DeferredBulkActionState.Cancelled;
}
