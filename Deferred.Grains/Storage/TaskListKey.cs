namespace Deferred.Storage;

/// <summary>
/// Where a page of the operator listing ends: the listing's order is (next run, task id), and the next page starts
/// strictly after this key (keyset paging; rows inserted or removed meanwhile never shift a page).
/// </summary>
/// <param name="NextRunAt">The last listed task's next run, as the store returned it.</param>
/// <param name="TaskId">The last listed task's id (the tie-break among tasks due at the same time).</param>
internal readonly record struct TaskListKey(DateTimeOffset NextRunAt, string TaskId)
{
    /// <summary>The key of a listed task: the next page starts after it.</summary>
    public static TaskListKey Of(DeferredTaskSummary task)
    {
        ArgumentNullException.ThrowIfNull(task);
        return new TaskListKey(task.NextRunAt, task.TaskId);
    }
}
