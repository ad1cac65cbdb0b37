using System.Text.Json;
using Deferred.Execution;
using Deferred.Lifecycle;
using Orleans.Serialization;

namespace Deferred.TaskGrain;

/// <summary>
/// Builds what an operator sees of one task, the payload rendered as JSON where the serializer can: on a silo, and in a
/// reader without one (<see cref="Operations.StoredTaskReader"/>) for the types it knows (none without a serializer).
/// </summary>
internal static class TaskDetails
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, MaxDepth = 16 };

    /// <summary>
    /// The details of a stored task; <paramref name="runningSince"/> is when the activation's attempt in flight began
    /// (null when none runs), else the row's in-flight marker (a watched attempt, or one whose silo went away).
    /// </summary>
    public static DeferredTaskDetails Of(string taskId, TaskRecord record, bool running, DateTimeOffset? runningSince, TaskTypeRegistry registry, Serializer? serializer, DeferredTaskProgress? progress = null)
    {
        string? json = null;
        var registration = registry.Find(record.TaskType);
        if (registration is not null && serializer is not null && record.ReadFailure is null)
        {
            try
            {
                var task = registration.Deserialize(serializer, record.Payload);
                json = JsonSerializer.Serialize(task, task.GetType(), Json);
            }
#pragma warning disable CA1031 // Rendering is best effort: a payload that cannot be shown is still a task to see.
            catch (Exception)
#pragma warning restore CA1031
            {
                json = null;
            }
        }

        return new DeferredTaskDetails
        {
            Info = record.ToInfo(taskId, running, progress),
            Owner = record.Owner,
            RunningSince = runningSince ?? record.RunningSince,
            PayloadBytes = record.Payload.Length,
            PayloadJson = json,
            PayloadType = registration?.TaskType.FullName,
            OrderingKey = record.OrderingKey,
        };
    }
}
