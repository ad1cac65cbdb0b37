namespace Deferred.Lifecycle;

/// <summary>
/// The result of applying one lifecycle edge to a record: the record before and after, what to write, and what must
/// happen next; or a refusal that names why the edge does not apply (then nothing is written). Losing a race (the
/// record is no longer in a source state of the edge) is an ordinary refusal, not an exception.
/// </summary>
/// <param name="Edge">The edge that was applied or refused.</param>
/// <param name="Before">The record the edge was applied to; null when there was none.</param>
/// <param name="After">The new record; null once the row is deleted (or, when refused, <paramref name="Before"/>).</param>
/// <param name="Write">How the row changes.</param>
/// <param name="Then">What the interpreter does after the write.</param>
/// <param name="Refusal">Why the edge does not apply; null when it does.</param>
internal sealed record Transition(Edge Edge, TaskRecord? Before, TaskRecord? After, Write Write, Then Then, string? Refusal = null)
{
    /// <summary>The refusal of an edge that needs the task not to be running (delete).</summary>
    public const string RunningRefusal = "running";

    /// <summary>True when the edge did not apply.</summary>
    public bool Refused => Refusal is not null;

    /// <summary>True when the edge ends with the row gone (deleted now, or in the attempt's own transaction).</summary>
    public bool Deletes => Write is Write.Delete or Write.Committed;

    /// <summary>Creates a refusal: nothing changes.</summary>
    public static Transition Refuse(Edge edge, TaskRecord? record, string why) => new(edge, record, record, Write.None, Then.Nothing, why);

    /// <inheritdoc />
    public override string ToString() =>
        Refused ? $"{LifecycleTable.NameOf(Edge)} refused: {Refusal}" : $"{LifecycleTable.NameOf(Edge)}: {Write}, then {Then}";
}

/// <summary>What one attempt came to, as the runner reports it. <see cref="TaskLifecycle.Record"/> turns it into one edge.</summary>
internal enum AttemptResult
{
    /// <summary>The handler returned.</summary>
    Succeeded,

    /// <summary>The handler threw or timed out; <see cref="AttemptOutcome.RetryAt"/> says whether it retries.</summary>
    Failed,

    /// <summary>The handler snoozed: the task runs again at <see cref="AttemptOutcome.RetryAt"/>, the attempt not counted.</summary>
    Snoozed,

    /// <summary>The task could not be turned back into an object; it never reached a handler.</summary>
    Unreadable,

    /// <summary>An operator cancelled the task while its attempt waited or ran: it is removed, whatever the handler did.</summary>
    Cancelled,

    /// <summary>The silo is stopping: the attempt did not start, or its handler was stopped. The row stays for another silo.</summary>
    Stopping,

    /// <summary>The in-flight marker could not be stored (the database did not answer): no handler ran; try again later.</summary>
    MarkerNotStored,

    /// <summary>
    /// A transactional handler returned and its transaction committed, with the delete of the task's row in it: the
    /// handler's writes and the task's end are durable together.
    /// </summary>
    Committed,

    /// <summary>
    /// A transactional handler returned, but the task's row had changed under the attempt (another activation took the
    /// task over): the transaction was rolled back, nothing of the attempt is stored, and the row as it is now decides.
    /// </summary>
    Superseded,
}

/// <summary>What happened in one attempt and, for a failure, when it retries (null: it does not).</summary>
internal sealed record AttemptOutcome(AttemptResult Result, DeferredTaskError? Error = null, DateTimeOffset? RetryAt = null, Exception? Exception = null)
{
    public static readonly AttemptOutcome Succeeded = new(AttemptResult.Succeeded);

    public static readonly AttemptOutcome Cancelled = new(AttemptResult.Cancelled);

    public static readonly AttemptOutcome Stopping = new(AttemptResult.Stopping);

    public static readonly AttemptOutcome MarkerNotStored = new(AttemptResult.MarkerNotStored);

    public static readonly AttemptOutcome Committed = new(AttemptResult.Committed);

    public static readonly AttemptOutcome Superseded = new(AttemptResult.Superseded);
}

/// <summary>A task to enqueue, validated and serialized, with its first run time resolved.</summary>
internal sealed record NewTask(string TaskType, byte[] Payload, int MaxAttempts, DateTimeOffset RunAt)
{
    /// <summary>
    /// The one way every enqueue path (the grain, the direct far insert, a batch) turns what it was given into a new
    /// task: what the options say (attempts, ordering key, whether the id is the caller's), the resolved first run, the
    /// trace and the carried RequestContext.
    /// </summary>
    public static NewTask From(string taskType, byte[] payload, DeferredEnqueueOptions? options, int defaultMaxAttempts, DateTimeOffset runAt, TraceCarrier? trace, byte[]? requestContext) =>
        new(taskType, payload, options?.MaxAttempts ?? defaultMaxAttempts, runAt)
        {
            Trace = trace,
            OrderingKey = options?.OrderingKey,
            RequestContext = requestContext,
            CallerChosenId = options?.TaskId is not null,
        };

    /// <summary>The trace context of the enqueue, carried into every attempt.</summary>
    public TraceCarrier? Trace { get; init; }

    /// <summary>The ordering key, if any (<see cref="DeferredEnqueueOptions.OrderingKey"/>).</summary>
    public string? OrderingKey { get; init; }

    /// <summary>The carried RequestContext entries, serialized; null when none.</summary>
    public byte[]? RequestContext { get; init; }

    /// <summary>True when the caller chose the id (an idempotent enqueue).</summary>
    public bool CallerChosenId { get; init; }
}

/// <summary>A W3C trace context as text: what is stored with a task so its attempts continue the enqueuer's trace.</summary>
/// <param name="TraceParent">The <c>traceparent</c> value.</param>
/// <param name="TraceState">The <c>tracestate</c> value, if any.</param>
/// <param name="Baggage">The <c>baggage</c> header value, if any.</param>
internal sealed record TraceCarrier(string TraceParent, string? TraceState, string? Baggage);
