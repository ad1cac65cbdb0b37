using Orleans.Concurrency;

namespace Deferred.Client;

/// <summary>
/// Where a batch enqueue runs: a stateless worker on the silo that receives it (a client's gateway, or the local silo),
/// next to the store it commits the batch to.
/// </summary>
internal interface IBatchEnqueueGrain : IGrainWithIntegerKey
{
    /// <summary>Stores the (already checked) tasks in one commit; returns their ids in order.</summary>
    Task<IReadOnlyList<string>> EnqueueManyAsync(BatchRequest request);
}

/// <summary>A checked batch: the tasks, the options for all of them, and the enqueuer's trace context.</summary>
[GenerateSerializer, Immutable, Alias("deferred.batch-request.v1")]
internal sealed record BatchRequest
{
    [Id(0)] public required object[] Tasks { get; init; }

    [Id(1)] public DeferredEnqueueOptions? Options { get; init; }

    [Id(2)] public string? TraceParent { get; init; }

    [Id(3)] public string? TraceState { get; init; }

    [Id(4)] public string? Baggage { get; init; }
}

// Holds no state: reentrant, so batches from many callers reach the store's group commit together instead of one per
// worker activation at a time (a stateless worker has as many activations as cores).
[StatelessWorker]
[Reentrant]
internal sealed class BatchEnqueueGrain(BatchEnqueuer batches) : Grain, IBatchEnqueueGrain
{
    public Task<IReadOnlyList<string>> EnqueueManyAsync(BatchRequest request) => batches.EnqueueAsync(request);
}
