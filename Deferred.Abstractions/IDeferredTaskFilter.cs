namespace Deferred;

/// <summary>
/// Runs around every attempt of every task, for what apps add to all of them: a tenant or culture scope, a logging
/// scope, an auth context, metrics of their own. Register with <c>services.AddDeferredTaskFilter&lt;TFilter&gt;()</c>;
/// filters are resolved from the attempt's DI scope (the same scope as the handler) and run in registration order,
/// the first registered outermost.
/// </summary>
/// <remarks>
/// A filter continues the attempt by awaiting <c>proceed()</c>. Throwing (before or after <c>proceed</c>) fails the attempt
/// like a throwing handler: it is retried or becomes dead by the task's retry policy. Returning without calling
/// <c>proceed</c> ends the attempt as succeeded without running the handler. Values set in an <c>AsyncLocal</c> (culture,
/// <c>Activity</c> baggage, a tenant accessor) before <c>proceed</c> are seen by the handler.
/// </remarks>
public interface IDeferredTaskFilter
{
    /// <summary>Wraps one attempt.</summary>
    /// <param name="attempt">The task, its context and the attempt's cancellation token.</param>
    /// <param name="proceed">The rest of the pipeline: the next filter, or the handler.</param>
    Task InvokeAsync(DeferredAttempt attempt, Func<Task> proceed);
}

/// <summary>One attempt, as a filter sees it.</summary>
/// <param name="Task">The task object as it was enqueued.</param>
/// <param name="Context">Its id, type, attempt number and previous error.</param>
/// <param name="CancellationToken">The attempt's token (shutdown, timeout, cancel).</param>
public sealed record DeferredAttempt(object Task, DeferredTaskContext Context, CancellationToken CancellationToken);
