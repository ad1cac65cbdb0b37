namespace Deferred.Lifecycle;

/// <summary>
/// The task lifecycle: one pure function per edge of <see cref="LifecycleTable"/>. Each takes the current record (null
/// when no row exists), its input and the time, and returns a <see cref="Transition"/>: the new record (or the delete)
/// and what must happen next, or a refusal naming why the edge does not apply. No I/O, no Orleans: the task grain
/// interprets the result, writing the row conditionally (only if it is still at the version read) and arming the
/// wake-up. See <c>docs/state-machine.md</c>.
/// </summary>
internal static class TaskLifecycle
{
    /// <summary>
    /// The latest first run a task may ask for. Far enough for any schedule, near enough that every time computed from
    /// it (retries, wake-ups) stays representable.
    /// </summary>
    public static readonly TimeSpan MaxDelay = DeferredEnqueueOptionsValidation.MaxDelay;

    /// <summary>When a new task first runs: at <paramref name="runAt"/> (now if past) or after <paramref name="delay"/>.</summary>
    public static DateTimeOffset FirstRun(DateTimeOffset? runAt, TimeSpan? delay, DateTimeOffset now) =>
        Timestamps.Microseconds(runAt is { } at ? (at > now ? at.ToUniversalTime() : now) : now + (delay ?? TimeSpan.Zero));

    /// <summary>enqueue: None → Pending. Refused ("already stored") when a row exists: the enqueue is idempotent.</summary>
    public static Transition Enqueue(TaskRecord? current, NewTask task, string? owner, DateTimeOffset now)
    {
        if (current is not null)
        {
            return Transition.Refuse(Edge.Enqueue, current, "already stored");
        }

        var record = new TaskRecord
        {
            TaskType = task.TaskType,
            Payload = task.Payload,
            Status = DeferredTaskStatus.Pending,
            MaxAttempts = task.MaxAttempts,
            EnqueuedAt = Timestamps.Microseconds(now),
            NextRunAt = Timestamps.Microseconds(task.RunAt),
            Owner = owner,
            TraceParent = task.Trace?.TraceParent,
            TraceState = task.Trace?.TraceState,
            Baggage = task.Trace?.Baggage,
            OrderingKey = task.OrderingKey,
            RequestContext = task.RequestContext,
            CallerChosenId = task.CallerChosenId,
        };
        return new(Edge.Enqueue, null, record, Write.Insert, Then.Schedule);
    }

    /// <summary>The refusal of start for a keyed task that does not hold its ordering key.</summary>
    public const string KeyHeldRefusal = "waiting for its ordering key";

    /// <summary>
    /// start: Pending or Failed → Running. A watched attempt stores the in-flight marker first; an unwatched one writes
    /// only when another silo is named as owner. Refused before the task is due ("not due"), and for a task with an
    /// ordering key that it does not hold (<paramref name="holdsKey"/> false: a task of its key enqueued before it is
    /// still stored, or another task holds the key), with <see cref="KeyHeldRefusal"/>.
    /// </summary>
    public static Transition Start(TaskRecord? current, string owner, bool watched, DateTimeOffset now, bool holdsKey = true)
    {
        if (Guard(Edge.Start, current) is { } refused)
        {
            return refused;
        }

        if (current!.NextRunAt > now)
        {
            return Transition.Refuse(Edge.Start, current, "not due");
        }

        if (current.OrderingKey is not null && !holdsKey)
        {
            return Transition.Refuse(Edge.Start, current, KeyHeldRefusal);
        }

        var write = watched || current.Owner != owner ? Write.Update : Write.None;
        var record = write == Write.None ? current : current with { Owner = owner, RunningSince = watched ? Timestamps.Microseconds(now) : null };
        return new(Edge.Start, current, record, write, Then.Nothing);
    }

    /// <summary>succeed: Running → None. The row is deleted.</summary>
    public static Transition Succeed(TaskRecord? current) =>
        Guard(Edge.Succeed, current, running: true) ?? new(Edge.Succeed, current, null, Write.Delete, Then.Forget);

    /// <summary>
    /// The refusal that records a transactional attempt whose transaction was rolled back because the row changed under
    /// it (<see cref="AttemptResult.Superseded"/>): nothing is written; the row as it is now decides.
    /// </summary>
    public const string SupersededRefusal = "superseded: the row changed under the attempt";

    /// <summary>
    /// commit: Running → [*], the row deleted in the transaction of the attempt's transactional handler, with its writes.
    /// Nothing is left to write; the activation forgets the row.
    /// </summary>
    public static Transition Commit(TaskRecord? current) =>
        Guard(Edge.Commit, current, running: true) ?? new(Edge.Commit, current, null, Write.Committed, Then.Forget);

    /// <summary>fail: Running → Failed, the attempt counted, retried at <paramref name="retryAt"/>.</summary>
    public static Transition Fail(TaskRecord? current, DeferredTaskError error, DateTimeOffset retryAt, string owner) =>
        Guard(Edge.Fail, current, running: true) ?? new(
            Edge.Fail,
            current,
            current! with
            {
                Status = DeferredTaskStatus.Failed,
                Attempts = current.Attempts + 1,
                NextRunAt = Timestamps.Microseconds(retryAt),
                LastError = error,
                RunningSince = null,
                Owner = owner,
            },
            Write.Update,
            Then.Schedule);

    /// <summary>
    /// snooze: Running → Pending or Failed (whichever the row said), run again at <paramref name="runAt"/>: the handler
    /// asked to wait, so the attempt is not counted and the last error is kept; the snooze count goes up (bounded by
    /// <c>MaxSnoozes</c>, checked by the runner, which turns the snooze beyond it into a failure).
    /// </summary>
    public static Transition Snooze(TaskRecord? current, DateTimeOffset runAt, string owner) =>
        Guard(Edge.Snooze, current, running: true) ?? new(
            Edge.Snooze,
            current,
            current! with
            {
                Snoozes = current.Snoozes + 1,
                NextRunAt = Timestamps.Microseconds(runAt),
                RunningSince = null,
                Owner = owner,
            },
            Write.Update,
            Then.Schedule);

    /// <summary>give-up: Running → Dead, the attempt counted: out of attempts, or the retry policy gave up.</summary>
    public static Transition GiveUp(TaskRecord? current, DeferredTaskError error, string owner) =>
        Guard(Edge.GiveUp, current, running: true) ?? Kill(Edge.GiveUp, current!, error, owner, current!.Attempts + 1);

    /// <summary>
    /// unreadable: Pending or Failed → Dead, no attempt counted: the task type has no handler, the payload cannot be
    /// deserialized, or the row itself could not be read (a stand-in record with <see cref="TaskRecord.ReadFailure"/>).
    /// </summary>
    public static Transition MarkUnreadable(TaskRecord? current, DeferredTaskError error, string owner)
    {
        if (current?.ReadFailure is null && Guard(Edge.Unreadable, current) is { } refused)
        {
            return refused;
        }

        return Kill(Edge.Unreadable, current!, error, owner, current!.Attempts);
    }

    /// <summary>
    /// stop: Running → Pending or Failed, as before the attempt: it reached no outcome. A stored marker is cleared, so
    /// this is not taken for a crash. Then: nothing when the silo is stopping (another silo or the next start takes the
    /// row); a back-off when the marker could not be stored (<paramref name="backOff"/>), so the start is tried again
    /// once the database answers.
    /// </summary>
    public static Transition Stop(TaskRecord? current, bool backOff = false)
    {
        if (Guard(Edge.Stop, current, running: true) is { } refused)
        {
            return refused;
        }

        var then = backOff ? Then.BackOff : Then.Nothing;
        return current!.RunningSince is null
            ? new(Edge.Stop, current, current, Write.None, then)
            : new(Edge.Stop, current, current with { RunningSince = null }, Write.Update, then);
    }

    /// <summary>
    /// interrupted / quarantine: a new activation found the in-flight marker, so the silo that ran the attempt went
    /// away mid-attempt. Counted; at <paramref name="quarantineAfter"/> (0 = never) the task is dead instead
    /// (<see cref="DeferredErrorTypes.Quarantined"/>). Refused ("no attempt in flight") when the marker is not set.
    /// </summary>
    public static Transition CountInterruption(TaskRecord? current, string owner, int quarantineAfter, DateTimeOffset now)
    {
        if (Guard(Edge.Interrupted, current) is { } refused)
        {
            return refused;
        }

        if (current!.RunningSince is null)
        {
            return Transition.Refuse(Edge.Interrupted, current, "no attempt in flight");
        }

        var counted = current with { RunningSince = null, Interruptions = current.Interruptions + 1, Owner = owner };
        if (quarantineAfter <= 0 || counted.Interruptions < quarantineAfter)
        {
            return new(Edge.Interrupted, current, counted, Write.Update, Then.Schedule);
        }

        var error = new DeferredTaskError
        {
            Type = DeferredErrorTypes.Quarantined,
            Message = $"An attempt of this task was in flight when its silo went away {counted.Interruptions} times (limit {quarantineAfter}); it is quarantined so it cannot take more silos down. Fix the cause, then retry the dead task.",
            Attempt = current.Attempts + 1,
            At = now,
        };
        return Kill(Edge.Quarantine, counted, error, owner, counted.Attempts) with { Before = current };
    }

    /// <summary>retry-dead: Dead → Pending, with a fresh set of attempts, due now. Refused ("not dead") otherwise.</summary>
    public static Transition RetryDead(TaskRecord? current, string owner, DateTimeOffset now) =>
        Guard(Edge.RetryDead, current) ?? new(
            Edge.RetryDead,
            current,
            current! with
            {
                Status = DeferredTaskStatus.Pending,
                Attempts = 0,
                Interruptions = 0,
                Snoozes = 0,
                RunningSince = null,
                Owner = owner,
                NextRunAt = Timestamps.Microseconds(now),
            },
            Write.Update,
            Then.Schedule);

    /// <summary>
    /// run-now: Pending → Pending, Failed → Failed, due now: a delayed task, or a failed one waiting out its retry
    /// backoff, starts its next attempt at once. Attempts, interruptions and the last error are kept: the attempt it
    /// brings forward is the one it was waiting for, so none is used up. Nothing is written when the task is already
    /// due. Refused for a running task ("running"), a dead one ("dead": retry it instead) and a missing one.
    /// </summary>
    public static Transition RunNow(TaskRecord? current, bool running, string owner, DateTimeOffset now)
    {
        if (Guard(Edge.RunNow, current, running) is { } refused)
        {
            return refused;
        }

        var due = Timestamps.Microseconds(now);
        return current!.NextRunAt <= due
            ? new(Edge.RunNow, current, current, Write.None, Then.Schedule)
            : new(Edge.RunNow, current, current with { NextRunAt = due, Owner = owner }, Write.Update, Then.Schedule);
    }

    /// <summary>delete: Pending, Failed or Dead → None. Refused ("running") while an attempt is in flight.</summary>
    public static Transition Delete(TaskRecord? current, bool running) =>
        Guard(Edge.Delete, current, running) ?? new(Edge.Delete, current, null, Write.Delete, Then.Forget);

    /// <summary>
    /// delete, as the operator's purge of dead tasks takes it: only a task that is still dead. Refused "not dead" for a
    /// task retried since it was listed, so a purge never deletes a task an operator brought back.
    /// </summary>
    public static Transition PurgeDead(TaskRecord? current) =>
        current is { Status: DeferredTaskStatus.Dead } ? Delete(current, running: false)
            : Transition.Refuse(Edge.Delete, current, current is null ? "not stored" : "not dead");

    /// <summary>
    /// cancel: Pending, Failed or Running → None, the row deleted and reported as cancelled. For a running task the grain
    /// signals the attempt's token and applies this when the handler returns, whatever it returned. Refused for a dead
    /// task ("dead": delete it instead).
    /// </summary>
    public static Transition Cancel(TaskRecord? current, bool running) =>
        Guard(Edge.Cancel, current, running) ?? new(Edge.Cancel, current, null, Write.Delete, Then.Forget);

    /// <summary>
    /// adopt: this silo takes over a live task whose owner is gone, and watches its attempts from now on. Nothing is
    /// written here: the default store's sweep claims the row in SQL, and the stock store records the new owner with
    /// the next write (the watched start writes the in-flight marker and the owner).
    /// </summary>
    public static Transition Adopt(TaskRecord? current) =>
        Guard(Edge.Adopt, current) ?? new(Edge.Adopt, current, current, Write.None, Then.Schedule);

    /// <summary>release: a cleanly stopping silo clears the owner of its live tasks (in bulk, in SQL, for the default store).</summary>
    public static Transition Release(TaskRecord? current) =>
        Guard(Edge.Release, current) ?? new(Edge.Release, current, current! with { Owner = null }, Write.Update, Then.Nothing);

    /// <summary>park: a far task's reminder is registered; the row says so, so the reminder is dropped when the task ends.</summary>
    public static Transition Park(TaskRecord? current) =>
        Guard(Edge.Park, current) ?? (current!.HasReminder
            ? new(Edge.Park, current, current, Write.None, Then.Nothing)
            : new(Edge.Park, current, current with { HasReminder = true }, Write.Update, Then.Nothing));

    /// <summary>unpark: a dead task's reminder is gone; the row stops saying it has one.</summary>
    public static Transition Unpark(TaskRecord? current) =>
        Guard(Edge.Unpark, current) ?? (current!.HasReminder
            ? new(Edge.Unpark, current, current with { HasReminder = false }, Write.Update, Then.Nothing)
            : new(Edge.Unpark, current, current, Write.None, Then.Nothing));

    /// <summary>
    /// Maps what an attempt came to onto its one edge: the executor decides, this records. An operator's cancel wins over
    /// whatever the handler returned (the cancel edge); an attempt that reached no outcome stops.
    /// </summary>
    public static Transition Record(TaskRecord? current, AttemptOutcome outcome, string owner) => outcome.Result switch
    {
        AttemptResult.Succeeded => Succeed(current),
        AttemptResult.Committed => Commit(current),
        AttemptResult.Failed when outcome.RetryAt is { } retryAt => Fail(current, outcome.Error!, retryAt, owner),
        AttemptResult.Snoozed when outcome.RetryAt is { } snoozedUntil => Snooze(current, snoozedUntil, owner),
        AttemptResult.Failed => GiveUp(current, outcome.Error!, owner),
        AttemptResult.Unreadable => MarkUnreadable(current, outcome.Error!, owner),
        AttemptResult.Cancelled => Cancel(current, running: true),
        AttemptResult.MarkerNotStored => Stop(current, backOff: true),
        AttemptResult.Superseded => Guard(Edge.Commit, current, running: true) ?? Transition.Refuse(Edge.Commit, current, SupersededRefusal),
        _ => Stop(current),
    };

    private static Transition Kill(Edge edge, TaskRecord current, DeferredTaskError error, string owner, int attempts) => new(
        edge,
        current,
        current with
        {
            Status = DeferredTaskStatus.Dead,
            Attempts = attempts,
            LastError = error,
            RunningSince = null,
            Owner = owner,
            HasReminder = false,
            ReadFailure = null,
        },
        Write.Update,
        Then.Forget);

    /// <summary>Refuses an edge whose source states do not include the record's state; null when it applies.</summary>
    private static Transition? Guard(Edge edge, TaskRecord? current, bool running = false)
    {
        var state = LifecycleTable.StateOf(current, running);
        var sources = LifecycleTable.Sources(edge);
        if (sources.Contains(state))
        {
            return null;
        }

        var why = state switch
        {
            TaskState.None => "not stored",
            _ when sources.Count == 1 && sources[0] != TaskState.None => $"not {sources[0].ToString().ToLowerInvariant()}",
            _ => state.ToString().ToLowerInvariant(),
        };
        return Transition.Refuse(edge, current, why);
    }
}
