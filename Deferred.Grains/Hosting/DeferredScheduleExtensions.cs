using Deferred;
using Deferred.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Orleans.Hosting;

/// <summary>Registers periodic tasks (schedules) on a silo. See <c>docs/schedules.md</c>.</summary>
public static class DeferredScheduleExtensions
{
    /// <summary>
    /// Registers the schedule <paramref name="name"/>: at every occurrence of <paramref name="schedule"/>, one silo of the
    /// cluster (one that registers this schedule) stores the task <paramref name="factory"/> makes, with the id
    /// <c>schedule:{name}:{occurrence}</c>, and it runs like any other task. At each silo start the schedule is written:
    /// a changed definition replaces the stored one (the next occurrence is recomputed when the timing changed), an
    /// unchanged one keeps its next occurrence, and an operator's pause is kept. Needs the default <c>Postgres</c> store
    /// and a handler for <typeparamref name="TTask"/>; otherwise the silo does not start, and says why.
    /// </summary>
    /// <typeparam name="TTask">The task type; register its handler with <c>AddDeferredTaskHandler</c>.</typeparam>
    /// <param name="builder">The silo builder (after <c>AddDeferredTasks</c>, or before: the order does not matter).</param>
    /// <param name="name">1 to <see cref="DeferredSchedule.MaxNameLength"/> characters from <c>A-Z a-z 0-9 - _ .</c>, unique in the service.</param>
    /// <param name="schedule">When it runs (<see cref="DeferredSchedule.Cron"/>, <see cref="DeferredSchedule.Every"/>).</param>
    /// <param name="factory">Makes each occurrence's task, from the silo's services (called once per occurrence, on the silo that fires it).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The name, the cron expression, the time zone or the interval is bad, or the name is registered already.</exception>
    public static ISiloBuilder AddDeferredSchedule<TTask>(this ISiloBuilder builder, string name, DeferredSchedule schedule, Func<IServiceProvider, TTask> factory)
        where TTask : notnull
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        var spec = ScheduleSpec.Parse(name, schedule);
        if (builder.Services.Any(d => d.ServiceType == typeof(ScheduleRegistration) && d.ImplementationInstance is ScheduleRegistration r && r.Name == name))
        {
            throw new ArgumentException($"Schedule '{name}' is registered already; each schedule name is registered once.", nameof(name));
        }

        builder.Services.AddSingleton(new ScheduleRegistration(name, schedule, spec, typeof(TTask), sp => factory(sp)));
        return builder;
    }

    /// <summary>The scheduler, the schedule service and registrar; called by <c>AddDeferredTasks</c>.</summary>
    internal static void AddDeferredScheduling(this IServiceCollection services)
    {
        services.TryAddSingleton(sp =>
        {
            var store = sp.GetRequiredService<Deferred.Storage.IDeferredTaskStore>();
            return new ScheduleStoreSelection(sp.GetKeyedService<Deferred.Storage.IDeferredScheduleStore>(store.Name), store.Name);
        });
        services.AddSingleton<DeferredScheduler>();
        services.AddSingleton<ILifecycleParticipant<Runtime.ISiloLifecycle>>(sp => sp.GetRequiredService<DeferredScheduler>());
        services.AddSingleton<ScheduleRegistrar>();
        services.AddSingleton<ILifecycleParticipant<Runtime.ISiloLifecycle>>(sp => sp.GetRequiredService<ScheduleRegistrar>());
        services.AddSingleton<IConfigurationValidator>(sp => sp.GetRequiredService<ScheduleRegistrar>());
        services.AddSingleton<ScheduleService>();
    }
}
