using System.Diagnostics;
using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Options;

namespace Deferred.Client;

/// <summary>
/// <see cref="IDeferredTasks"/> over the task grain. Validates input before any call, so bad input fails here with a
/// message naming the bad value and nothing is sent or stored. On a silo it also takes the direct path for far tasks,
/// tells the store about ids it generates, and waits (bounded) for the silo to become active.
/// </summary>
internal sealed class DeferredTasksClient(
    IGrainFactory grains,
    TaskGrainReferences references,
    IDeferredTaskStore? store = null,
    DirectEnqueuer? direct = null,
    SiloReadiness? readiness = null,
    IOptions<DeferredOptions>? options = null,
    TimeProvider? time = null) : IDeferredTasks
{
    public async Task<string> EnqueueAsync<TTask>(TTask task, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default) =>
        (await EnqueueWithResultAsync(task, options, cancellationToken)).Info.TaskId;

    public async Task<DeferredEnqueueResult> EnqueueWithResultAsync<TTask>(TTask task, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (task is null)
        {
            throw new ArgumentNullException(nameof(task), "The task to enqueue is null.");
        }

        DeferredEnqueueOptionsValidation.ThrowIfInvalid(options);

        // A call cancelled before it starts stores nothing.
        cancellationToken.ThrowIfCancellationRequested();
        if (readiness is not null)
        {
            await readiness.WaitUntilActiveAsync(Options.EnqueueTimeout, time ?? TimeProvider.System, cancellationToken);
        }

        // The producer span; its context is stored with the task, so every attempt continues this trace.
        using var activity = DeferredTelemetry.ActivitySource.StartActivity("deferred.task.enqueue", ActivityKind.Producer);
        var trace = TraceContext.Capture(activity ?? Activity.Current);
        if (direct is not null && await direct.TryEnqueueAsync(task, options, trace, cancellationToken) is { } stored)
        {
            activity?.SetTag("deferred.task.id", stored.Info.TaskId);
            return stored;
        }

        string taskId;
        if (options?.TaskId is { } chosen)
        {
            taskId = chosen;
        }
        else
        {
            taskId = DeferredTaskId.NewId();

            // On a silo: tell the local store this id is new, so the activation need not read it.
            store?.NoteNewTaskId(taskId);
        }

        activity?.SetTag("deferred.task.id", taskId);
        var request = new DeferredEnqueueRequest { Task = task, Options = options, TraceParent = trace?.TraceParent, TraceState = trace?.TraceState, Baggage = trace?.Baggage };
        try
        {
            // A generated id is valid by construction; a chosen one was checked with the options.
            var call = references.Task(taskId).EnqueueAsync(request);
            if (readiness is not null)
            {
                return await Unwrapped(call, cancellationToken);
            }

            // On an Orleans client: a gateway that crashed holding the call never answers, and Orleans gives up only
            // at its response timeout (30 s by default). Bounded by EnqueueTimeout plus a second, so the silo's own
            // store-unavailable answer (at EnqueueTimeout) still arrives first when the silo is alive.
            return await Bounded(call, taskId, cancellationToken);
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            activity.AddException(ex);
            throw;
        }
    }

    public async Task<IReadOnlyList<string>> EnqueueManyAsync<TTask>(IEnumerable<TTask> tasks, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var items = tasks.Select(t => (object?)t).ToArray();
        BatchChecks.ThrowIfInvalid(items, options);
        cancellationToken.ThrowIfCancellationRequested();
        if (items.Length == 0)
        {
            return [];
        }

        if (readiness is not null)
        {
            await readiness.WaitUntilActiveAsync(Options.EnqueueTimeout, time ?? TimeProvider.System, cancellationToken);
        }

        using var activity = DeferredTelemetry.ActivitySource.StartActivity("deferred.task.enqueue_many", ActivityKind.Producer);
        activity?.SetTag("deferred.batch.size", items.Length);
        var trace = TraceContext.Capture(activity ?? Activity.Current);
        var request = new BatchRequest { Tasks = items!, Options = options, TraceParent = trace?.TraceParent, TraceState = trace?.TraceState, Baggage = trace?.Baggage };
        return await Unwrapped(grains.GetGrain<IBatchEnqueueGrain>(0).EnqueueManyAsync(request), cancellationToken);
    }

    public Task<DeferredTaskInfo?> GetAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).GetInfoAsync(), cancellationToken);

    public Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).RetryDeadAsync(), cancellationToken);

    public Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).CancelAsync(), cancellationToken);

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default) =>
        Unwrapped(Grain(taskId).DeleteAsync(), cancellationToken);

    public async Task ScheduleAsync<TTask>(string name, TTask task, DeferredSchedule schedule, CancellationToken cancellationToken = default)
    {
        if (task is null)
        {
            throw new ArgumentNullException(nameof(task), $"The task of schedule '{name}' is null.");
        }

        ArgumentNullException.ThrowIfNull(schedule);

        // Checked here (the cron syntax too), so bad input fails in the caller's process and nothing is sent or stored.
        _ = Scheduling.ScheduleSpec.Parse(name, schedule);
        cancellationToken.ThrowIfCancellationRequested();
        if (readiness is not null)
        {
            await readiness.WaitUntilActiveAsync(Options.EnqueueTimeout, time ?? TimeProvider.System, cancellationToken);
        }

        await grains.GetGrain<Scheduling.IScheduleGrain>(0).SaveAsync(new Scheduling.ScheduleRequest { Name = name, Task = task, Schedule = schedule }).WaitAsync(cancellationToken);
    }

    public Task<bool> UnscheduleAsync(string name, CancellationToken cancellationToken = default)
    {
        Scheduling.ScheduleSpec.ThrowIfBadName(name);
        return grains.GetGrain<Scheduling.IScheduleGrain>(0).RemoveAsync(name).WaitAsync(cancellationToken);
    }

    private DeferredOptions Options => options?.Value ?? new DeferredOptions();

    private static Task<T> Unwrapped<T>(Task<T> call, CancellationToken cancellationToken) => StoreFailures.UnwrapActivationFailureAsync(call, cancellationToken);

    /// <summary>An Orleans client's margin over <see cref="DeferredOptions.EnqueueTimeout"/> for an enqueue call.</summary>
    internal static readonly TimeSpan ClientMargin = TimeSpan.FromSeconds(1);

    private async Task<DeferredEnqueueResult> Bounded(Task<DeferredEnqueueResult> call, string taskId, CancellationToken cancellationToken)
    {
        var bound = Options.EnqueueTimeout + ClientMargin;
        try
        {
            return await Unwrapped(call.WaitAsync(bound, time ?? TimeProvider.System, cancellationToken), cancellationToken);
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            // The call itself ends at Orleans' response timeout; its failure then is nobody's to observe.
            _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw new DeferredStoreUnavailableException(taskId, bound, noAnswer: true);
        }
    }

    private IDeferredTaskGrain Grain(string taskId)
    {
        if (DeferredTaskId.Validate(taskId) is { } problem)
        {
            throw new ArgumentException($"Task id {DeferredTaskId.Quoted(taskId)} is not valid: {problem}.", nameof(taskId));
        }

        return references.Task(taskId);
    }
}
