using Orleans.Concurrency;

namespace Deferred.Scheduling;

/// <summary>
/// Where schedule calls from app code and operators run: a stateless worker on the silo that receives them (a client's
/// gateway, or the local silo), next to the schedule store.
/// </summary>
internal interface IScheduleGrain : IGrainWithIntegerKey
{
    /// <summary>Creates or replaces a runtime schedule.</summary>
    Task SaveAsync(ScheduleRequest request);

    /// <summary>Removes a schedule; false when there is none.</summary>
    Task<bool> RemoveAsync(string name);

    /// <summary>Every schedule of the service, by name.</summary>
    Task<IReadOnlyList<DeferredScheduleInfo>> ListAsync();

    /// <summary>Pauses a schedule; false when there is none.</summary>
    Task<bool> PauseAsync(string name);

    /// <summary>Resumes a schedule at its first occurrence after now; false when there is none.</summary>
    Task<bool> ResumeAsync(string name);
}

/// <summary>A checked runtime schedule: its name, its task and when it runs.</summary>
[GenerateSerializer, Immutable, Alias("deferred.schedule-request.v1")]
internal sealed record ScheduleRequest
{
    [Id(0)] public required string Name { get; init; }

    [Id(1)] public required object Task { get; init; }

    [Id(2)] public required DeferredSchedule Schedule { get; init; }
}

// Holds no state: reentrant, so a slow store call does not queue the silo's other schedule calls behind it.
[StatelessWorker]
[Reentrant]
internal sealed class ScheduleGrain(ScheduleService schedules) : Grain, IScheduleGrain
{
    public Task SaveAsync(ScheduleRequest request) => schedules.SaveAsync(request, CancellationToken.None);

    public Task<bool> RemoveAsync(string name) => schedules.RemoveAsync(name, CancellationToken.None);

    public Task<IReadOnlyList<DeferredScheduleInfo>> ListAsync() => schedules.ListAsync(CancellationToken.None);

    public Task<bool> PauseAsync(string name) => schedules.PauseAsync(name, CancellationToken.None);

    public Task<bool> ResumeAsync(string name) => schedules.ResumeAsync(name, CancellationToken.None);
}
