namespace Deferred;

/// <summary>
/// Enqueues and inspects deferred tasks. Available from DI on silos (<c>AddDeferredTasks</c>) and on Orleans
/// clients (<c>AddDeferredTasksClient</c>).
/// </summary>
public interface IDeferredTasks
{
    /// <summary>
    /// Stores a task and returns its id once its row is committed to PostgreSQL. The task runs afterwards, on
    /// the silo that accepted it (for a call from a client, the gateway silo).
    /// </summary>
    /// <typeparam name="TTask">The task type; a handler for it must be registered on the silos.</typeparam>
    /// <param name="task">The task. Must not be null.</param>
    /// <param name="options">Delay, run time, attempts and idempotency id; null for defaults.</param>
    /// <param name="cancellationToken">
    /// Cancels waiting for the acknowledgement: a token cancelled before the call stores nothing; one cancelled while
    /// the call waits may leave the task stored (retry with the same <see cref="DeferredEnqueueOptions.TaskId"/>).
    /// </param>
    /// <returns>
    /// The task id. With <see cref="DeferredEnqueueOptions.TaskId"/> set, the same id even when it was stored already: an
    /// enqueue is idempotent while the task is stored (pending, failed, running or dead), not after it completed.
    /// </returns>
    /// <exception cref="DeferredTaskIdConflictException">The id is stored for a different task (type or contents); nothing was stored.</exception>
    /// <exception cref="DeferredStoreUnavailableException">The store could not be reached within the silo's enqueue timeout.</exception>
    /// <exception cref="DeferredNotReadyException">Called on a silo that has not started yet.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="task"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range or the task id is malformed.</exception>
    /// <exception cref="DeferredTaskTypeNotRegisteredException">No silo handler is registered for <typeparamref name="TTask"/>.</exception>
    Task<string> EnqueueAsync<TTask>(TTask task, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Like <see cref="EnqueueAsync{TTask}"/>, and says whether this call stored the task
    /// (<see cref="DeferredEnqueueResult.Created"/>) or found it stored already under the same
    /// <see cref="DeferredEnqueueOptions.TaskId"/>. An id is taken only while its task is stored: once the task completes
    /// (its row is deleted), the same id enqueues a new task.
    /// </summary>
    /// <typeparam name="TTask">The task type; a handler for it must be registered on the silos.</typeparam>
    /// <param name="task">The task. Must not be null.</param>
    /// <param name="options">Delay, run time, attempts and idempotency id; null for defaults.</param>
    /// <param name="cancellationToken">Cancels waiting for the acknowledgement; a token cancelled before the call stores nothing.</param>
    /// <returns>The stored task and whether this call created it.</returns>
    /// <exception cref="DeferredTaskIdConflictException">The id is stored for a different task (type or contents); nothing was stored.</exception>
    Task<DeferredEnqueueResult> EnqueueWithResultAsync<TTask>(TTask task, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores many tasks in one commit and returns their ids in order, all or nothing: a bad item fails the call before
    /// anything is stored, naming its index. Every task gets <paramref name="options"/> (delay, run time, attempts;
    /// <see cref="DeferredEnqueueOptions.TaskId"/> is refused: ids are generated). Needs a store that commits many rows
    /// at once (the default <c>Postgres</c> store); the stock store refuses with <see cref="NotSupportedException"/>.
    /// </summary>
    /// <typeparam name="TTask">The task type; a handler for each item's runtime type must be registered on the silos.</typeparam>
    /// <param name="tasks">The tasks, at most <see cref="MaxBatchSize"/>; none may be null.</param>
    /// <param name="options">Options for every task; null for defaults.</param>
    /// <param name="cancellationToken">Cancels waiting; a token cancelled before the call stores nothing.</param>
    /// <returns>The new ids, in the order of <paramref name="tasks"/>.</returns>
    Task<IReadOnlyList<string>> EnqueueManyAsync<TTask>(IEnumerable<TTask> tasks, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>The most tasks one <see cref="EnqueueManyAsync{TTask}"/> call stores.</summary>
    public const int MaxBatchSize = 10_000;

    /// <summary>Returns a stored task's state, or null when no such task is stored (it completed, or never existed).</summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    Task<DeferredTaskInfo?> GetAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives a dead task a fresh set of attempts and schedules it now. Returns false when the task is not
    /// stored or is not dead.
    /// </summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels a task from app code, with the operator's semantics (one lifecycle edge, <c>cancel</c>): a waiting task is
    /// removed at once; a running one gets its cancellation token signalled and is removed when its handler returns; a
    /// dead one is not cancelled. See <see cref="IDeferredTaskOperator.CancelAsync"/>.
    /// </summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a stored task that is not running (pending, failed or dead). Returns false when the task is not
    /// stored; throws <see cref="InvalidOperationException"/> while an attempt is running.
    /// </summary>
    /// <param name="taskId">The task id.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates or replaces the runtime schedule <paramref name="name"/>: every occurrence of <paramref name="schedule"/>
    /// stores a copy of <paramref name="task"/> as a task with the id <c>schedule:{name}:{occurrence}</c>, once per cluster.
    /// The task is serialized now and stored with the schedule. Replacing keeps the next occurrence when the timing is
    /// unchanged, and keeps a pause. Needs the default <c>Postgres</c> store; the stock store refuses with
    /// <see cref="NotSupportedException"/>. See <c>docs/schedules.md</c>.
    /// </summary>
    /// <typeparam name="TTask">The task type; a handler for it must be registered on the silos.</typeparam>
    /// <param name="name">1 to <see cref="DeferredSchedule.MaxNameLength"/> characters from <c>A-Z a-z 0-9 - _ .</c>, unique in the service.</param>
    /// <param name="task">The task every occurrence runs. Must not be null.</param>
    /// <param name="schedule">When it runs (<see cref="DeferredSchedule.Cron"/>, <see cref="DeferredSchedule.Every"/>).</param>
    /// <param name="cancellationToken">Cancels waiting; a token cancelled before the call stores nothing.</param>
    /// <exception cref="ArgumentException">The name, the cron expression, the time zone or the interval is bad (the message names it); nothing was stored.</exception>
    /// <exception cref="InvalidOperationException">A schedule registered in code holds the name.</exception>
    /// <exception cref="NotSupportedException">The silos use a store that cannot keep schedules.</exception>
    /// <exception cref="DeferredTaskTypeNotRegisteredException">No silo handler is registered for the task's type.</exception>
    Task ScheduleAsync<TTask>(string name, TTask task, DeferredSchedule schedule, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the schedule <paramref name="name"/>: no occurrence fires after this returns (occurrences already stored
    /// still run). False when there is no such schedule. A schedule registered in code comes back at the next start of a
    /// silo that registers it; pause it (<see cref="IDeferredTaskOperator.PauseScheduleAsync"/>) to stop it for good.
    /// </summary>
    /// <param name="name">The schedule name.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    Task<bool> UnscheduleAsync(string name, CancellationToken cancellationToken = default);
}
