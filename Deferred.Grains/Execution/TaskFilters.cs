using Microsoft.Extensions.DependencyInjection;

namespace Deferred.Execution;

/// <summary>The filter types registered with <c>AddDeferredTaskFilter</c>, in registration order.</summary>
internal sealed class TaskFilterTypes
{
    public List<Type> Types { get; } = [];
}

/// <summary>
/// Runs an attempt through the registered <see cref="IDeferredTaskFilter"/>s, the first registered outermost, then the
/// handler. With no filter registered the handler is called directly: nothing is allocated for the pipeline.
/// </summary>
internal sealed class TaskFilters(TaskFilterTypes registered)
{
    private readonly Type[] _types = [.. registered.Types];

    public Task InvokeAsync(IServiceProvider scope, TaskRegistration registration, object task, DeferredTaskContext context, System.Data.Common.DbTransaction? transaction, CancellationToken cancellationToken)
    {
        if (_types.Length == 0)
        {
            return registration.InvokeAsync(scope, task, context, transaction, cancellationToken);
        }

        var attempt = new DeferredAttempt(task, context, cancellationToken);
        Func<Task> next = () => registration.InvokeAsync(scope, task, context, transaction, cancellationToken);
        for (var i = _types.Length - 1; i >= 0; i--)
        {
            var filter = (IDeferredTaskFilter)scope.GetRequiredService(_types[i]);
            var inner = next;
            next = () => filter.InvokeAsync(attempt, inner);
        }

        return next();
    }
}
