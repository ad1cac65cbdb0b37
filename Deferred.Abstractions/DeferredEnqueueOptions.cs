namespace Deferred;

/// <summary>Per-enqueue options. Every property is optional.</summary>
[GenerateSerializer, Immutable, Alias("deferred.options.v1")]
public sealed record DeferredEnqueueOptions
{
    /// <summary>
    /// Run no earlier than this long after the enqueue. Must not be negative. Zero runs now.
    /// Cannot be combined with <see cref="RunAt"/>.
    /// </summary>
    [Id(0)] public TimeSpan? Delay { get; init; }

    /// <summary>
    /// Run no earlier than this instant. A time in the past runs now. Cannot be combined with <see cref="Delay"/>.
    /// </summary>
    [Id(1)] public DateTimeOffset? RunAt { get; init; }

    /// <summary>
    /// The most attempts (first run plus retries), at least 1. Null uses the silo's
    /// <c>DeferredOptions.DefaultMaxAttempts</c> (21: one run and 20 retries).
    /// </summary>
    [Id(2)] public int? MaxAttempts { get; init; }

    /// <summary>
    /// A caller-chosen id, making the enqueue idempotent while the task is stored: enqueuing an id that is
    /// pending, failed or dead stores nothing new and returns the same id. Once a task has completed its row
    /// is gone, so the same id enqueued later is a new task. Null generates an id. See
    /// <see cref="DeferredTaskId.Validate"/> for the rules.
    /// </summary>
    [Id(3)] public string? TaskId { get; init; }

    /// <summary>
    /// Tasks with the same ordering key run one at a time, in the order their enqueues were acknowledged, across the
    /// cluster. A failed task holds its key (the ones behind it wait) until it succeeds or dies; a dead task keeps
    /// holding it until an operator retries, cancels or deletes it. Null (default): the task runs independently.
    /// 1 to <see cref="DeferredEnqueueOptionsValidation.MaxOrderingKeyLength"/> characters. Only the default store
    /// orders tasks; the stock store refuses keyed tasks. See docs/semantics.md.
    /// </summary>
    [Id(4)] public string? OrderingKey { get; init; }
}
