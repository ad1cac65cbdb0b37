using Deferred.Cluster;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.TaskGrain;

/// <summary>
/// The silo-wide services every task activation uses, in one object: an activation holds one reference instead of a
/// dozen (there are as many activations as tasks in flight).
/// </summary>
internal sealed class TaskGrainContext(
    IDeferredTaskStore store,
    TaskRunner runner,
    ExecutionGate gate,
    TaskTypeRegistry registry,
    Serializer serializer,
    IOptions<DeferredOptions> options,
    TimeProvider time,
    SiloIdentity silo,
    LocalTasks local,
    StoreResilience resilience,
    OrderingTurns ordering,
    ConcurrencyLimits limits,
    AttemptProgress progress,
    CarriedRequestContext carried,
    AdoptedTasks adopted,
    NewTaskFactory newTasks,
    ILogger<DeferredTaskGrain> logger)
{
    /// <summary>Tasks just claimed from a silo that went away: watched from their first attempt here.</summary>
    public AdoptedTasks Adopted { get; } = adopted;

    public NewTaskFactory NewTasks { get; } = newTasks;

    public IDeferredTaskStore Store { get; } = store;

    public TaskRunner Runner { get; } = runner;

    public ExecutionGate Gate { get; } = gate;

    public TaskTypeRegistry Registry { get; } = registry;

    public Serializer Serializer { get; } = serializer;

    public DeferredOptions Options { get; } = options.Value;

    public TimeProvider Time { get; } = time;

    public LocalTasks Local { get; } = local;

    public StoreResilience Resilience { get; } = resilience;

    public ILogger Logger { get; } = logger;

    /// <summary>Turns of ordering keys: whether a keyed task may start.</summary>
    public OrderingTurns Ordering { get; } = ordering;

    /// <summary>The per-type concurrency limits an attempt waits for before its start permit.</summary>
    public ConcurrencyLimits Limits { get; } = limits;

    /// <summary>The progress reports of the attempts running here.</summary>
    public AttemptProgress Progress { get; } = progress;

    /// <summary>The RequestContext entries stored with a task at enqueue.</summary>
    public CarriedRequestContext Carried { get; } = carried;

    /// <summary>This silo as a task owner.</summary>
    public string Me => silo.Owner;

    /// <summary>Now, at the microsecond precision PostgreSQL stores, so memory and row always agree.</summary>
    public DateTimeOffset Now => Timestamps.Microseconds(Time.GetUtcNow());

    /// <summary>The one wake-up <paramref name="record"/> waits on, as of now.</summary>
    public WakePlan PlanWakeup(TaskRecord? record) => WakePlan.For(record, Time.GetUtcNow(), Options.TimerThreshold, Store.FarWakeup);
}
