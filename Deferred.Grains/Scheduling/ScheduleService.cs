using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Scheduling;

/// <summary>
/// The silo side of runtime schedules and of the operator's schedule actions. Every input is checked again here (a
/// client's checks do not count on the silo), and a store without schedules refuses to store one.
/// </summary>
internal sealed class ScheduleService(
    ScheduleStoreSelection stores,
    TaskTypeRegistry registry,
    Serializer serializer,
    DeferredScheduler scheduler,
    IOptions<DeferredOptions> options,
    ILogger<ScheduleService> logger)
{
    public async Task SaveAsync(ScheduleRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var store = stores.Required;
        var spec = ScheduleSpec.Parse(request.Name, request.Schedule);
        var registration = registry.Find(request.Task.GetType())
            ?? throw new DeferredTaskTypeNotRegisteredException(request.Task.GetType().FullName ?? request.Task.GetType().Name);
        byte[] payload;
        try
        {
            payload = registration.Serialize(serializer, request.Task);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
#pragma warning disable CA2208 // Names the public API's parameter (IDeferredTasks.ScheduleAsync's task).
            throw new ArgumentException($"The task of schedule '{request.Name}' ({request.Task.GetType().Name}) cannot be serialized: {ex.Message}", "task", ex);
#pragma warning restore CA2208
        }

        var maxAttempts = request.Schedule.MaxAttempts ?? options.Value.DefaultMaxAttempts;
        var now = await store.NowAsync(cancellationToken);
        var definition = new ScheduleDefinition(
            request.Name,
            registration.Name,
            payload,
            spec.Cron,
            spec.IntervalMs,
            spec.TimeZoneId,
            spec.Missed,
            maxAttempts,
            DeferredScheduleSource.Runtime,
            spec.Definition(registration.Name, maxAttempts),
            spec.NextAfter(now));
        var upsert = await store.UpsertAsync(definition, cancellationToken)
            ?? throw new InvalidOperationException(
                $"Schedule '{request.Name}' is registered in code (AddDeferredSchedule); it cannot be replaced at run time. Choose another name, or change the registration.");
        DeferredLog.ScheduleRegistered(logger, request.Name, spec.Describe(), registration.Name, upsert.Created ? "created" : upsert.Changed ? "changed" : "unchanged", upsert.NextAt);
        scheduler.WakeNow();
    }

    public async Task<bool> RemoveAsync(string name, CancellationToken cancellationToken)
    {
        ScheduleSpec.ThrowIfBadName(name);
        if (stores.Store is not { } store || !await store.DeleteAsync(name, cancellationToken))
        {
            return false;
        }

        DeferredLog.ScheduleChanged(logger, name, "removed");
        return true;
    }

    public async Task<IReadOnlyList<DeferredScheduleInfo>> ListAsync(CancellationToken cancellationToken)
    {
        if (stores.Store is not { } store)
        {
            return [];
        }

        var rows = await store.ListAsync(cancellationToken);
        return rows.Select(Info).ToList();
    }

    public async Task<bool> PauseAsync(string name, CancellationToken cancellationToken)
    {
        ScheduleSpec.ThrowIfBadName(name);
        if (stores.Store is not { } store || !await store.PauseAsync(name, cancellationToken))
        {
            return false;
        }

        DeferredLog.ScheduleChanged(logger, name, "paused");
        return true;
    }

    /// <summary>
    /// Resumes at the first occurrence after now: what came due while paused is skipped, whatever the missed policy
    /// (a pause is an operator's decision not to run). A resume that races another change reads again.
    /// </summary>
    public async Task<bool> ResumeAsync(string name, CancellationToken cancellationToken)
    {
        ScheduleSpec.ThrowIfBadName(name);
        if (stores.Store is not { } store)
        {
            return false;
        }

        while (true)
        {
            var row = await store.ReadAsync(name, cancellationToken);
            if (row is null)
            {
                return false;
            }

            if (!row.Paused)
            {
                return true;
            }

            var spec = ScheduleSpec.FromStored(row.Cron, row.IntervalMs, row.TimeZone, row.Missed);
            var now = await store.NowAsync(cancellationToken);
            if (await store.ResumeAsync(name, row.Version, spec.NextAfter(now), cancellationToken))
            {
                DeferredLog.ScheduleChanged(logger, name, "resumed");
                scheduler.WakeNow();
                return true;
            }
        }
    }

    private static DeferredScheduleInfo Info(StoredSchedule row)
    {
        string spec;
        var missed = Enum.TryParse<MissedOccurrences>(row.Missed, out var policy) ? policy : MissedOccurrences.RunOnce;
        try
        {
            spec = ScheduleSpec.FromStored(row.Cron, row.IntervalMs, row.TimeZone, row.Missed).Describe();
        }
        catch (FormatException ex)
        {
            spec = $"unreadable: {ex.Message}";
        }

        return new DeferredScheduleInfo
        {
            Name = row.Name,
            TaskType = row.TaskType,
            Spec = spec,
            TimeZone = row.TimeZone,
            Missed = missed,
            Paused = row.Paused,
            NextOccurrence = row.NextAt,
            LastOccurrence = row.LastOccurrence,
            Source = row.Source,
            MaxAttempts = row.MaxAttempts,
        };
    }
}
