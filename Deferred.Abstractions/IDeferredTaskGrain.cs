using Orleans.Concurrency;

namespace Deferred;

/// <summary>
/// One deferred task. The grain key is the task id. App code normally uses <see cref="IDeferredTasks"/>, which
/// validates input before calling; calling the grain directly is supported and validated the same way.
/// </summary>
public interface IDeferredTaskGrain : IGrainWithStringKey
{
    /// <summary>
    /// Stores the task (if no task with this id is stored) and schedules it. A repeat of a stored task is answered at
    /// once, also while an attempt of it runs.
    /// </summary>
    /// <param name="request">The task and its options.</param>
    /// <returns>The stored task, and whether this call created it.</returns>
    [AlwaysInterleave]
    Task<DeferredEnqueueResult> EnqueueAsync(DeferredEnqueueRequest request);

    /// <summary>The task's state, or null when it is not stored.</summary>
    [AlwaysInterleave]
    [ReadOnly]
    Task<DeferredTaskInfo?> GetInfoAsync();

    /// <summary>The task in detail (owner, marker, payload rendered as JSON where possible), or null when it is not stored.</summary>
    [AlwaysInterleave]
    [ReadOnly]
    Task<DeferredTaskDetails?> GetDetailsAsync();

    /// <summary>Cancels the task; see <see cref="IDeferredTaskOperator.CancelAsync"/>.</summary>
    [AlwaysInterleave]
    Task<DeferredCancelOutcome> CancelAsync();

    /// <summary>Resets a dead task's attempts and runs it again. False when the task is not dead (a running task answers at once).</summary>
    [AlwaysInterleave]
    Task<bool> RetryDeadAsync();

    /// <summary>Makes a waiting task due now; see <see cref="IDeferredTaskOperator.RunNowAsync"/>.</summary>
    [AlwaysInterleave]
    Task<bool> RunNowAsync();

    /// <summary>Deletes the task unless an attempt is running. False when it is not stored.</summary>
    [AlwaysInterleave]
    Task<bool> DeleteAsync();
}

/// <summary>What <see cref="IDeferredTaskGrain.EnqueueAsync"/> takes.</summary>
[GenerateSerializer, Immutable, Alias("deferred.enqueue-request.v1")]
public sealed record DeferredEnqueueRequest
{
    /// <summary>The task object; its runtime type picks the handler.</summary>
    [Id(0)] public required object Task { get; init; }

    /// <summary>The enqueue options, or null for defaults.</summary>
    [Id(1)] public DeferredEnqueueOptions? Options { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the enqueue's span (set by <see cref="IDeferredTasks"/>); stored with the task so every
    /// attempt continues that trace. Null: the attempts start traces of their own.
    /// </summary>
    [Id(2)] public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>.</summary>
    [Id(3)] public string? TraceState { get; init; }

    /// <summary>The enqueuing code's baggage as a W3C <c>baggage</c> header value; the handler sees it as <c>Activity.Current.Baggage</c>.</summary>
    [Id(4)] public string? Baggage { get; init; }
}

/// <summary>What <see cref="IDeferredTaskGrain.EnqueueAsync"/> returns.</summary>
/// <param name="Info">The stored task.</param>
/// <param name="Created">True when this call stored it; false when it was stored already.</param>
[GenerateSerializer, Immutable, Alias("deferred.enqueue-result.v1")]
public sealed record DeferredEnqueueResult([property: Id(0)] DeferredTaskInfo Info, [property: Id(1)] bool Created);
