using Deferred.Lifecycle;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Execution;

/// <summary>
/// The one place a new task's record is made, for every enqueue path (the task grain's enqueue, the direct insert of
/// far tasks, batches, schedules' occurrences, and the transactional enqueue): the handler's registration and name, the
/// payload serialized before any row is touched (a task that cannot be serialized stores nothing), the first run time,
/// the attempts, the trace and the carried RequestContext, and then the <c>enqueue</c> edge's record.
/// </summary>
/// <remarks>
/// On a client there is no handler registry: a task is named by its Orleans <c>[Alias]</c> or full name and serialized
/// as its runtime type, which is what the silo's registration reads.
/// </remarks>
internal sealed class NewTaskFactory(Serializer serializer, IOptions<DeferredOptions> options, CarriedRequestContext? carried = null, TaskTypeRegistry? registry = null)
{
    private readonly int _defaultMaxAttempts = options.Value.DefaultMaxAttempts;

    /// <summary>
    /// The new task for <paramref name="task"/>. Throws <see cref="DeferredTaskTypeNotRegisteredException"/> for a type
    /// with no handler on this silo (not on a client, which cannot know); <paramref name="index"/> names a batch's item in
    /// that error and in a serialization failure. <paramref name="requestContext"/>: the carried entries, captured once
    /// for a batch; null captures them here.
    /// </summary>
    public NewTask Create(object task, DeferredEnqueueOptions? enqueue, TraceCarrier? trace, DateTimeOffset now, int? index = null, byte[]? requestContext = null)
    {
        var type = task.GetType();
        TaskRegistration? registration = null;
        if (registry is not null)
        {
            registration = registry.Find(type) ?? throw (index is { } item
                ? new DeferredTaskTypeNotRegisteredException(type.FullName ?? type.Name, item)
                : new DeferredTaskTypeNotRegisteredException(type.FullName ?? type.Name));
        }

        byte[] payload;
        try
        {
            payload = registration is null ? serializer.SerializeToArray(task) : registration.Serialize(serializer, task);
        }
        catch (Exception ex) when (index is { } i && ex is not OperationCanceledException)
        {
#pragma warning disable CA2208 // Names the public API's parameter (IDeferredTasks.EnqueueManyAsync's tasks).
            throw new ArgumentException($"tasks[{i}] ({type.Name}) cannot be serialized: {ex.Message}", "tasks", ex);
#pragma warning restore CA2208
        }

        var name = registration?.Name ?? TaskRegistration.NameOf(type);
        var runAt = TaskLifecycle.FirstRun(enqueue?.RunAt, enqueue?.Delay, now);
        return NewTask.From(name, payload, enqueue, _defaultMaxAttempts, runAt, trace, requestContext ?? carried?.Capture());
    }

    /// <summary>The record the <c>enqueue</c> edge stores for <paramref name="task"/>, owned by <paramref name="owner"/> (null: no owner yet).</summary>
    public static TaskRecord Record(NewTask task, string? owner, DateTimeOffset now) => TaskLifecycle.Enqueue(null, task, owner, now).After!;
}
