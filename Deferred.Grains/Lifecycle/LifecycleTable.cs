namespace Deferred.Lifecycle;

/// <summary>
/// Where a task is, as the lifecycle table and the diagram in <c>docs/state-machine.md</c> name it: the three stored
/// states, <see cref="Running"/> (an attempt in flight; never stored) and <see cref="None"/> (no row: not yet
/// enqueued, or completed and deleted).
/// </summary>
internal enum TaskState
{
    /// <summary>No row.</summary>
    None,

    /// <summary>Stored, waiting for its first attempt.</summary>
    Pending,

    /// <summary>Stored, at least one attempt failed, waiting for the next.</summary>
    Failed,

    /// <summary>An attempt is in flight in the task's activation (the row still says Pending or Failed).</summary>
    Running,

    /// <summary>Stored, never run again without an operator.</summary>
    Dead,
}

/// <summary>The named edges of the lifecycle; each is one function of <see cref="TaskLifecycle"/>.</summary>
internal enum Edge
{
    /// <summary>App code stored a new task (the insert's commit is the acknowledgement).</summary>
    Enqueue,

    /// <summary>A due task's activation starts an attempt (storing the in-flight marker first when watched).</summary>
    Start,

    /// <summary>The handler returned: the row is deleted.</summary>
    Succeed,

    /// <summary>
    /// A transactional handler returned and its transaction committed: the row was deleted in that transaction, with the
    /// handler's own writes (nothing is left to write).
    /// </summary>
    Commit,

    /// <summary>The handler threw or timed out and the task has attempts left: retry at a time.</summary>
    Fail,

    /// <summary>The handler snoozed (<c>DeferredSnoozeException</c>): run again at a time, the attempt not counted.</summary>
    Snooze,

    /// <summary>The handler threw on the last attempt, or the retry policy gave up: the task is dead.</summary>
    GiveUp,

    /// <summary>The row, its task type or its payload cannot be read: the task is dead with the reason.</summary>
    Unreadable,

    /// <summary>The attempt did not reach an outcome (the silo stopped, or its marker could not be stored).</summary>
    Stop,

    /// <summary>A new activation found the in-flight marker of an attempt whose silo went away: counted.</summary>
    Interrupted,

    /// <summary>Like <see cref="Interrupted"/>, for the interruption that reaches the limit: the task is dead.</summary>
    Quarantine,

    /// <summary>An operator gives a dead task a fresh set of attempts.</summary>
    RetryDead,

    /// <summary>An operator makes a waiting task (pending or failed) due now, its attempts unchanged.</summary>
    RunNow,

    /// <summary>An operator deletes a task that is not running.</summary>
    Delete,

    /// <summary>An operator cancels a live task: removed at once when waiting, when its handler returns when running.</summary>
    Cancel,

    /// <summary>A live silo takes over a task whose owner is gone (the orphan sweep).</summary>
    Adopt,

    /// <summary>A silo that stops cleanly hands its live tasks back (owner cleared).</summary>
    Release,

    /// <summary>A far task's durable reminder is registered (stores that wake far tasks by reminders).</summary>
    Park,

    /// <summary>The reminder of a task that no longer needs one is gone.</summary>
    Unpark,
}

/// <summary>What an edge writes.</summary>
internal enum Write
{
    /// <summary>Nothing: the row already says it, or the edge was refused.</summary>
    None,

    /// <summary>The first write of a new row.</summary>
    Insert,

    /// <summary>A conditional update (only if the row is still at the version this activation read).</summary>
    Update,

    /// <summary>A conditional delete.</summary>
    Delete,

    /// <summary>
    /// The conditional delete already committed, in the transaction of the attempt's transactional handler: the
    /// activation only forgets the row.
    /// </summary>
    Committed,
}

/// <summary>What must happen after an edge's write.</summary>
internal enum Then
{
    /// <summary>Nothing more.</summary>
    Nothing,

    /// <summary>Arm the task's wake-up for its <see cref="TaskRecord.NextRunAt"/>.</summary>
    Schedule,

    /// <summary>The task needs no wake-up any more: drop its reminder if it had one, let the activation go.</summary>
    Forget,

    /// <summary>
    /// Look again after a back-off: the attempt could not store its in-flight marker. The due timer is armed with the
    /// start window's backoff for the starts in a row that failed, not for the record's run time (already past).
    /// </summary>
    BackOff,
}

/// <summary>One row of the lifecycle table: an edge from one state to another, and who takes it.</summary>
internal sealed record LifecycleEdge(Edge Edge, TaskState From, TaskState To, string TakenBy)
{
    /// <summary>The edge's name as the diagram labels it, e.g. <c>retry-dead</c>.</summary>
    public string Name => LifecycleTable.NameOf(Edge);
}

/// <summary>
/// The lifecycle as data: every edge with its source and target states. The functions of <see cref="TaskLifecycle"/>
/// refuse a record that is in none of an edge's source states, and a test holds <c>docs/state-machine.md</c>'s
/// diagram to exactly this table.
/// </summary>
internal static class LifecycleTable
{
    private const string Grain = "the task's activation";
    private const string Operator = "an operator (IDeferredTasks)";

    public static readonly IReadOnlyList<LifecycleEdge> All =
    [
        new(Edge.Enqueue, TaskState.None, TaskState.Pending, "IDeferredTasks.EnqueueAsync"),
        new(Edge.Start, TaskState.Pending, TaskState.Running, Grain + ", when its wake-up fires"),
        new(Edge.Start, TaskState.Failed, TaskState.Running, Grain + ", when its wake-up fires"),
        new(Edge.Succeed, TaskState.Running, TaskState.None, Grain),
        new(Edge.Commit, TaskState.Running, TaskState.None, Grain + ", when a transactional handler's transaction committed"),
        new(Edge.Fail, TaskState.Running, TaskState.Failed, Grain),
        new(Edge.Snooze, TaskState.Running, TaskState.Pending, Grain + ", when the handler snoozed"),
        new(Edge.Snooze, TaskState.Running, TaskState.Failed, Grain + ", when the handler snoozed"),
        new(Edge.GiveUp, TaskState.Running, TaskState.Dead, Grain),
        new(Edge.Stop, TaskState.Running, TaskState.Pending, Grain + ", when its silo stops"),
        new(Edge.Stop, TaskState.Running, TaskState.Failed, Grain + ", when its silo stops"),
        new(Edge.Unreadable, TaskState.Pending, TaskState.Dead, Grain),
        new(Edge.Unreadable, TaskState.Failed, TaskState.Dead, Grain),
        new(Edge.Interrupted, TaskState.Pending, TaskState.Pending, "a new activation"),
        new(Edge.Interrupted, TaskState.Failed, TaskState.Failed, "a new activation"),
        new(Edge.Quarantine, TaskState.Pending, TaskState.Dead, "a new activation"),
        new(Edge.Quarantine, TaskState.Failed, TaskState.Dead, "a new activation"),
        new(Edge.RetryDead, TaskState.Dead, TaskState.Pending, Operator),
        new(Edge.RunNow, TaskState.Pending, TaskState.Pending, Operator),
        new(Edge.RunNow, TaskState.Failed, TaskState.Failed, Operator),
        new(Edge.Delete, TaskState.Pending, TaskState.None, Operator),
        new(Edge.Delete, TaskState.Failed, TaskState.None, Operator),
        new(Edge.Delete, TaskState.Dead, TaskState.None, Operator),
        new(Edge.Cancel, TaskState.Pending, TaskState.None, Operator),
        new(Edge.Cancel, TaskState.Failed, TaskState.None, Operator),
        new(Edge.Cancel, TaskState.Running, TaskState.None, Operator + ", applied when the handler returns"),
        new(Edge.Adopt, TaskState.Pending, TaskState.Pending, "the orphan sweep"),
        new(Edge.Adopt, TaskState.Failed, TaskState.Failed, "the orphan sweep"),
        new(Edge.Release, TaskState.Pending, TaskState.Pending, "a cleanly stopping silo"),
        new(Edge.Release, TaskState.Failed, TaskState.Failed, "a cleanly stopping silo"),
        new(Edge.Park, TaskState.Pending, TaskState.Pending, Grain),
        new(Edge.Park, TaskState.Failed, TaskState.Failed, Grain),
        new(Edge.Unpark, TaskState.Dead, TaskState.Dead, Grain + ", when a reminder finds nothing to wake"),
    ];

    // Built once: the guards run on every attempt.
    private static readonly TaskState[][] SourcesByEdge = Enum.GetValues<Edge>()
        .Select(edge => All.Where(e => e.Edge == edge).Select(e => e.From).Distinct().ToArray())
        .ToArray();

    /// <summary>The states <paramref name="edge"/> may be taken from.</summary>
    public static IReadOnlyList<TaskState> Sources(Edge edge) => SourcesByEdge[(int)edge];

    /// <summary>The diagram label of an edge: kebab case of its name.</summary>
    public static string NameOf(Edge edge) => edge switch
    {
        Edge.GiveUp => "give-up",
        Edge.RetryDead => "retry-dead",
        Edge.RunNow => "run-now",
        _ => edge.ToString().ToLowerInvariant(),
    };

    /// <summary>A record's state in the table; a stored live record counts as Running while <paramref name="running"/>.</summary>
    public static TaskState StateOf(TaskRecord? record, bool running = false) => record switch
    {
        null => TaskState.None,
        { Status: DeferredTaskStatus.Dead } => TaskState.Dead,
        _ when running => TaskState.Running,
        { Status: DeferredTaskStatus.Failed } => TaskState.Failed,
        _ => TaskState.Pending,
    };
}
