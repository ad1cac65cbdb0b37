using Deferred;
using Deferred.Client;
using Deferred.Execution;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Deferred task handlers and the client-side <see cref="IDeferredTasks"/>.</summary>
public static class DeferredServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="THandler"/> (scoped: a new DI scope per attempt) to run tasks of type
    /// <typeparamref name="TTask"/> on this silo. The task type is stored by its Orleans <c>[Alias]</c> when it has
    /// one, else by its full name: give it an alias to keep stored tasks runnable across renames.
    /// If the handler also implements <see cref="IDeferredRetryPolicy{TTask}"/>, that policy decides its retries.
    /// </summary>
    /// <typeparam name="TTask">The task type; must be Orleans-serializable (<c>[GenerateSerializer]</c>).</typeparam>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="services">The silo's services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDeferredTaskHandler<TTask, THandler>(this IServiceCollection services)
        where THandler : class, IDeferredTaskHandler<TTask> =>
        services.AddDeferredTaskHandler<TTask, THandler>(taskTypeName: null);

    /// <summary>
    /// Registers <typeparamref name="THandler"/> for <typeparamref name="TTask"/> under an explicit stored name.
    /// Stored tasks are matched to handlers by this name alone, so a task type can be renamed, moved to another
    /// assembly or replaced by a new class (fields added) while rows written under the old one still run.
    /// </summary>
    /// <typeparam name="TTask">The task type; must be Orleans-serializable (<c>[GenerateSerializer]</c>).</typeparam>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="services">The silo's services.</param>
    /// <param name="taskTypeName">The stored name; null uses the type's <c>[Alias]</c> or full name.</param>
    /// <param name="timeout">
    /// How long one attempt of this type may run before it is cancelled and counted as failed; null uses
    /// <c>DeferredOptions.DefaultTaskTimeout</c>.
    /// </param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDeferredTaskHandler<TTask, THandler>(this IServiceCollection services, string? taskTypeName, TimeSpan? timeout = null)
        where THandler : class, IDeferredTaskHandler<TTask>
    {
        ArgumentNullException.ThrowIfNull(services);
        CheckRegistration<TTask>(taskTypeName, timeout);
        services.RemoveAll<IDeferredTransactionalHandler<TTask>>();
        services.RemoveAll<IDeferredTaskHandler<TTask>>();
        services.AddScoped<IDeferredTaskHandler<TTask>, THandler>();
        return services.Register(new TaskRegistration<TTask>(taskTypeName, timeout));
    }

    /// <summary>
    /// Registers <typeparamref name="THandler"/> (scoped: a new DI scope per attempt) to run tasks of type
    /// <typeparamref name="TTask"/> in a transaction of the task store's database: what the handler writes there and
    /// the task's completion commit together, or not at all, so those writes happen exactly once
    /// (<see cref="IDeferredTransactionalHandler{TTask}"/>). Only the default store (<c>Postgres</c>) supports it: a silo
    /// on the stock store refuses to start with a <see cref="NotSupportedException"/>.
    /// </summary>
    /// <typeparam name="TTask">The task type; must be Orleans-serializable (<c>[GenerateSerializer]</c>).</typeparam>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="services">The silo's services.</param>
    /// <param name="taskTypeName">The stored name; null uses the type's <c>[Alias]</c> or full name.</param>
    /// <param name="timeout">
    /// How long one attempt of this type may run before it is cancelled (and its transaction rolled back) and counted as
    /// failed; null uses <c>DeferredOptions.DefaultTaskTimeout</c>.
    /// </param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDeferredTransactionalTaskHandler<TTask, THandler>(this IServiceCollection services, string? taskTypeName = null, TimeSpan? timeout = null)
        where THandler : class, IDeferredTransactionalHandler<TTask>
    {
        ArgumentNullException.ThrowIfNull(services);
        CheckRegistration<TTask>(taskTypeName, timeout);
        services.RemoveAll<IDeferredTaskHandler<TTask>>();
        services.RemoveAll<IDeferredTransactionalHandler<TTask>>();
        services.AddScoped<IDeferredTransactionalHandler<TTask>, THandler>();
        return services.Register(new TaskRegistration<TTask>(taskTypeName, timeout, transactional: true));
    }

    private static void CheckRegistration<TTask>(string? taskTypeName, TimeSpan? timeout)
    {
        if (taskTypeName is not null && string.IsNullOrWhiteSpace(taskTypeName))
        {
            throw new ArgumentException("The task type name must not be blank.", nameof(taskTypeName));
        }

        if (timeout is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), t, $"The timeout for task type {typeof(TTask).Name} must be greater than zero.");
        }
    }

    // One registration per task type: a later one replaces an earlier one (and its kind of handler).
    private static IServiceCollection Register<TTask>(this IServiceCollection services, TaskRegistration<TTask> registration)
    {
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(TaskRegistration) && d.ImplementationInstance is TaskRegistration<TTask>);
        if (existing is not null)
        {
            services.Remove(existing);
        }

        services.AddSingleton<TaskRegistration>(registration);
        return services;
    }

    /// <summary>
    /// Adds <typeparamref name="TFilter"/> around every attempt on this silo (scoped: resolved from the attempt's scope,
    /// like the handler). Filters run in registration order, the first registered outermost. See <see cref="IDeferredTaskFilter"/>.
    /// </summary>
    /// <typeparam name="TFilter">The filter.</typeparam>
    /// <param name="services">The silo's services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDeferredTaskFilter<TFilter>(this IServiceCollection services)
        where TFilter : class, IDeferredTaskFilter
    {
        ArgumentNullException.ThrowIfNull(services);
        var types = services.FirstOrDefault(d => d.ServiceType == typeof(TaskFilterTypes))?.ImplementationInstance as TaskFilterTypes;
        if (types is null)
        {
            types = new TaskFilterTypes();
            services.AddSingleton(types);
        }

        if (!types.Types.Contains(typeof(TFilter)))
        {
            types.Types.Add(typeof(TFilter));
            services.TryAddScoped<TFilter>();
        }

        return services;
    }

    /// <summary>
    /// Bounds how many attempts of <typeparamref name="TTask"/> run at once: on each silo (<paramref name="perSilo"/>, a
    /// local semaphore) and in the whole cluster (<paramref name="cluster"/>, leases in the database that hold while silos
    /// join and die). Attempts over a bound wait in memory, holding no execution slot. Register the handler first when
    /// it names the type explicitly. The same as setting <c>DeferredOptions.ConcurrencyLimits</c>.
    /// </summary>
    /// <typeparam name="TTask">The task type.</typeparam>
    /// <param name="services">The silo's services.</param>
    /// <param name="perSilo">The most attempts running at once on one silo; null for no bound per silo.</param>
    /// <param name="cluster">The most attempts running at once in the cluster; null for no cluster-wide bound.</param>
    /// <returns>The services.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A bound is below 1, or neither is given.</exception>
    public static IServiceCollection AddDeferredConcurrencyLimit<TTask>(this IServiceCollection services, int? perSilo = null, int? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (perSilo is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(perSilo), perSilo, $"The per-silo concurrency limit of task type {typeof(TTask).Name} is {perSilo}; it must be at least 1 (or null for no bound).");
        }

        if (cluster is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(cluster), cluster, $"The cluster-wide concurrency limit of task type {typeof(TTask).Name} is {cluster}; it must be at least 1 (or null for no bound).");
        }

        if (perSilo is null && cluster is null)
        {
            throw new ArgumentOutOfRangeException(nameof(perSilo), $"No concurrency limit was given for task type {typeof(TTask).Name}; set perSilo, cluster or both.");
        }

        var name = services.Select(d => d.ImplementationInstance).OfType<TaskRegistration<TTask>>().FirstOrDefault()?.Name ?? TaskRegistration.NameOf(typeof(TTask));
        services.Configure<Deferred.DeferredOptions>(o => o.ConcurrencyLimits[name] = new Deferred.DeferredConcurrencyLimit { PerSilo = perSilo, Cluster = cluster });
        return services;
    }

    /// <summary>
    /// Makes <see cref="IDeferredTasks"/> available on an Orleans client (silos get it from <c>AddDeferredTasks</c>).
    /// Tasks enqueued from a client run on the gateway silo that receives the call.
    /// </summary>
    /// <param name="services">The client's services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDeferredTasksClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<Deferred.Wakeups.TaskGrainReferences>();
        services.TryAddSingleton<IDeferredTasks, DeferredTasksClient>();
        services.TryAddSingleton<IDeferredTaskOperator, Deferred.Operations.DeferredTaskOperator>();
        services.TryAddSingleton(sp => new DeferredTransactionalEnqueuer(sp));
        services.TryAddSingleton<Deferred.Execution.NewTaskFactory>();

        // A client does not know the silos' CarriedRequestContextKeys: its transactional enqueue stores every entry,
        // and the silo restores the ones it carries. (On a silo, AddDeferredTasks registered the configured one first.)
        services.TryAddSingleton(sp => Deferred.Execution.CarriedRequestContext.ForClient(sp.GetRequiredService<Orleans.Serialization.Serializer>()));
        return services;
    }
}
