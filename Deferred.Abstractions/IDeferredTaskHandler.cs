namespace Deferred;

/// <summary>
/// Runs deferred tasks of type <typeparamref name="TTask"/>. Handlers are resolved from the silo's
/// dependency-injection container in a fresh scope for every attempt, so they can take dependencies.
/// </summary>
/// <typeparam name="TTask">The task type: any Orleans-serializable type (<c>[GenerateSerializer]</c>).</typeparam>
/// <remarks>
/// Delivery is at-least-once: a task can run again after its handler finished if the silo dies before the
/// task's row is deleted. Handlers should be idempotent (see <c>docs/semantics.md</c>).
/// </remarks>
public interface IDeferredTaskHandler<in TTask>
{
    /// <summary>Runs one attempt of a task. Throwing marks the attempt as failed and schedules a retry.</summary>
    /// <param name="task">The task as it was enqueued.</param>
    /// <param name="context">Who the task is and which attempt this is.</param>
    /// <param name="cancellationToken">Cancelled when the silo shuts down or the attempt times out.</param>
    Task ExecuteAsync(TTask task, DeferredTaskContext context, CancellationToken cancellationToken);
}

/// <summary>
/// Optional per-task-type retry schedule. Implement it on the handler, or register it in DI as
/// <c>IDeferredRetryPolicy&lt;TTask&gt;</c>, to decide after each failed attempt whether and when to retry.
/// </summary>
/// <typeparam name="TTask">The task type the policy applies to.</typeparam>
public interface IDeferredRetryPolicy<in TTask>
{
    /// <summary>Decides what happens after a failed attempt. The task's maximum attempts are enforced regardless.</summary>
    /// <param name="failure">The failed attempt.</param>
    /// <returns>A retry after a delay, give up, or the configured default schedule.</returns>
    RetryDecision Decide(DeferredTaskFailure failure);
}
