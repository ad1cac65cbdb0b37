using Orleans;

namespace Deferred;

/// <summary>Silo-side settings for Deferred. Bound from the <c>Deferred</c> configuration section by the sample host.</summary>
public sealed class DeferredOptions
{
    /// <summary>The configuration section the sample host binds.</summary>
    public const string SectionName = "Deferred";

    /// <summary>
    /// The PostgreSQL connection string (Npgsql syntax). Required. Task state, reminders and the recovery scan
    /// share one <c>NpgsqlDataSource</c> built from it, so one pool serves them all.
    /// </summary>
    [Redact]
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Where task rows live. <see cref="DeferredStore.Postgres"/> (default): Deferred's own table with group commit.
    /// <see cref="DeferredStore.OrleansAdoNet"/>: the stock Orleans ADO.NET grain storage (<c>orleansstorage</c>),
    /// one round trip per operation.
    /// </summary>
    public DeferredStore Store { get; set; } = DeferredStore.Postgres;

    /// <summary>
    /// The most store operations (reads, inserts, updates, deletes of task rows) sent and committed together.
    /// Default 512. Larger batches mean fewer commits per task under load; each batch is one transaction.
    /// Only for <see cref="DeferredStore.Postgres"/>.
    /// </summary>
    public int StoreMaxBatchSize { get; set; } = 512;

    /// <summary>
    /// How long a batch may wait for more operations while another batch is already in flight. Default 1 ms.
    /// An idle store never waits. Longer gathers bigger batches at the cost of latency.
    /// </summary>
    public TimeSpan StoreBatchLinger { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// How many batches may be in flight at once (each on its own connection). Default 4. More overlaps
    /// commits (fsyncs) and round trips; the pool must allow at least this many connections.
    /// </summary>
    public int StoreMaxBatchesInFlight { get; set; } = 4;

    /// <summary>
    /// Attempts a task gets when its enqueue does not say (first run plus retries). Default 21: one run and
    /// 20 retries, like Rage::Deferred. At least 1.
    /// </summary>
    public int DefaultMaxAttempts { get; set; } = 21;

    /// <summary>
    /// The default wait before retry number n (n = 1 after the first failure). Null uses the polynomial schedule
    /// n^4 + 10 + random(0..14)·n seconds (about 11 s, 26 s, 1.5 min, ... 44 h at n = 20). A per-type
    /// <see cref="IDeferredRetryPolicy{TTask}"/> overrides it.
    /// </summary>
    public Func<int, TimeSpan>? RetryBackoff { get; set; }

    /// <summary>
    /// How many task attempts may run at once on one silo. Default 100. Higher lets more slow I/O handlers overlap;
    /// lower protects the database and downstream services. Tasks beyond it wait their turn in memory.
    /// </summary>
    public int MaxConcurrentTasks { get; set; } = 100;

    /// <summary>
    /// A task due further ahead than this lets its activation go and is woken later: by the due-time poller
    /// (<see cref="DeferredStore.Postgres"/>) or by a durable Orleans reminder (<see cref="DeferredStore.OrleansAdoNet"/>,
    /// two extra database writes per task). Nearer tasks wait on an in-memory timer. Default 1 minute.
    /// </summary>
    public TimeSpan TimerThreshold { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The period of a waiting task's reminder. It only matters if a tick is lost: the reminder fires again
    /// this much later. Default 5 minutes; must be at least Orleans' <c>ReminderOptions.MinimumReminderPeriod</c>.
    /// </summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// With <see cref="DeferredStore.Postgres"/>: how often the silo looks for stored tasks whose run time has come
    /// within <see cref="TimerThreshold"/>, to wake them. Default 10 seconds; must be shorter than
    /// <see cref="TimerThreshold"/>. Far tasks then cost a row and nothing else: no activation, timer or reminder.
    /// </summary>
    public TimeSpan DuePollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Sweep for orphaned tasks when the silo becomes active (startup recovery: the tasks of this silo's previous
    /// run, and of any silo that went away) and then every <see cref="SweepInterval"/>. Default true.
    /// </summary>
    public bool RecoverOnStartup { get; set; } = true;

    /// <summary>Task ids read per recovery query. Default 500. Bounds memory and the length of one query.</summary>
    public int RecoveryPageSize { get; set; } = 500;

    /// <summary>
    /// How many resume calls the recovery scan and the due-time poller make in parallel. Default 64. Each call
    /// activates a task and reads its row, so this bounds how fast a backlog is taken up (measured: 16 parallel
    /// resumes recovered about 3,300 tasks/s); <see cref="RecoveryMaxBacklog"/> still bounds how much runs at once.
    /// </summary>
    public int RecoveryConcurrency { get; set; } = 64;

    /// <summary>
    /// The recovery scan pauses while this many due tasks are queued or running on the silo, so a large backlog
    /// is fed in at the speed it drains rather than all at once. Default 1,000.
    /// </summary>
    public int RecoveryMaxBacklog { get; set; } = 1_000;

    /// <summary>
    /// How long a finished attempt keeps retrying the write that records its outcome (delete on success, the
    /// error on failure) while the database is unreachable, before giving up and leaving the task to run
    /// again later. Default 1 minute.
    /// </summary>
    public TimeSpan StoreRetryTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long <see cref="IDeferredTasks.EnqueueAsync{TTask}"/> keeps trying to commit a task while the database is
    /// unreachable before it gives up with <see cref="DeferredStoreUnavailableException"/>. Default 5 seconds:
    /// callers learn about an outage quickly and nothing is acknowledged that is not stored.
    /// </summary>
    public TimeSpan EnqueueTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one attempt may run before its <see cref="CancellationToken"/> is cancelled and the attempt counts as
    /// failed (error type <c>Deferred.Timeout</c>). Default 10 minutes. A handler registration can set its own
    /// (<c>AddDeferredTaskHandler&lt;TTask, THandler&gt;(timeout: ...)</c>). A handler that ignores the token is
    /// abandoned <see cref="AbandonAfter"/> later: its attempt is recorded as failed and its slot freed.
    /// </summary>
    public TimeSpan DefaultTaskTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// After a handler's token is cancelled (timeout or shutdown), how long Deferred waits for it to return before
    /// it stops waiting. Default 5 seconds.
    /// </summary>
    public TimeSpan AbandonAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A silo that is asked to stop starts no new attempt and gives running ones this long to finish; then it
    /// cancels their tokens. Whatever did not finish stays stored and resumes on another silo or at the next start.
    /// Default 20 seconds; keep it, plus <see cref="AbandonAfter"/>, under the host's shutdown timeout.
    /// </summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Quarantine a task as dead (error type <c>Deferred.Quarantined</c>) once an attempt of it has been found in
    /// flight after its silo went away this many times, so a task that keeps crashing its silo does not crash-loop
    /// the cluster. Default 3; 0 turns quarantine off. Finding an attempt in flight needs a marker stored before the
    /// handler starts, one more row write per attempt; by default only <em>watched</em> tasks pay it: tasks adopted
    /// from a silo that went away, and tasks interrupted before. The crash that first orphans a task is therefore not
    /// counted: a task that crashes every silo it runs on is quarantined at crash K + 1. See
    /// <see cref="WatchEveryAttempt"/>.
    /// </summary>
    public int QuarantineAfterInterruptions { get; set; } = 3;

    /// <summary>
    /// How many times a handler may snooze one task (<see cref="DeferredSnoozeException"/>: run again later without the
    /// attempt counting). The snooze beyond it counts as a failed attempt (error type <c>Deferred.SnoozeLimit</c>) and
    /// goes to the retry policy, so no task snoozes forever. Default 100; 0 makes every snooze a failure. An operator's
    /// retry of a dead task resets the count.
    /// </summary>
    public int MaxSnoozes { get; set; } = 100;

    /// <summary>
    /// Store the in-flight marker before every attempt, not only for watched tasks, so that the first crash is
    /// counted too. Default false: the marker is a row write per attempt, which measured about half of the
    /// default store's peak throughput with no-op tasks (docs/performance.md).
    /// </summary>
    public bool WatchEveryAttempt { get; set; }

    /// <summary>
    /// Keep task grains out of Orleans' grain directory cache. Default true: Orleans leaves a cache entry behind for
    /// every deactivated grain (up to <c>GrainDirectoryOptions.CacheSize</c>, a million by default), so each completed
    /// task held about 340 bytes until the cache was full. Applied only while the silo's directory cache strategy is
    /// the default LRU and no other <c>IGrainDirectoryCache</c> is registered; every other grain type is cached as
    /// before. See docs/operations.md.
    /// </summary>
    public bool SkipDirectoryCacheForTasks { get; set; } = true;

    /// <summary>
    /// How often each silo looks for tasks whose silo has gone (orphans) and adopts them. Default 30 seconds. A
    /// silo also sweeps at once when the cluster declares a silo dead, so this is only the backstop.
    /// </summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest stored stack trace, in characters. Default 4,000.</summary>
    public int MaxStoredStackTraceLength { get; set; } = 4_000;

    /// <summary>
    /// Apply the embedded migrations when the silo starts, before it checks the schema (under the migrator's advisory
    /// lock, so silos starting together wait for each other; each migration in its own transaction). Default false:
    /// then the database must be migrated beforehand (<c>DeferredSchema.MigrateAsync</c> in a deployment step, the
    /// <c>migrate</c> command, or the SQL of <c>DeferredSchema.Script()</c> applied by a DBA), and the silo's role needs
    /// no DDL rights. On, the silo's role must be allowed to create and alter tables: convenient for development and
    /// small deployments, a wider grant than running needs.
    /// </summary>
    public bool ApplyMigrationsOnStart { get; set; }

    /// <summary>
    /// How long the default store remembers the id of a task whose caller chose it (<c>DeferredEnqueueOptions.TaskId</c>)
    /// after its row was deleted (completed, cancelled or deleted by an operator). An enqueue of that id meanwhile stores
    /// nothing and reports the task as <c>Completed</c>, so a caller that repeats an enqueue it saw fail (its gateway
    /// died, a timeout) after the task ran does not run it twice. Default 10 minutes; zero turns it off (then the id
    /// is free as soon as the row is gone). Costs a row insert in the same statement as the delete, only for
    /// caller-chosen ids. The stock store does not remember ids.
    /// </summary>
    public TimeSpan CompletedIdRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Concurrency limits per task type, keyed by the type's stored name (its <c>[Alias]</c> or full name, or the name
    /// given to <c>AddDeferredTaskHandler</c>). Empty by default: a type's attempts are bounded only by
    /// <see cref="MaxConcurrentTasks"/>. <c>AddDeferredConcurrencyLimit&lt;TTask&gt;</c> fills it from code; in
    /// configuration: <c>Deferred:ConcurrencyLimits:&lt;type name&gt;:PerSilo</c> and <c>…:Cluster</c>.
    /// </summary>
    public Dictionary<string, DeferredConcurrencyLimit> ConcurrencyLimits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Orleans <c>RequestContext</c> keys whose values travel with a task: read when it is enqueued (the enqueuing
    /// code's RequestContext), stored with it, and set again around every attempt (filters and handler see them).
    /// Empty by default (nothing is stored). Values must be Orleans-serializable, as RequestContext values already are.
    /// Silo-wide: every task carries the keys that are set when it is enqueued.
    /// </summary>
    public IList<string> CarriedRequestContextKeys { get; set; } = [];
}

/// <summary>
/// How many attempts of one task type may run at once. Each bound is optional; set both and both hold. Attempts over a
/// bound wait (in memory, without using an execution slot) until an attempt of the type ends.
/// </summary>
public sealed class DeferredConcurrencyLimit
{
    /// <summary>The most attempts of the type running at once on one silo. Null: no bound per silo.</summary>
    public int? PerSilo { get; set; }

    /// <summary>
    /// The most attempts of the type running at once in the whole cluster (every silo of the service). Held by leases
    /// in <c>deferred_concurrency_leases</c>: one database round trip to take a lease and one to give it back per
    /// attempt; a dead silo's leases are freed by the next sweep after membership declares it dead. Null: no bound.
    /// </summary>
    public int? Cluster { get; set; }
}

/// <summary>The task stores Deferred can run on.</summary>
public enum DeferredStore
{
    /// <summary>Deferred's own <c>deferred_tasks</c> table, with batched reads and writes (group commit).</summary>
    Postgres,

    /// <summary>The stock Orleans ADO.NET grain storage on the <c>orleansstorage</c> table.</summary>
    OrleansAdoNet,
}
