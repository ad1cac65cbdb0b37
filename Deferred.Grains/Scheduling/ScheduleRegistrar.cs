using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Deferred.Scheduling;

/// <summary>
/// Writes the schedules registered in code when the silo starts, before it becomes active: a new one is created, a
/// changed one replaces the stored timing, policy and attempts (and its next occurrence when the timing changed), an
/// unchanged one keeps its next occurrence, and an operator's pause is kept. Refuses to start the silo, with a message
/// naming the schedule, when the store cannot keep schedules or a schedule's task type has no handler.
/// </summary>
internal sealed class ScheduleRegistrar(
    IEnumerable<ScheduleRegistration> registrations,
    ScheduleStoreSelection stores,
    TaskTypeRegistry registry,
    StoreResilience resilience,
    IOptions<DeferredOptions> options,
    ILogger<ScheduleRegistrar> logger) : ILifecycleParticipant<ISiloLifecycle>, IConfigurationValidator
{
    private readonly ScheduleRegistration[] _registrations = registrations.ToArray();

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (_registrations.Length > 0)
        {
            lifecycle.Subscribe(nameof(ScheduleRegistrar), ServiceLifecycleStage.ApplicationServices, RegisterAsync);
        }
    }

    /// <summary>
    /// Refuses the silo before anything of it starts (with the other configuration validators) when the store cannot keep
    /// schedules or a schedule's task type has no handler: a failure at a later lifecycle stage leaves a half-started silo.
    /// </summary>
    public void ValidateConfiguration()
    {
        if (_registrations.Length > 0)
        {
            ThrowIfUnusable();
        }
    }

    private void ThrowIfUnusable()
    {
        var names = string.Join(", ", _registrations.Select(r => r.Name));
        if (stores.Store is null)
        {
            throw new InvalidOperationException(
                $"Deferred schedules are registered ({names}), but the {stores.StoreName} store cannot keep them: it cannot insert a schedule's occurrences " +
                "in the transaction that advances the schedule. Use the Postgres store (Deferred:Store = Postgres, or silo.UseDeferredPostgresStore()), or remove the AddDeferredSchedule calls.");
        }

        var problems = _registrations
            .Where(r => registry.Find(r.TaskType) is null)
            .Select(r => $"schedule '{r.Name}': task type {r.TaskType.FullName} has no handler; register one with services.AddDeferredTaskHandler<{r.TaskType.Name}, THandler>()")
            .ToList();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException("Deferred schedules cannot start: " + string.Join("; ", problems) + ".");
        }
    }

    /// <summary>Writes every registered schedule; throws to stop the silo's start.</summary>
    public async Task RegisterAsync(CancellationToken cancellationToken)
    {
        ThrowIfUnusable();
        foreach (var registration in _registrations)
        {
            ScheduleDefinition? definition = null;
            ScheduleUpsert? upsert = null;
            var result = await resilience.RunAsync(
                StoreWindow.SchemaCheck,
                registration.Name,
                "schedule registration",
                async () =>
                {
                    definition = Definition(registration, await stores.Store!.NowAsync(cancellationToken));
                    upsert = await stores.Store.UpsertAsync(definition, cancellationToken);
                },
                cancellationToken);
            if (!result.Applied)
            {
                throw new InvalidOperationException(
                    $"Deferred could not store schedule '{registration.Name}' at start ({StoreFailures.Describe(result.Error!)}).", result.Error);
            }

            var outcome = upsert!.Created ? "created" : upsert.Changed ? "changed" : "unchanged";
            DeferredLog.ScheduleRegistered(logger, registration.Name, registration.Spec.Describe(), definition!.TaskType, outcome, upsert.NextAt);
        }
    }

    private ScheduleDefinition Definition(ScheduleRegistration registration, DateTimeOffset now)
    {
        var taskType = registry.Find(registration.TaskType)!.Name;
        var maxAttempts = registration.Schedule.MaxAttempts ?? options.Value.DefaultMaxAttempts;
        var spec = registration.Spec;
        return new ScheduleDefinition(
            registration.Name,
            taskType,
            Payload: null,
            spec.Cron,
            spec.IntervalMs,
            spec.TimeZoneId,
            spec.Missed,
            maxAttempts,
            DeferredScheduleSource.Code,
            spec.Definition(taskType, maxAttempts),
            spec.NextAfter(now));
    }
}
