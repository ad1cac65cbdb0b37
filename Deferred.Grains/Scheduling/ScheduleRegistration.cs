using Deferred.Storage;

namespace Deferred.Scheduling;

/// <summary>A schedule registered in code (<c>AddDeferredSchedule</c>): its checked spec and the factory of its task.</summary>
/// <param name="Name">The schedule name.</param>
/// <param name="Schedule">The schedule as registered.</param>
/// <param name="Spec">The checked spec.</param>
/// <param name="TaskType">The CLR task type; a handler must be registered for it.</param>
/// <param name="Factory">Makes each occurrence's task, from the silo's services.</param>
internal sealed record ScheduleRegistration(string Name, DeferredSchedule Schedule, ScheduleSpec Spec, Type TaskType, Func<IServiceProvider, object> Factory);

/// <summary>
/// The schedule store of the selected task store, or null when that store has none (the stock store). The one place
/// the scheduling code learns whether schedules can be kept at all.
/// </summary>
/// <param name="Store">The schedule store, or null.</param>
/// <param name="StoreName">The selected task store's name, for messages.</param>
internal sealed record ScheduleStoreSelection(IDeferredScheduleStore? Store, string StoreName)
{
    /// <summary>The schedule store; throws <see cref="NotSupportedException"/> naming the store when there is none.</summary>
    public IDeferredScheduleStore Required =>
        Store ?? throw new NotSupportedException(
            $"Schedules need a store that inserts a schedule's occurrences in the transaction that advances it; the {StoreName} store cannot. " +
            "Use the Postgres store (Deferred:Store = Postgres, or silo.UseDeferredPostgresStore()).");
}
