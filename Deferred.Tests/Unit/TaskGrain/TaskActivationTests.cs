using System.Net;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.TaskGrain;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// The task grain's decider, <see cref="TaskActivation"/>, without Orleans' runtime or a database: one test per command
/// in a phase, against an in-memory row with ETags (<see cref="MemoryRow"/>), a <see cref="FakeTimeProvider"/>, and a
/// shell that records the timer, reminder and wake-up effects it is asked for. The integration tests stay as the net.
/// </summary>
public sealed class TaskActivationTests : IDisposable
{
    private readonly Harness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task Enqueue_of_a_new_task_stores_its_row_and_arms_the_due_timer_at_once()
    {
        var task = await _h.ActivateAsync();
        var result = await task.EnqueueAsync(_h.NewTask());

        Assert.True(result.Created);
        Assert.Equal(DeferredTaskStatus.Pending, _h.Row.Record!.Status);
        Assert.Equal(1, _h.Row.Writes);
        Assert.IsType<TaskPhase.Due>(task.Phase);
        Assert.NotNull(((TaskPhase.Due)task.Phase).Announced);
        Assert.Equal([TimeSpan.Zero], _h.Shell.Armed);
    }

    [Fact]
    public async Task A_repeated_enqueue_is_answered_from_the_committed_record_and_writes_nothing()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());

        var again = task.AnswerRepeatedEnqueue(_h.NewTask());

        Assert.NotNull(again);
        Assert.False(again.Created);
        Assert.Equal(1, _h.Row.Writes);
        Assert.Throws<DeferredTaskIdConflictException>(() => task.AnswerRepeatedEnqueue(_h.NewTask("other")));
    }

    [Fact]
    public async Task An_enqueue_that_loses_the_insert_race_answers_with_the_stored_task()
    {
        var task = await _h.ActivateAsync();
        _h.Row.WriteBehindTheActivation(_h.NewRecord() with { EnqueuedAt = _h.Now.AddSeconds(-1) });

        var result = await task.EnqueueAsync(_h.NewTask());

        Assert.False(result.Created);
        Assert.Equal(0, _h.Row.Writes);
        Assert.IsType<TaskPhase.Due>(task.Phase);
    }

    [Fact]
    public async Task A_task_due_within_the_threshold_waits_on_the_timer_for_its_run_time()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromSeconds(30)));

        Assert.Equal(TimeSpan.FromSeconds(30), Assert.Single(_h.Shell.Armed));
        Assert.Null(((TaskPhase.Due)task.Phase).Announced);
    }

    [Fact]
    public async Task A_far_task_on_the_default_store_holds_no_timer_and_no_reminder()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromHours(1)));

        Assert.IsType<TaskPhase.Idle>(task.Phase);
        Assert.False(task.HasTimer);
        Assert.Empty(_h.Shell.Armed);
        Assert.Empty(_h.Shell.Reminders);
        Assert.False(_h.Row.Record!.HasReminder);
    }

    [Fact]
    public async Task A_far_task_on_the_stock_store_gets_its_reminder_before_its_row_says_so()
    {
        using var stock = new Harness(DeferredStore.OrleansAdoNet);
        stock.Shell.Row = stock.Row;
        var task = await stock.ActivateAsync();
        await task.EnqueueAsync(stock.NewTask(delay: TimeSpan.FromHours(1)));

        var reminder = Assert.Single(stock.Shell.Reminders);
        Assert.Equal(TimeSpan.FromHours(1), reminder.DueIn);
        Assert.Null(reminder.RowThen);
        Assert.True(stock.Row.Record!.HasReminder);
        Assert.Equal(1, stock.Row.Writes);
        Assert.IsType<TaskPhase.Idle>(task.Phase);
    }

    [Fact]
    public async Task The_due_timer_runs_the_handler_once_and_a_success_deletes_the_row()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(1, _h.Handler.Calls);
        Assert.Null(_h.Row.Record);
        Assert.IsType<TaskPhase.Completed>(task.Phase);
        Assert.True(task.Handled);
        Assert.False(task.Busy);
    }

    [Fact]
    public async Task A_failure_with_attempts_left_stores_the_error_and_arms_the_timer_for_the_retry()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        _h.Handler.FailWith = new InvalidOperationException("boom");

        await task.OnTimerAsync(CancellationToken.None);

        var record = _h.Row.Record!;
        Assert.Equal(DeferredTaskStatus.Failed, record.Status);
        Assert.Equal(1, record.Attempts);
        Assert.Equal("boom", record.LastError!.Message);
        Assert.IsType<TaskPhase.Due>(task.Phase);
        Assert.Equal(Harness.RetryDelay, _h.Shell.Armed[^1]);
    }

    [Fact]
    public async Task A_failure_whose_write_loses_a_race_is_scheduled_from_the_row_read_again()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        _h.Handler.FailWith = new InvalidOperationException("boom");
        _h.Row.FailNext = new InconsistentStateException("another writer", "x", "y");

        await task.OnTimerAsync(CancellationToken.None);

        // The failure was not stored; the row (read again) is still pending and due, so the task is armed again.
        Assert.Equal(DeferredTaskStatus.Pending, _h.Row.Record!.Status);
        Assert.IsType<TaskPhase.Due>(task.Phase);
        Assert.Equal(2, _h.Shell.Armed.Count);
    }

    [Fact]
    public async Task A_failure_of_the_last_attempt_makes_the_task_dead_and_arms_nothing()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(maxAttempts: 1));
        _h.Handler.FailWith = new InvalidOperationException("boom");

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(DeferredTaskStatus.Dead, _h.Row.Record!.Status);
        Assert.IsType<TaskPhase.Idle>(task.Phase);
        Assert.Single(_h.Shell.Armed);
    }

    [Fact]
    public async Task A_cancel_while_running_signals_the_handler_and_the_cancel_edge_deletes_the_row_whatever_it_returned()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        _h.Handler.Gate = new TaskCompletionSource();

        var running = task.OnTimerAsync(CancellationToken.None);
        await _h.Handler.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.IsType<TaskPhase.AttemptInFlight>(task.Phase);
        Assert.True(task.Busy);
        Assert.NotNull(task.RunningSince);

        Assert.Equal(DeferredCancelOutcome.Signalled, task.SignalCancel());
        Assert.True(_h.Handler.Token.IsCancellationRequested);
        _h.Handler.Gate.SetResult();
        await running.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Null(_h.Row.Record);
        Assert.IsType<TaskPhase.Completed>(task.Phase);
        Assert.Equal(1, _h.Handler.Calls);
    }

    [Fact]
    public async Task A_cancel_of_a_waiting_task_cancels_its_timer_and_deletes_the_row()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromSeconds(30)));

        Assert.Null(task.SignalCancel());
        Assert.True(await task.OperateAsync(TaskLifecycle.Cancel));

        Assert.Null(_h.Row.Record);
        Assert.Equal(1, _h.Shell.TimerCancels);
        Assert.IsType<TaskPhase.Idle>(task.Phase);
        Assert.False(task.HasTimer);
    }

    [Fact]
    public async Task Run_now_moves_a_waiting_task_to_now_and_rearms_its_timer_at_once()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromSeconds(30)));

        Assert.True(await task.OperateAsync((current, busy) => TaskLifecycle.RunNow(current, busy, "me", _h.Now)));

        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.Zero], _h.Shell.Armed);
        Assert.Equal(1, _h.Shell.TimerCancels);
        Assert.Equal(2, _h.Row.Writes);
    }

    [Fact]
    public async Task Retry_of_a_dead_task_gives_fresh_attempts_and_a_purge_then_finds_it_not_dead()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(maxAttempts: 1));
        _h.Handler.FailWith = new InvalidOperationException("boom");
        await task.OnTimerAsync(CancellationToken.None);

        Assert.True(await task.OperateAsync((current, _) => TaskLifecycle.RetryDead(current, "me", _h.Now)));
        Assert.False(await task.OperateAsync((current, _) => TaskLifecycle.PurgeDead(current)));

        Assert.Equal(DeferredTaskStatus.Pending, _h.Row.Record!.Status);
        Assert.Equal(0, _h.Row.Record.Attempts);
        Assert.IsType<TaskPhase.Due>(task.Phase);
    }

    [Fact]
    public async Task A_delete_that_does_not_land_is_retried_on_the_timer_and_the_handler_never_again()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        _h.Row.FailNext = new InvalidOperationException("the delete failed");

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(new TaskPhase.Recording(task.RunningSince!.Value, Cancelled: false, Retrying: true), task.Phase);
        Assert.True(task.Busy);
        Assert.Equal(TimeSpan.FromSeconds(10), _h.Shell.Armed[^1]);
        Assert.NotNull(_h.Row.Record);

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Null(_h.Row.Record);
        Assert.IsType<TaskPhase.Completed>(task.Phase);
        Assert.Equal(1, _h.Handler.Calls);
    }

    [Fact]
    public async Task A_watched_start_whose_marker_is_not_stored_backs_off_then_runs_once_the_store_answers()
    {
        using var watched = new Harness(watchEveryAttempt: true);
        var task = await watched.ActivateAsync();
        await task.EnqueueAsync(watched.NewTask());
        watched.Row.FailNext = new InvalidOperationException("the marker failed");

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(new TaskPhase.BackingOff(1), task.Phase);
        Assert.Equal(0, watched.Handler.Calls);
        Assert.Null(watched.Row.Record!.RunningSince);

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(1, watched.Handler.Calls);
        Assert.Null(watched.Row.Record);
    }

    [Fact]
    public async Task An_activation_that_finds_an_in_flight_marker_counts_an_interruption_and_schedules_the_task()
    {
        _h.Row.WriteBehindTheActivation(_h.NewRecord() with { RunningSince = _h.Now.AddMinutes(-1), Owner = "gone" });

        var task = await _h.ActivateAsync();

        Assert.Equal(1, _h.Row.Record!.Interruptions);
        Assert.Null(_h.Row.Record.RunningSince);
        Assert.IsType<TaskPhase.Due>(task.Phase);
    }

    [Fact]
    public async Task A_task_whose_payload_cannot_be_read_becomes_dead_without_its_handler()
    {
        _h.Row.WriteBehindTheActivation(_h.NewRecord() with { Payload = [1, 2, 3] });
        var task = await _h.ActivateAsync();

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(DeferredTaskStatus.Dead, _h.Row.Record!.Status);
        Assert.Equal(0, _h.Handler.Calls);
        Assert.IsType<TaskPhase.Idle>(task.Phase);
    }

    [Fact]
    public async Task A_timer_that_fires_early_does_not_start_the_attempt_and_arms_again()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromSeconds(30)));
        _h.Time.Advance(TimeSpan.FromSeconds(10));

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(0, _h.Handler.Calls);
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(20)], _h.Shell.Armed);
        Assert.IsType<TaskPhase.Due>(task.Phase);
    }

    [Fact]
    public async Task A_keyed_task_whose_key_is_held_waits_on_the_key_backoff_and_looks_again_at_once_when_woken()
    {
        using var keyed = new Harness(orderingKeys: new ScriptedKeys(held: true));
        var task = await keyed.ActivateAsync();
        await task.EnqueueAsync(keyed.NewTask(orderingKey: "order-7"));

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(new TaskPhase.KeyWait(1), task.Phase);
        Assert.InRange(keyed.Shell.Armed[^1], TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(50));
        Assert.Equal(["t-1"], keyed.Context.Ordering.WaitingFor("order-7"));
        Assert.Equal(0, keyed.Handler.Calls);

        // A task of the key ended on this silo: look again now.
        task.OnKeyReleased();
        Assert.Equal(TimeSpan.Zero, keyed.Shell.Armed[^1]);
        Assert.Equal(1, keyed.Shell.TimerCancels);

        keyed.Keys.Held = false;
        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(1, keyed.Handler.Calls);
        Assert.Null(keyed.Row.Record);
        Assert.Empty(keyed.Context.Ordering.WaitingFor("order-7"));
        Assert.Equal([("order-7", "t-1")], keyed.Keys.Released);
    }

    [Fact]
    public async Task The_delete_of_a_keyed_task_wakes_the_tasks_of_its_key_waiting_on_this_silo()
    {
        using var keyed = new Harness(orderingKeys: new ScriptedKeys(held: false));
        var task = await keyed.ActivateAsync();
        await task.EnqueueAsync(keyed.NewTask(orderingKey: "order-7"));
        keyed.Context.Ordering.Wait("order-7", "t-2");

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(["t-2"], keyed.Shell.Woken);
    }

    [Fact]
    public async Task An_adopted_task_is_watched_its_start_stores_the_in_flight_marker_and_the_outcome_clears_it()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        task.Adopt();
        _h.Handler.Gate = new TaskCompletionSource();

        var running = task.OnTimerAsync(CancellationToken.None);
        await _h.Handler.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.NotNull(_h.Row.Record!.RunningSince);
        Assert.Equal(2, _h.Row.Writes);
        _h.Handler.Gate.SetResult();
        await running.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(_h.Row.Record);
    }

    [Fact]
    public async Task A_resume_of_a_row_that_could_not_be_read_stores_it_dead_with_the_reason()
    {
        var unreadable = new DeferredTaskError { Type = "RowUnreadable", Message = "the row could not be read", Attempt = 0, At = _h.Now };
        _h.Row.WriteBehindTheActivation(_h.NewRecord() with { ReadFailure = unreadable });
        var task = await _h.ActivateAsync();

        Assert.False(await task.ResumeAsync());

        Assert.Equal(DeferredTaskStatus.Dead, _h.Row.Record!.Status);
        Assert.Equal("RowUnreadable", _h.Row.Record.LastError!.Type);
        Assert.Equal(0, _h.Handler.Calls);
    }

    [Fact]
    public async Task A_reminder_tick_that_finds_a_dead_task_drops_its_reminder_and_unparks_the_row()
    {
        using var stock = new Harness(DeferredStore.OrleansAdoNet);
        stock.Row.WriteBehindTheActivation(stock.NewRecord() with { Status = DeferredTaskStatus.Dead, HasReminder = true });
        var task = await stock.ActivateAsync();

        await task.OnReminderAsync();

        Assert.Equal(1, stock.Shell.Unregistered);
        Assert.False(stock.Row.Record!.HasReminder);
        Assert.Equal(DeferredTaskStatus.Dead, stock.Row.Record.Status);
    }

    [Fact]
    public async Task A_reminder_tick_for_a_live_task_that_came_due_arms_its_timer()
    {
        using var stock = new Harness(DeferredStore.OrleansAdoNet);
        var task = await stock.ActivateAsync();
        await task.EnqueueAsync(stock.NewTask(delay: TimeSpan.FromHours(1)));
        stock.Time.Advance(TimeSpan.FromHours(1));

        await task.OnReminderAsync();

        Assert.Equal([TimeSpan.Zero], stock.Shell.Armed);
        Assert.IsType<TaskPhase.Due>(task.Phase);
        Assert.Equal(0, stock.Shell.Unregistered);
    }

    [Fact]
    public async Task A_due_timer_on_a_stopping_silo_leaves_the_row_as_it_is_and_arms_nothing()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        var before = _h.Row.Record;
        _h.Context.Gate.BeginStop();

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(0, _h.Handler.Calls);
        Assert.Same(before, _h.Row.Record);
        Assert.Single(_h.Shell.Armed);
        Assert.False(task.HasTimer);
    }

    [Fact]
    public async Task A_cancel_while_the_delete_is_retried_makes_the_retry_the_cancel_edge()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask());
        _h.Row.FailNext = new InvalidOperationException("the delete failed");
        await task.OnTimerAsync(CancellationToken.None);

        Assert.Equal(DeferredCancelOutcome.Signalled, task.SignalCancel());
        Assert.True(((TaskPhase.Recording)task.Phase).Cancelled);

        await task.OnTimerAsync(CancellationToken.None);

        Assert.Null(_h.Row.Record);
        Assert.IsType<TaskPhase.Completed>(task.Phase);
        Assert.Equal(1, _h.Handler.Calls);
    }

    [Fact]
    public async Task An_enqueue_whose_insert_outlives_its_window_is_verified_and_a_late_commit_is_scheduled()
    {
        var task = await _h.ActivateAsync();
        _h.Row.FailAll = new TimeoutException("the database does not answer");

        // The enqueue window runs on the fake clock: it is moved on until the window has closed.
        var enqueue = task.EnqueueAsync(_h.NewTask());
        for (var step = 0; !enqueue.IsCompleted && step < 1_000; step++)
        {
            _h.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Yield();
        }

        await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() => enqueue);
        Assert.Equal(new TaskPhase.Verifying(0), task.Phase);
        Assert.Equal(TimeSpan.FromSeconds(1), _h.Shell.Armed[^1]);

        // Still unreachable when the verification timer fires: it looks again, with the Claim backoff.
        _h.Row.FailReads = true;
        await task.OnTimerAsync(CancellationToken.None);
        Assert.Equal(new TaskPhase.Verifying(1), task.Phase);

        // The store answers, and the insert had committed after all: the task is scheduled, not stranded.
        _h.Row.FailAll = null;
        _h.Row.FailReads = false;
        _h.Row.WriteBehindTheActivation(_h.NewRecord());
        await task.OnTimerAsync(CancellationToken.None);

        Assert.IsType<TaskPhase.Due>(task.Phase);
        Assert.Equal(TimeSpan.Zero, _h.Shell.Armed[^1]);
    }

    [Fact]
    public async Task A_delete_removes_a_dead_task_and_a_waiting_one_with_its_timer()
    {
        var task = await _h.ActivateAsync();
        await task.EnqueueAsync(_h.NewTask(delay: TimeSpan.FromSeconds(30)));

        Assert.True(await task.OperateAsync(TaskLifecycle.Delete));
        Assert.Null(_h.Row.Record);
        Assert.Equal(1, _h.Shell.TimerCancels);

        _h.Row.WriteBehindTheActivation(_h.NewRecord() with { Status = DeferredTaskStatus.Dead });
        var dead = await _h.ActivateAsync();
        Assert.True(await dead.OperateAsync(TaskLifecycle.Delete));
        Assert.Null(_h.Row.Record);
        Assert.False(await dead.OperateAsync(TaskLifecycle.Delete));
    }

    /// <summary>The decider's world: real services from Deferred's own registration, fake time, in-memory row and shell.</summary>
    private sealed class Harness : IDisposable
    {
        public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

        private readonly ServiceProvider _services;

        public Harness(DeferredStore store = DeferredStore.Postgres, bool watchEveryAttempt = false, ScriptedKeys? orderingKeys = null)
        {
            Keys = orderingKeys ?? new ScriptedKeys(held: false);
            var services = new ServiceCollection();
            services.AddSingleton<TimeProvider>(Time);
            services.AddLogging();
            services.AddSerializer();
            services.AddSingleton<ILocalSiloDetails>(new LocalSilo());
            services.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("unit", "unit"));
            services.AddSingleton(Handler);
            new TestSiloBuilder(services).AddDeferredTasks(o =>
            {
                // Nothing here opens a connection: the row is in memory and no test uses an ordering key.
                o.ConnectionString = "Host=127.0.0.1;Port=9;Database=none";
                o.Store = store;
                o.RetryBackoff = _ => RetryDelay;
                o.WatchEveryAttempt = watchEveryAttempt;
            });
            services.AddDeferredTaskHandler<DeciderPing, DeciderPingHandler>();

            // Ordering keys from a script instead of the database (registered last, so it wins).
            services.AddSingleton(sp => new OrderingTurns(new KeyedStore(sp.GetRequiredService<Deferred.Storage.IDeferredTaskStore>(), Keys), sp.GetRequiredService<Deferred.Storage.Resilience.StoreResilience>()));
            _services = services.BuildServiceProvider();
            Context = _services.GetRequiredService<TaskGrainContext>();
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 8, 9, 0, 0, TimeSpan.Zero));

        public DateTimeOffset Now => Timestamps.Microseconds(Time.GetUtcNow());

        public MemoryRow Row { get; } = new();

        public RecordingShell Shell { get; } = new();

        public PingHandlerControl Handler { get; } = new();

        public ScriptedKeys Keys { get; }

        internal TaskGrainContext Context { get; }

        internal async Task<TaskActivation> ActivateAsync(string id = "t-1")
        {
            var state = new MemoryState(Row);
            await state.ReadStateAsync();
            var activation = new TaskActivation(id, new StoredTask(state, Context.Resilience, id), Context, Shell);
            await activation.ActivateAsync();
            return activation;
        }

        internal NewTask NewTask(string name = "ping", TimeSpan? delay = null, int? maxAttempts = null, string? orderingKey = null) => EnqueueRequests.Validate(
            "t-1",
            new DeferredEnqueueRequest { Task = new DeciderPing(name), Options = new DeferredEnqueueOptions { Delay = delay, MaxAttempts = maxAttempts, OrderingKey = orderingKey } },
            Context.NewTasks,
            Now,
            Context.Store);

        internal TaskRecord NewRecord() => TaskLifecycle.Enqueue(null, NewTask(), "someone", Now).After!;

        public void Dispose() => _services.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private sealed class LocalSilo : ILocalSiloDetails
    {
        public string Name => "unit";

        public string ClusterId => "unit";

        public string DnsHostName => "localhost";

        public SiloAddress SiloAddress { get; } = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 1);

        public SiloAddress GatewayAddress => SiloAddress;
    }
}

/// <summary>Ordering keys the test scripts: held or free, and which keys were given back.</summary>
internal sealed class ScriptedKeys(bool held) : Deferred.Storage.IOrderingKeys
{
    public bool Held { get; set; } = held;

    public List<(string Key, string TaskId)> Released { get; } = [];

    public Task<bool> TryTakeAsync(string key, string taskId, CancellationToken cancellationToken) => Task.FromResult(!Held);

    public Task ReleaseAsync(string key, string taskId)
    {
        Released.Add((key, taskId));
        return Task.CompletedTask;
    }
}

/// <summary>The selected store, with its ordering keys replaced by a script.</summary>
internal sealed class KeyedStore(Deferred.Storage.IDeferredTaskStore inner, Deferred.Storage.IOrderingKeys keys) : Deferred.Storage.IDeferredTaskStore
{
    public string Name => inner.Name;

    public Orleans.Storage.IGrainStorage GrainStorage => inner.GrainStorage;

    public Deferred.Storage.IDeferredTaskCatalog Catalog => inner.Catalog;

    public FarWakeup FarWakeup => inner.FarWakeup;

    public Deferred.Storage.IDueTaskSource? DueTasks => inner.DueTasks;

    public Deferred.Storage.IDirectTaskInserter? DirectInsert => inner.DirectInsert;

    public Deferred.Storage.INewTaskSignal? NewTasks => inner.NewTasks;

    public Deferred.Storage.IOrderingKeys? OrderingKeys => keys;

    public int? Backlog => inner.Backlog;

    public Deferred.Storage.ICompletedTaskIds? CompletedIds => inner.CompletedIds;

    public Deferred.Storage.IAttemptTransactions? Transactions => inner.Transactions;

    public void NoteNewTaskId(string taskId) => inner.NoteNewTaskId(taskId);
}

/// <summary>The "database" of one task: its row and ETag, shared by the activations that load it.</summary>
internal sealed class MemoryRow
{
    public TaskRecord? Record { get; private set; }

    public string? Etag { get; private set; }

    /// <summary>Writes that landed (inserts, updates, deletes) through an activation.</summary>
    public int Writes { get; private set; }

    /// <summary>Thrown by the next write or delete, once.</summary>
    public Exception? FailNext { get; set; }

    /// <summary>Thrown by every write or delete while set (a database that does not answer).</summary>
    public Exception? FailAll { get; set; }

    /// <summary>Reads fail while set.</summary>
    public bool FailReads { get; set; }

    /// <summary>Another writer (another silo, a SQL sweep) changes the row: the activation's ETag goes stale.</summary>
    public void WriteBehindTheActivation(TaskRecord? record)
    {
        Record = record;
        Etag = record is null ? null : Guid.NewGuid().ToString("N");
    }

    public string? Write(TaskRecord? record, string? expected)
    {
        if (FailNext is { } failure)
        {
            FailNext = null;
            throw failure;
        }

        if (FailAll is { } down)
        {
            throw down;
        }

        if (expected != Etag)
        {
            throw new InconsistentStateException("version conflict", Etag, expected);
        }

        Writes++;
        WriteBehindTheActivation(record);
        return Etag;
    }
}

/// <summary>Orleans' persistent state over a <see cref="MemoryRow"/>, with its ETag semantics.</summary>
internal sealed class MemoryState(MemoryRow row) : IPersistentState<TaskRecord>
{
    public TaskRecord State { get; set; } = null!;

    public string? Etag { get; private set; }

    public bool RecordExists { get; private set; }

    public Task ReadStateAsync()
    {
        if (row.FailReads)
        {
            return Task.FromException(new TimeoutException("the database does not answer"));
        }

        (State, Etag, RecordExists) = (row.Record!, row.Etag, row.Record is not null);
        return Task.CompletedTask;
    }

    public Task WriteStateAsync()
    {
        Etag = row.Write(State, Etag);
        RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync()
    {
        Etag = row.Write(null, Etag);
        RecordExists = false;
        return Task.CompletedTask;
    }
}

/// <summary>The effects the decider asked for, in order.</summary>
internal sealed class RecordingShell : ITaskShell
{
    public List<TimeSpan> Armed { get; } = [];

    public int TimerCancels { get; private set; }

    public List<(TimeSpan DueIn, TaskRecord? RowThen)> Reminders { get; } = [];

    public int Unregistered { get; private set; }

    public List<string> Woken { get; } = [];

    /// <summary>Set to see the row as it was when a reminder was registered.</summary>
    public MemoryRow? Row { get; set; }

    public void ArmTimer(TimeSpan dueIn) => Armed.Add(dueIn);

    public void CancelTimer() => TimerCancels++;

    public Task RegisterReminderAsync(TimeSpan dueIn)
    {
        Reminders.Add((dueIn, Row?.Record));
        return Task.CompletedTask;
    }

    public Task UnregisterReminderAsync()
    {
        Unregistered++;
        return Task.CompletedTask;
    }

    public void Wake(string taskId) => Woken.Add(taskId);
}

[GenerateSerializer, Alias("deferred.tests.decider-ping")]
public sealed record DeciderPing([property: Id(0)] string Name);

/// <summary>What the test's handler does: count calls, optionally wait on a gate, optionally throw.</summary>
public sealed class PingHandlerControl
{
    private int _calls;

    public int Calls => _calls;

    public Exception? FailWith { get; set; }

    public TaskCompletionSource? Gate { get; set; }

    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CancellationToken Token { get; private set; }

    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        Token = cancellationToken;
        Entered.TrySetResult();
        if (Gate is { } gate)
        {
            await gate.Task;
        }

        if (FailWith is { } failure)
        {
            throw failure;
        }
    }
}

public sealed class DeciderPingHandler(PingHandlerControl control) : IDeferredTaskHandler<DeciderPing>
{
    public Task ExecuteAsync(DeciderPing task, DeferredTaskContext context, CancellationToken cancellationToken) => control.RunAsync(cancellationToken);
}
