namespace Deferred;

/// <summary>
/// What an operator (a dashboard, a CLI, an admin endpoint) sees and does. Available from DI on silos
/// (<c>AddDeferredTasks</c>) and on Orleans clients (<c>AddDeferredTasksClient</c>). Reads go to the store through a
/// silo; every change is a lifecycle transition applied by the task's own grain, never SQL that bypasses it.
/// </summary>
public interface IDeferredTaskOperator
{
    /// <summary>
    /// One page of stored tasks matching <paramref name="query"/>, in due-time order (then id), paged by keyset: pass
    /// <see cref="DeferredTaskPage.NextPageToken"/> as <see cref="DeferredTaskQuery.PageToken"/> with the same filter.
    /// </summary>
    /// <exception cref="ArgumentException">The filter is malformed, the page size out of range, or the token belongs to another query.</exception>
    Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query, CancellationToken cancellationToken = default);

    /// <summary>How many tasks are stored, by status and task type.</summary>
    Task<IReadOnlyList<DeferredTaskCount>> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>One task in detail, or null when it is not stored (completed, deleted, or never existed).</summary>
    Task<DeferredTaskDetails?> ShowAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels a task. A waiting task (pending or failed) is removed at once: <see cref="DeferredCancelOutcome.Cancelled"/>.
    /// A running task gets its attempt's cancellation token signalled and is removed when its handler returns, whatever
    /// it returns: <see cref="DeferredCancelOutcome.Signalled"/>. A handler that ignores the token is abandoned
    /// <c>DeferredOptions.AbandonAfter</c> later (its code may still be running), and the task is removed then.
    /// A dead task is not cancelled (<see cref="DeferredCancelOutcome.NotLive"/>; delete it instead).
    /// </summary>
    Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>Gives a dead task a fresh set of attempts, due now. False when it is not stored or not dead.</summary>
    Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Retries every dead task matching <paramref name="filter"/> (its status is taken as dead) and returns how many it
    /// retried: a bulk action (<see cref="PrepareRetryDeadAsync"/>, then <see cref="StartBulkActionAsync"/>) awaited to
    /// its end. Each task that matched at the start is retried at most once, even if it dies again meanwhile.
    /// Cancelling <paramref name="cancellationToken"/> cancels the action (what it did so far stays done); if the caller
    /// goes away without cancelling, the action runs to its end in the silo.
    /// </summary>
    Task<int> RetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a waiting task due now: a pending task delayed to a later time, or a failed one waiting out its retry
    /// backoff, starts its next attempt at once. Its attempts are unchanged (the attempt it brings forward is the one
    /// it was waiting for), so none is used up. True when the task is due now (also when it already was); false when
    /// it is not stored, running, or dead (retry a dead task with <see cref="RetryDeadAsync(string, CancellationToken)"/>).
    /// </summary>
    Task<bool> RunNowAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>Deletes a task that is not running. False when it is not stored; <see cref="InvalidOperationException"/> while running.</summary>
    Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every dead task whose last attempt was due before <paramref name="olderThan"/> (a dead task keeps the due
    /// time of the attempt that ended it) and returns how many: a bulk action (<see cref="PreparePurgeDeadAsync"/>, then
    /// <see cref="StartBulkActionAsync"/>) awaited to its end; <paramref name="cancellationToken"/> cancels it.
    /// </summary>
    Task<int> PurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the dead tasks matching <paramref name="filter"/> (its status is taken as dead) as a bulk retry, and returns it
    /// <see cref="DeferredBulkActionState.Prepared"/> with their number (<see cref="DeferredBulkAction.Total"/>): nothing is
    /// changed until <see cref="StartBulkActionAsync"/>. The action covers exactly the tasks listed now, each at most once,
    /// and retries only those still dead when it reaches them. It is held in memory by one silo (about 100 bytes a task).
    /// </summary>
    /// <exception cref="ArgumentException">The filter is malformed.</exception>
    Task<DeferredBulkAction> PrepareRetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default);

    /// <summary>
    /// Lists the dead tasks whose last attempt was due before <paramref name="olderThan"/> as a bulk purge, and returns it
    /// prepared with their number; nothing is deleted until <see cref="StartBulkActionAsync"/>, and then only tasks still dead.
    /// </summary>
    Task<DeferredBulkAction> PreparePurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a prepared bulk action and returns at once: it runs in its silo until it has reached every task it covers
    /// or is cancelled, whether or not the caller stays connected; watch it with <see cref="GetBulkActionAsync"/>. Starting
    /// an action that already started (or was cancelled) changes nothing. Null when no silo holds the action: an unknown
    /// id, one idle for longer than Orleans keeps an unused activation (15 minutes by default after it finished), or one
    /// whose silo stopped (what it did so far stays done).
    /// </summary>
    /// <exception cref="ArgumentException">The id is malformed.</exception>
    Task<DeferredBulkAction?> StartBulkActionAsync(string actionId, CancellationToken cancellationToken = default);

    /// <summary>A bulk action's progress; null when no silo holds it (see <see cref="StartBulkActionAsync"/>).</summary>
    /// <exception cref="ArgumentException">The id is malformed.</exception>
    Task<DeferredBulkAction?> GetBulkActionAsync(string actionId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels a bulk action: it reaches no further task (changes already sent to a task's grain complete). A finished
    /// action is left as it is. Returns the action as it ends; null when no silo holds it.
    /// </summary>
    /// <exception cref="ArgumentException">The id is malformed.</exception>
    Task<DeferredBulkAction?> CancelBulkActionAsync(string actionId, CancellationToken cancellationToken = default);

    /// <summary>Every schedule of the service (code and runtime), by name. Empty on a store that cannot keep schedules.</summary>
    Task<IReadOnlyList<DeferredScheduleInfo>> ListSchedulesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Pauses a schedule: no occurrence fires until it is resumed. The pause is stored, so it survives silo restarts
    /// (also for a schedule registered in code). False when there is no such schedule.
    /// </summary>
    Task<bool> PauseScheduleAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Resumes a paused schedule at its first occurrence after now: occurrences that came due while it was paused are
    /// skipped, whatever its missed-occurrence policy. True (and nothing changes) for a schedule that is not paused;
    /// false when there is no such schedule.
    /// </summary>
    Task<bool> ResumeScheduleAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes a schedule (see <see cref="IDeferredTasks.UnscheduleAsync"/>): a schedule registered in code comes back at
    /// the next start of a silo that registers it. False when there is no such schedule.
    /// </summary>
    Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken = default);
}
