using Deferred.Lifecycle;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// The pure lifecycle: every edge of <see cref="TaskLifecycle"/> from every state, held to <see cref="LifecycleTable"/>.
/// Enums of the lifecycle are internal, so theory data carries their names.
/// </summary>
public sealed class TaskLifecycleTests
{
    private const string Me = "10.0.0.1:11111@1";
    private const string OtherSilo = "10.0.0.2:11111@1";

    /// <summary>A microsecond boundary; the clock starts 0.3 µs past it, so every stored time must round up.</summary>
    private static readonly DateTimeOffset Aligned = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly DeferredTaskError OldError = new() { Type = "System.InvalidOperationException", Message = "old", Attempt = 2 };
    private static readonly DeferredTaskError NewError = new() { Type = "System.TimeoutException", Message = "new", Attempt = 3 };

    private readonly FakeTimeProvider _time = new(Aligned.AddTicks(3));

    private DateTimeOffset Now => _time.GetUtcNow();

    /// <summary><see cref="Now"/> as stored: rounded up to the next microsecond.</summary>
    private static DateTimeOffset NowStored => Aligned.AddTicks(10);

    // ---- The table ----

    public static TheoryData<string, string, string> TableEdges()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var e in LifecycleTable.All)
        {
            data.Add(e.Edge.ToString(), e.From.ToString(), e.To.ToString());
        }

        return data;
    }

    public static TheoryData<string, string> StatesOutsideEachEdgesSources()
    {
        var data = new TheoryData<string, string>();
        foreach (var edge in Enum.GetValues<Edge>())
        {
            foreach (var state in Enum.GetValues<TaskState>())
            {
                if (!LifecycleTable.Sources(edge).Contains(state) && CanPresent(edge, state))
                {
                    data.Add(edge.ToString(), state.ToString());
                }
            }
        }

        return data;
    }

    /// <summary>Every refusal of an edge from a state outside its sources, with its text.</summary>
    public static TheoryData<string, string, string> Refusals() => new()
    {
        { "Enqueue", "Pending", "already stored" },
        { "Enqueue", "Failed", "already stored" },
        { "Enqueue", "Dead", "already stored" },
        { "Start", "None", "not stored" },
        { "Start", "Dead", "dead" },
        { "Succeed", "None", "not stored" },
        { "Succeed", "Dead", "not running" },
        { "Commit", "None", "not stored" },
        { "Commit", "Dead", "not running" },
        { "Snooze", "None", "not stored" },
        { "Snooze", "Dead", "not running" },
        { "Fail", "None", "not stored" },
        { "Fail", "Dead", "not running" },
        { "GiveUp", "None", "not stored" },
        { "GiveUp", "Dead", "not running" },
        { "Stop", "None", "not stored" },
        { "Stop", "Dead", "not running" },
        { "Unreadable", "None", "not stored" },
        { "Unreadable", "Dead", "dead" },
        { "Interrupted", "None", "not stored" },
        { "Interrupted", "Dead", "dead" },
        { "Quarantine", "None", "not stored" },
        { "Quarantine", "Dead", "dead" },
        { "RetryDead", "None", "not stored" },
        { "RetryDead", "Pending", "not dead" },
        { "RetryDead", "Failed", "not dead" },
        { "RunNow", "None", "not stored" },
        { "RunNow", "Running", "running" },
        { "RunNow", "Dead", "dead" },
        { "Delete", "None", "not stored" },
        { "Delete", "Running", "running" },
        { "Cancel", "None", "not stored" },
        { "Cancel", "Dead", "dead" },
        { "Adopt", "None", "not stored" },
        { "Adopt", "Dead", "dead" },
        { "Release", "None", "not stored" },
        { "Release", "Dead", "dead" },
        { "Park", "None", "not stored" },
        { "Park", "Dead", "dead" },
        { "Unpark", "None", "not stored" },
        { "Unpark", "Pending", "not dead" },
        { "Unpark", "Failed", "not dead" },
    };

    [Theory]
    [MemberData(nameof(TableEdges))]
    public void Every_edge_of_the_table_applies_from_its_source_and_lands_in_its_target(string edgeName, string fromName, string toName)
    {
        var edge = Enum.Parse<Edge>(edgeName);
        var from = Enum.Parse<TaskState>(fromName);
        var to = Enum.Parse<TaskState>(toName);

        // From Running, the stored status is what a stop falls back to.
        var (record, running) = In(from, runningAs: to == TaskState.Failed ? DeferredTaskStatus.Failed : DeferredTaskStatus.Pending);
        var (input, t) = Apply(edge, record, running);

        Assert.False(t.Refused, t.ToString());
        Assert.Equal(edge, t.Edge);
        Assert.Same(input, t.Before);
        Assert.Equal(to, LifecycleTable.StateOf(t.After, running: to == TaskState.Running));
    }

    [Theory]
    [MemberData(nameof(StatesOutsideEachEdgesSources))]
    public void Every_edge_is_refused_from_every_state_outside_its_sources(string edgeName, string stateName)
    {
        var edge = Enum.Parse<Edge>(edgeName);
        var (record, running) = In(Enum.Parse<TaskState>(stateName));

        var (_, t) = Apply(edge, record, running);

        Assert.True(t.Refused, t.ToString());
        AssertNothingChanges(t);
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public void A_refusal_names_why_the_edge_does_not_apply(string edgeName, string stateName, string why)
    {
        var edge = Enum.Parse<Edge>(edgeName);
        var (record, running) = In(Enum.Parse<TaskState>(stateName));

        var (_, t) = Apply(edge, record, running);

        Assert.Equal(why, t.Refusal);
        // Counting an interruption only becomes a quarantine once it applies: a refused one is an interrupted refused.
        Assert.Equal(edge == Edge.Quarantine ? Edge.Interrupted : edge, t.Edge);
        Assert.Equal($"{LifecycleTable.NameOf(t.Edge)} refused: {why}", t.ToString());
        AssertNothingChanges(t);
    }

    [Fact]
    public void The_refusal_texts_cover_exactly_the_refused_pairs_of_the_table()
    {
        var listed = Refusals().Select(row => ((string)row[0], (string)row[1])).Order().ToList();
        var refused = StatesOutsideEachEdgesSources().Select(row => ((string)row[0], (string)row[1])).Order().ToList();
        Assert.Equal(refused, listed);
    }

    [Theory]
    [MemberData(nameof(EdgesOtherThanEnqueue))]
    public void Every_edge_but_enqueue_is_refused_without_a_row(string edgeName)
    {
        var edge = Enum.Parse<Edge>(edgeName);
        foreach (var running in new[] { false, true })
        {
            var (_, t) = Apply(edge, null, running);
            Assert.Equal("not stored", t.Refusal);
            Assert.Null(t.Before);
            Assert.Null(t.After);
        }
    }

    public static TheoryData<string> EdgesOtherThanEnqueue() => new(Enum.GetValues<Edge>().Where(e => e != Edge.Enqueue).Select(e => e.ToString()));

    [Fact]
    public void Record_maps_every_attempt_result_to_its_edge_and_refuses_without_a_row()
    {
        foreach (var result in Enum.GetValues<AttemptResult>())
        {
            var t = TaskLifecycle.Record(null, new AttemptOutcome(result, NewError), Me);
            Assert.Equal("not stored", t.Refusal);
        }
    }

    [Fact]
    public void Diagram_names_are_kebab_case()
    {
        Assert.Equal("give-up", LifecycleTable.NameOf(Edge.GiveUp));
        Assert.Equal("retry-dead", LifecycleTable.NameOf(Edge.RetryDead));
        Assert.Equal("enqueue", LifecycleTable.NameOf(Edge.Enqueue));
        Assert.Equal("unpark", new LifecycleEdge(Edge.Unpark, TaskState.Dead, TaskState.Dead, "x").Name);
    }

    [Theory]
    [InlineData(null, false, "None")]
    [InlineData(null, true, "None")]
    [InlineData(DeferredTaskStatus.Pending, false, "Pending")]
    [InlineData(DeferredTaskStatus.Failed, false, "Failed")]
    [InlineData(DeferredTaskStatus.Dead, false, "Dead")]
    [InlineData(DeferredTaskStatus.Pending, true, "Running")]
    [InlineData(DeferredTaskStatus.Failed, true, "Running")]
    [InlineData(DeferredTaskStatus.Dead, true, "Dead")]
    public void The_state_of_a_record_counts_a_live_one_as_running_while_an_attempt_is_in_flight(DeferredTaskStatus? status, bool running, string state)
    {
        var record = status is { } s ? Stored(s) : null;
        Assert.Equal(Enum.Parse<TaskState>(state), LifecycleTable.StateOf(record, running));
    }

    // ---- enqueue ----

    [Fact]
    public void Enqueue_inserts_a_pending_record_with_times_rounded_up_to_microseconds()
    {
        var runAt = Aligned.AddMinutes(5).AddTicks(1);
        var t = TaskLifecycle.Enqueue(null, new NewTask("demo.task", [7, 8], 4, runAt), Me, Now);

        Assert.Equal(Edge.Enqueue, t.Edge);
        Assert.Null(t.Before);
        Assert.Equal(Write.Insert, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Null(t.Refusal);
        var r = t.After!;
        Assert.Equal("demo.task", r.TaskType);
        Assert.Equal(new byte[] { 7, 8 }, r.Payload);
        Assert.Equal(DeferredTaskStatus.Pending, r.Status);
        Assert.Equal(0, r.Attempts);
        Assert.Equal(4, r.MaxAttempts);
        Assert.Equal(NowStored, r.EnqueuedAt);
        Assert.Equal(Aligned.AddMinutes(5).AddTicks(10), r.NextRunAt);
        Assert.Equal(Me, r.Owner);
        Assert.Null(r.RunningSince);
        Assert.Equal(0, r.Interruptions);
        Assert.Null(r.LastError);
        Assert.Null(r.ReadFailure);
        Assert.False(r.HasReminder);
    }

    [Fact]
    public void Enqueue_stores_times_in_utc()
    {
        var runAt = new DateTimeOffset(2026, 3, 1, 15, 30, 0, TimeSpan.FromHours(5.5));
        var t = TaskLifecycle.Enqueue(null, new NewTask("demo.task", [], 1, runAt), Me, Now.ToOffset(TimeSpan.FromHours(-3)));

        Assert.Equal(TimeSpan.Zero, t.After!.NextRunAt.Offset);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.Zero), t.After.NextRunAt);
        Assert.Equal(TimeSpan.Zero, t.After.EnqueuedAt.Offset);
        Assert.Equal(NowStored, t.After.EnqueuedAt);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    [InlineData(DeferredTaskStatus.Dead)]
    public void Enqueue_of_an_existing_row_is_refused_as_already_stored(DeferredTaskStatus status)
    {
        var existing = Stored(status);
        var t = TaskLifecycle.Enqueue(existing, new NewTask("demo.task", [], 1, Now), Me, Now);

        Assert.Equal("already stored", t.Refusal);
        Assert.Same(existing, t.After);
        AssertNothingChanges(t);
    }

    // ---- first run ----

    [Fact]
    public void First_run_of_a_run_at_in_the_past_is_now()
    {
        Assert.Equal(NowStored, TaskLifecycle.FirstRun(Now.AddDays(-1), null, Now));
        Assert.Equal(NowStored, TaskLifecycle.FirstRun(Now, null, Now));
    }

    [Fact]
    public void First_run_of_a_run_at_in_the_future_is_that_time_in_utc_rounded_up()
    {
        var at = new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.FromHours(2)).AddTicks(1);
        var first = TaskLifecycle.FirstRun(at, null, Now);

        Assert.Equal(TimeSpan.Zero, first.Offset);
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 7, 0, 0, TimeSpan.Zero).AddTicks(10), first);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData(0, 0)]
    [InlineData(90, 90)]
    public void First_run_after_a_delay_is_now_plus_the_delay(int? delaySeconds, int expectedSeconds)
    {
        var delay = delaySeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
        Assert.Equal(NowStored.AddSeconds(expectedSeconds), TaskLifecycle.FirstRun(null, delay, Now));
    }

    [Fact]
    public void First_run_at_the_longest_delay_is_representable()
    {
        Assert.Equal(NowStored + TaskLifecycle.MaxDelay, TaskLifecycle.FirstRun(null, TaskLifecycle.MaxDelay, Now));
        Assert.Equal(TimeSpan.FromDays(36_500), TaskLifecycle.MaxDelay);
    }

    [Fact]
    public void First_run_follows_the_clock()
    {
        var runAt = Now.AddMinutes(10);
        Assert.Equal(Timestamps.Microseconds(runAt), TaskLifecycle.FirstRun(runAt, null, Now));

        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(Timestamps.Microseconds(Now), TaskLifecycle.FirstRun(runAt, null, Now));
    }

    // ---- timestamps ----

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 10)]
    [InlineData(5, 10)]
    [InlineData(9, 10)]
    [InlineData(10, 10)]
    [InlineData(11, 20)]
    [InlineData(19, 20)]
    public void Timestamps_round_up_to_the_next_microsecond(long extraTicks, long expectedTicks)
    {
        Assert.Equal(Aligned.AddTicks(expectedTicks), Timestamps.Microseconds(Aligned.AddTicks(extraTicks)));
    }

    [Fact]
    public void Timestamps_are_utc_and_never_earlier_than_the_time_given()
    {
        for (var tick = 0; tick < 40; tick++)
        {
            var t = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.FromHours(-7)).AddTicks(tick);
            var stored = Timestamps.Microseconds(t);
            Assert.Equal(TimeSpan.Zero, stored.Offset);
            Assert.InRange(stored.UtcTicks - t.UtcTicks, 0, 9);
            Assert.Equal(0, stored.UtcTicks % 10);
        }
    }

    // ---- start ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void A_watched_start_stores_the_in_flight_marker_and_the_owner(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Start(before, Me, watched: true, Now);

        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { Owner = Me, RunningSince = NowStored }, t.After);
    }

    [Fact]
    public void A_watched_start_by_the_owner_still_stores_the_marker()
    {
        var before = Stored(DeferredTaskStatus.Pending) with { Owner = Me };
        var t = TaskLifecycle.Start(before, Me, watched: true, Now);

        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(NowStored, t.After!.RunningSince);
    }

    [Fact]
    public void An_unwatched_start_on_another_silos_row_writes_only_the_owner()
    {
        var before = Stored(DeferredTaskStatus.Failed);
        var t = TaskLifecycle.Start(before, Me, watched: false, Now);

        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { Owner = Me }, t.After);
        Assert.Null(t.After!.RunningSince);
    }

    [Fact]
    public void An_unwatched_start_by_the_owner_writes_nothing()
    {
        var before = Stored(DeferredTaskStatus.Pending) with { Owner = Me };
        var t = TaskLifecycle.Start(before, Me, watched: false, Now);

        Assert.False(t.Refused);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Same(before, t.After);
        Assert.Equal("start: None, then Nothing", t.ToString());
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(10, true)]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    public void Start_before_the_task_is_due_is_refused_as_not_due(long ticksUntilDue, bool refused)
    {
        var before = Stored(DeferredTaskStatus.Pending) with { NextRunAt = Now.AddTicks(ticksUntilDue) };
        var t = TaskLifecycle.Start(before, Me, watched: true, Now);

        Assert.Equal(refused ? "not due" : null, t.Refusal);
        if (refused)
        {
            AssertNothingChanges(t);
        }
    }

    [Fact]
    public void A_task_not_yet_due_starts_once_the_clock_reaches_its_run_time()
    {
        var before = Stored(DeferredTaskStatus.Pending) with { NextRunAt = Timestamps.Microseconds(Now.AddSeconds(30)) };

        Assert.Equal("not due", TaskLifecycle.Start(before, Me, watched: false, Now).Refusal);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("not due", TaskLifecycle.Start(before, Me, watched: false, Now).Refusal);
        _time.Advance(TimeSpan.FromTicks(7));
        Assert.False(TaskLifecycle.Start(before, Me, watched: false, Now).Refused);
    }

    // ---- succeed ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Succeed_deletes_the_row_and_forgets_the_task(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Succeed(before);

        Assert.Equal(Edge.Succeed, t.Edge);
        Assert.Same(before, t.Before);
        Assert.Null(t.After);
        Assert.Equal(Write.Delete, t.Write);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal("succeed: Delete, then Forget", t.ToString());
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Commit_writes_nothing_more_and_forgets_the_task(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Commit(before);

        Assert.Equal(Edge.Commit, t.Edge);
        Assert.Same(before, t.Before);
        Assert.Null(t.After);
        Assert.Equal(Write.Committed, t.Write);
        Assert.True(t.Deletes);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal("commit: Committed, then Forget", t.ToString());
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Snooze_moves_the_run_and_counts_the_snooze_but_not_the_attempt(DeferredTaskStatus status)
    {
        var before = Stored(status) with { RunningSince = Aligned, Snoozes = 2 };
        var t = TaskLifecycle.Snooze(before, Now.AddMinutes(5), Me);

        Assert.Equal((Edge.Snooze, Write.Update, Then.Schedule), (t.Edge, t.Write, t.Then));
        Assert.Equal(before with { Snoozes = 3, NextRunAt = NowStored.AddMinutes(5), RunningSince = null, Owner = Me }, t.After);
        Assert.Equal(status, t.After!.Status);
        Assert.Equal(before.Attempts, t.After.Attempts);
        Assert.Same(before.LastError, t.After.LastError);
    }

    [Fact]
    public void Retry_of_a_dead_task_gives_a_fresh_snooze_count()
    {
        var t = TaskLifecycle.RetryDead(Stored(DeferredTaskStatus.Dead) with { Snoozes = 100 }, Me, Now);

        Assert.Equal(0, t.After!.Snoozes);
    }

    [Fact]
    public void Record_of_a_superseded_attempt_writes_nothing_and_names_why()
    {
        var before = Stored(DeferredTaskStatus.Pending);
        var t = TaskLifecycle.Record(before, AttemptOutcome.Superseded, Me);

        Assert.True(t.Refused);
        Assert.Equal(Edge.Commit, t.Edge);
        Assert.Equal(TaskLifecycle.SupersededRefusal, t.Refusal);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal("not stored", TaskLifecycle.Record(null, AttemptOutcome.Superseded, Me).Refusal);
    }

    // ---- fail ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Fail_counts_the_attempt_and_schedules_the_retry_rounded_up(DeferredTaskStatus status)
    {
        var before = Stored(status) with { RunningSince = Aligned, HasReminder = true };
        var t = TaskLifecycle.Fail(before, NewError, Aligned.AddSeconds(20).AddTicks(4), Me);

        Assert.Equal(Edge.Fail, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Equal(
            before with
            {
                Status = DeferredTaskStatus.Failed,
                Attempts = before.Attempts + 1,
                NextRunAt = Aligned.AddSeconds(20).AddTicks(10),
                LastError = NewError,
                RunningSince = null,
                Owner = Me,
            },
            t.After);
    }

    // ---- give up ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Give_up_counts_the_attempt_and_kills_the_task(DeferredTaskStatus status)
    {
        var before = Stored(status) with { RunningSince = Aligned, HasReminder = true };
        var t = TaskLifecycle.GiveUp(before, NewError, Me);

        Assert.Equal(Edge.GiveUp, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal(
            before with
            {
                Status = DeferredTaskStatus.Dead,
                Attempts = before.Attempts + 1,
                LastError = NewError,
                RunningSince = null,
                Owner = Me,
                HasReminder = false,
            },
            t.After);
    }

    // ---- unreadable ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Unreadable_kills_the_task_without_counting_an_attempt(DeferredTaskStatus status)
    {
        var error = new DeferredTaskError { Type = DeferredErrorTypes.UnknownTaskType, Message = "no handler" };
        var before = Stored(status) with { HasReminder = true };
        var t = TaskLifecycle.MarkUnreadable(before, error, Me);

        Assert.Equal(Edge.Unreadable, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal(
            before with { Status = DeferredTaskStatus.Dead, LastError = error, Owner = Me, HasReminder = false },
            t.After);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    [InlineData(DeferredTaskStatus.Dead)]
    public void An_unreadable_row_stand_in_is_stored_dead_whatever_status_it_claims(DeferredTaskStatus status)
    {
        var failure = new DeferredTaskError { Type = DeferredErrorTypes.CorruptRow, Message = "bad json" };
        var standIn = new TaskRecord { Status = status, ReadFailure = failure, RunningSince = Aligned, HasReminder = true };
        var t = TaskLifecycle.MarkUnreadable(standIn, failure, Me);

        Assert.False(t.Refused);
        Assert.Equal(Edge.Unreadable, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal(DeferredTaskStatus.Dead, t.After!.Status);
        Assert.Same(failure, t.After.LastError);
        Assert.Null(t.After.ReadFailure);
        Assert.Null(t.After.RunningSince);
        Assert.False(t.After.HasReminder);
        Assert.Equal(Me, t.After.Owner);
    }

    // ---- stop ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Stop_without_a_marker_writes_nothing_and_leaves_the_row_for_another_silo(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Stop(before);

        Assert.False(t.Refused);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Same(before, t.After);
    }

    [Fact]
    public void Stop_because_the_marker_could_not_be_stored_backs_off()
    {
        var before = Stored(DeferredTaskStatus.Pending);
        var t = TaskLifecycle.Stop(before, backOff: true);

        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.BackOff, t.Then);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Stop_clears_a_stored_marker_so_it_is_not_taken_for_a_crash(DeferredTaskStatus status)
    {
        var before = Stored(status) with { RunningSince = Aligned };
        var t = TaskLifecycle.Stop(before);

        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { RunningSince = null }, t.After);
    }

    // ---- record ----

    [Theory]
    [InlineData("Succeeded", false, false, "Succeed", "Delete", "Forget")]
    [InlineData("Committed", false, false, "Commit", "Committed", "Forget")]
    [InlineData("Snoozed", true, false, "Snooze", "Update", "Schedule")]
    [InlineData("Snoozed", true, true, "Snooze", "Update", "Schedule")]
    [InlineData("Committed", false, true, "Commit", "Committed", "Forget")]
    [InlineData("Failed", true, false, "Fail", "Update", "Schedule")]
    [InlineData("Failed", false, false, "GiveUp", "Update", "Forget")]
    [InlineData("Unreadable", false, false, "Unreadable", "Update", "Forget")]
    [InlineData("MarkerNotStored", false, false, "Stop", "None", "BackOff")]
    [InlineData("Stopping", false, false, "Stop", "None", "Nothing")]
    [InlineData("Stopping", false, true, "Stop", "Update", "Nothing")]
    [InlineData("Cancelled", false, false, "Cancel", "Delete", "Forget")]
    [InlineData("Cancelled", false, true, "Cancel", "Delete", "Forget")]
    public void Record_maps_each_attempt_outcome_onto_its_one_edge(string resultName, bool retries, bool marked, string edgeName, string write, string then)
    {
        var before = Stored(DeferredTaskStatus.Failed) with { RunningSince = marked ? Aligned : null };
        var outcome = new AttemptOutcome(Enum.Parse<AttemptResult>(resultName), NewError, retries ? Now.AddMinutes(1) : null);

        var t = TaskLifecycle.Record(before, outcome, Me);

        Assert.False(t.Refused, t.ToString());
        Assert.Equal(Enum.Parse<Edge>(edgeName), t.Edge);
        Assert.Equal(Enum.Parse<Write>(write), t.Write);
        Assert.Equal(Enum.Parse<Then>(then), t.Then);
        Assert.Same(before, t.Before);
    }

    [Fact]
    public void Record_of_a_failure_that_retries_stores_the_error_and_the_retry_time()
    {
        var before = Stored(DeferredTaskStatus.Pending);
        var t = TaskLifecycle.Record(before, new AttemptOutcome(AttemptResult.Failed, NewError, Now.AddMinutes(1)), Me);

        Assert.Equal(DeferredTaskStatus.Failed, t.After!.Status);
        Assert.Equal(1, t.After.Attempts);
        Assert.Equal(NowStored.AddMinutes(1), t.After.NextRunAt);
        Assert.Same(NewError, t.After.LastError);
    }

    [Fact]
    public void Record_of_the_shared_outcomes_succeeds_cancels_or_stops()
    {
        var before = Stored(DeferredTaskStatus.Pending);
        Assert.Equal(Edge.Succeed, TaskLifecycle.Record(before, AttemptOutcome.Succeeded, Me).Edge);
        Assert.Equal((Edge.Stop, Then.Nothing), Of(TaskLifecycle.Record(before, AttemptOutcome.Stopping, Me)));
        Assert.Equal((Edge.Stop, Then.BackOff), Of(TaskLifecycle.Record(before, AttemptOutcome.MarkerNotStored, Me)));
        Assert.Equal((Edge.Cancel, Then.Forget), Of(TaskLifecycle.Record(before, AttemptOutcome.Cancelled, Me)));

        static (Edge, Then) Of(Transition t) => (t.Edge, t.Then);
    }

    [Fact]
    public void Record_on_a_dead_task_is_refused()
    {
        var dead = Stored(DeferredTaskStatus.Dead);
        Assert.Equal("not running", TaskLifecycle.Record(dead, AttemptOutcome.Succeeded, Me).Refusal);
        Assert.Equal("not running", TaskLifecycle.Record(dead, new AttemptOutcome(AttemptResult.Failed, NewError, Now), Me).Refusal);
        Assert.Equal("not running", TaskLifecycle.Record(dead, new AttemptOutcome(AttemptResult.Failed, NewError), Me).Refusal);
        Assert.Equal("dead", TaskLifecycle.Record(dead, new AttemptOutcome(AttemptResult.Unreadable, NewError), Me).Refusal);
        Assert.Equal("not running", TaskLifecycle.Record(dead, AttemptOutcome.Stopping, Me).Refusal);
        Assert.Equal("not running", TaskLifecycle.Record(dead, AttemptOutcome.MarkerNotStored, Me).Refusal);
        Assert.Equal("dead", TaskLifecycle.Record(dead, AttemptOutcome.Cancelled, Me).Refusal);
    }

    // ---- interrupted / quarantine ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void An_interruption_is_counted_the_marker_cleared_and_the_task_rescheduled(DeferredTaskStatus status)
    {
        var before = Stored(status) with { RunningSince = Aligned, Interruptions = 1 };
        var t = TaskLifecycle.CountInterruption(before, Me, quarantineAfter: 3, Now);

        Assert.Equal(Edge.Interrupted, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Equal(before with { RunningSince = null, Interruptions = 2, Owner = Me }, t.After);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Counting_an_interruption_without_a_marker_is_refused(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.CountInterruption(before, Me, quarantineAfter: 3, Now);

        Assert.Equal("no attempt in flight", t.Refusal);
        Assert.Equal(Edge.Interrupted, t.Edge);
        AssertNothingChanges(t);
    }

    [Theory]
    [InlineData(0, 1, true)]
    [InlineData(0, 2, false)]
    [InlineData(1, 2, true)]
    [InlineData(1, 3, false)]
    [InlineData(2, 3, true)]
    [InlineData(7, 3, true)]
    [InlineData(0, 0, false)]
    [InlineData(1_000, 0, false)]
    [InlineData(5, -1, false)]
    public void An_interruption_that_reaches_the_limit_quarantines_and_zero_means_never(int interruptionsBefore, int limit, bool quarantined)
    {
        var before = Stored(DeferredTaskStatus.Failed) with { RunningSince = Aligned, Interruptions = interruptionsBefore };
        var t = TaskLifecycle.CountInterruption(before, Me, limit, Now);

        Assert.Equal(quarantined ? Edge.Quarantine : Edge.Interrupted, t.Edge);
        Assert.Equal(quarantined ? DeferredTaskStatus.Dead : DeferredTaskStatus.Failed, t.After!.Status);
        Assert.Equal(quarantined ? Then.Forget : Then.Schedule, t.Then);
        Assert.Equal(interruptionsBefore + 1, t.After.Interruptions);
        Assert.Equal(Write.Update, t.Write);
    }

    [Fact]
    public void Quarantine_kills_the_task_with_a_quarantined_error()
    {
        var before = Stored(DeferredTaskStatus.Failed) with { RunningSince = Aligned, Interruptions = 2, HasReminder = true };
        var t = TaskLifecycle.CountInterruption(before, Me, quarantineAfter: 3, Now);

        Assert.Equal(Edge.Quarantine, t.Edge);
        Assert.Same(before, t.Before);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Forget, t.Then);
        Assert.Equal(
            before with
            {
                Status = DeferredTaskStatus.Dead,
                Interruptions = 3,
                RunningSince = null,
                Owner = Me,
                HasReminder = false,
                LastError = t.After!.LastError,
            },
            t.After);

        var error = t.After.LastError!;
        Assert.Equal(DeferredErrorTypes.Quarantined, error.Type);
        Assert.Equal(before.Attempts + 1, error.Attempt);
        Assert.Equal(Now, error.At);
        Assert.Contains("3 times (limit 3)", error.Message, StringComparison.Ordinal);
        Assert.Equal("quarantine: Update, then Forget", t.ToString());
    }

    // ---- retry dead ----

    [Fact]
    public void Retry_dead_gives_a_fresh_set_of_attempts_due_now()
    {
        var before = Stored(DeferredTaskStatus.Dead) with { Attempts = 5, Interruptions = 2, RunningSince = Aligned, HasReminder = true };
        var t = TaskLifecycle.RetryDead(before, Me, Now);

        Assert.Equal(Edge.RetryDead, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Equal(
            before with
            {
                Status = DeferredTaskStatus.Pending,
                Attempts = 0,
                Interruptions = 0,
                RunningSince = null,
                Owner = Me,
                NextRunAt = NowStored,
            },
            t.After);
        Assert.Same(OldError, t.After!.LastError);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Retry_dead_on_a_live_task_is_refused_as_not_dead(DeferredTaskStatus status)
    {
        var t = TaskLifecycle.RetryDead(Stored(status), Me, Now);
        Assert.Equal("not dead", t.Refusal);
        AssertNothingChanges(t);
    }

    // ---- run now ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Run_now_makes_a_waiting_task_due_now_without_using_up_an_attempt(DeferredTaskStatus status)
    {
        var before = Stored(status) with { NextRunAt = Aligned.AddHours(6), Attempts = 2, Interruptions = 1, HasReminder = true };
        var t = TaskLifecycle.RunNow(before, running: false, Me, Now);

        Assert.Equal(Edge.RunNow, t.Edge);
        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Equal(before with { NextRunAt = NowStored, Owner = Me }, t.After);
        Assert.Equal("run-now", LifecycleTable.NameOf(Edge.RunNow));
    }

    [Fact]
    public void Run_now_of_a_task_already_due_writes_nothing_and_wakes_it()
    {
        var before = Stored(DeferredTaskStatus.Failed);
        var t = TaskLifecycle.RunNow(before, running: false, Me, Now);

        Assert.False(t.Refused);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Same(before, t.After);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Dead, false, "dead")]
    [InlineData(DeferredTaskStatus.Pending, true, "running")]
    [InlineData(DeferredTaskStatus.Failed, true, "running")]
    public void Run_now_of_a_dead_or_running_task_is_refused(DeferredTaskStatus status, bool running, string why)
    {
        var t = TaskLifecycle.RunNow(Stored(status) with { NextRunAt = Aligned.AddHours(6) }, running, Me, Now);
        Assert.Equal(why, t.Refusal);
        AssertNothingChanges(t);
    }

    // ---- delete ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    [InlineData(DeferredTaskStatus.Dead)]
    public void Delete_of_a_task_not_running_deletes_the_row_and_forgets_it(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Delete(before, running: false);

        Assert.Equal(Edge.Delete, t.Edge);
        Assert.Same(before, t.Before);
        Assert.Null(t.After);
        Assert.Equal(Write.Delete, t.Write);
        Assert.Equal(Then.Forget, t.Then);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Delete_while_running_is_refused_as_running(DeferredTaskStatus status)
    {
        var t = TaskLifecycle.Delete(Stored(status), running: true);
        Assert.Equal("running", t.Refusal);
        AssertNothingChanges(t);
    }

    [Fact]
    public void Delete_of_a_dead_task_applies_even_when_called_as_running()
    {
        // A dead task has no attempt in flight: running does not make it Running.
        Assert.False(TaskLifecycle.Delete(Stored(DeferredTaskStatus.Dead), running: true).Refused);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void A_purge_deletes_only_a_task_that_is_still_dead(DeferredTaskStatus retriedSince)
    {
        var dead = Stored(DeferredTaskStatus.Dead);
        var purge = TaskLifecycle.PurgeDead(dead);
        Assert.Equal(Edge.Delete, purge.Edge);
        Assert.Equal(Write.Delete, purge.Write);

        // Listed as dead, retried before the purge reached it: kept.
        var refused = TaskLifecycle.PurgeDead(Stored(retriedSince));
        Assert.Equal("not dead", refused.Refusal);
        AssertNothingChanges(refused);
        Assert.Equal("not stored", TaskLifecycle.PurgeDead(null).Refusal);
    }

    // ---- adopt / release ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Adopt_writes_nothing_and_schedules(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Adopt(before);

        Assert.False(t.Refused);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.Schedule, t.Then);
        Assert.Same(before, t.After);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending)]
    [InlineData(DeferredTaskStatus.Failed)]
    public void Release_clears_the_owner(DeferredTaskStatus status)
    {
        var before = Stored(status);
        var t = TaskLifecycle.Release(before);

        Assert.Equal(Write.Update, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { Owner = null }, t.After);
    }

    // ---- park / unpark ----

    [Theory]
    [InlineData(DeferredTaskStatus.Pending, false)]
    [InlineData(DeferredTaskStatus.Failed, false)]
    [InlineData(DeferredTaskStatus.Pending, true)]
    [InlineData(DeferredTaskStatus.Failed, true)]
    public void Park_records_the_reminder_once(DeferredTaskStatus status, bool hasReminder)
    {
        var write = hasReminder ? Write.None : Write.Update;
        var before = Stored(status) with { HasReminder = hasReminder };
        var t = TaskLifecycle.Park(before);

        Assert.False(t.Refused);
        Assert.Equal(write, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { HasReminder = true }, t.After);
        if (write == Write.None)
        {
            Assert.Same(before, t.After);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Unpark_clears_the_reminder_of_a_dead_task_once(bool hasReminder)
    {
        var write = hasReminder ? Write.Update : Write.None;
        var before = Stored(DeferredTaskStatus.Dead) with { HasReminder = hasReminder };
        var t = TaskLifecycle.Unpark(before);

        Assert.False(t.Refused);
        Assert.Equal(write, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
        Assert.Equal(before with { HasReminder = false }, t.After);
        if (write == Write.None)
        {
            Assert.Same(before, t.After);
        }
    }

    [Fact]
    public void Cancel_deletes_a_waiting_or_running_task_and_is_refused_for_a_dead_one()
    {
        var waiting = TaskLifecycle.Cancel(Stored(DeferredTaskStatus.Failed), running: false);
        Assert.Equal((Edge.Cancel, Write.Delete, Then.Forget), (waiting.Edge, waiting.Write, waiting.Then));
        Assert.Null(waiting.After);
        Assert.False(TaskLifecycle.Cancel(Stored(DeferredTaskStatus.Pending), running: true).Refused);
        Assert.Equal("dead", TaskLifecycle.Cancel(Stored(DeferredTaskStatus.Dead), running: false).Refusal);
        Assert.Equal("not stored", TaskLifecycle.Cancel(null, running: false).Refusal);
    }

    [Fact]
    public void A_keyed_task_starts_only_while_it_holds_its_key_and_an_unkeyed_one_ignores_the_key_check()
    {
        var keyed = Stored(DeferredTaskStatus.Pending) with { OrderingKey = "customer-42" };

        var waiting = TaskLifecycle.Start(keyed, Me, watched: false, Now, holdsKey: false);
        Assert.Equal(TaskLifecycle.KeyHeldRefusal, waiting.Refusal);
        AssertNothingChanges(waiting);

        Assert.False(TaskLifecycle.Start(keyed, Me, watched: false, Now, holdsKey: true).Refused);
        Assert.False(TaskLifecycle.Start(Stored(DeferredTaskStatus.Pending), Me, watched: false, Now, holdsKey: false).Refused);

        // "Not due" is decided first: a task that is not due does not ask for its key.
        Assert.Equal("not due", TaskLifecycle.Start(keyed with { NextRunAt = Now.AddMinutes(1) }, Me, false, Now, holdsKey: false).Refusal);
    }

    [Fact]
    public void Enqueue_stores_the_ordering_key_and_the_carried_context()
    {
        var task = new NewTask("demo.task", [1], 3, Aligned) { OrderingKey = "k", RequestContext = [9, 9] };

        var record = TaskLifecycle.Enqueue(null, task, Me, Now).After!;

        Assert.Equal("k", record.OrderingKey);
        Assert.Equal([9, 9], record.RequestContext);
    }

    // ---- helpers ----

    /// <summary>
    /// Whether <paramref name="state"/> can be handed to <paramref name="edge"/>'s function at all: a function without a
    /// running flag cannot see an attempt in flight, and the outcome functions always take a live record as running.
    /// </summary>
    private static bool CanPresent(Edge edge, TaskState state) => edge switch
    {
        Edge.Delete or Edge.Cancel or Edge.RunNow => true,
        Edge.Succeed or Edge.Commit or Edge.Fail or Edge.Snooze or Edge.GiveUp or Edge.Stop => state is not (TaskState.Pending or TaskState.Failed),
        _ => state != TaskState.Running,
    };

    private static TaskRecord Stored(DeferredTaskStatus status) => new()
    {
        TaskType = "demo.task",
        Payload = [1, 2, 3],
        Status = status,
        Attempts = status == DeferredTaskStatus.Pending ? 0 : 2,
        MaxAttempts = 5,
        EnqueuedAt = Aligned.AddHours(-1),
        NextRunAt = Aligned.AddMinutes(-1),
        Owner = OtherSilo,
        Interruptions = 1,
        LastError = status == DeferredTaskStatus.Pending ? null : OldError,
    };

    private static (TaskRecord? Record, bool Running) In(TaskState state, DeferredTaskStatus runningAs = DeferredTaskStatus.Pending) => state switch
    {
        TaskState.None => (null, false),
        TaskState.Pending => (Stored(DeferredTaskStatus.Pending), false),
        TaskState.Failed => (Stored(DeferredTaskStatus.Failed), false),
        TaskState.Dead => (Stored(DeferredTaskStatus.Dead), false),
        TaskState.Running => (Stored(runningAs), true),
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    /// <summary>Applies <paramref name="edge"/>'s function with inputs under which it applies whenever the state allows.</summary>
    private (TaskRecord? Input, Transition Transition) Apply(Edge edge, TaskRecord? record, bool running)
    {
        Assert.True(CanPresent(edge, LifecycleTable.StateOf(record, running)), $"{edge} cannot be handed that state");
        var input = record is null ? null : edge switch
        {
            Edge.Interrupted or Edge.Quarantine => record with { RunningSince = Aligned },
            Edge.Unpark => record with { HasReminder = true },
            _ => record,
        };
        return (input, edge switch
        {
            Edge.Enqueue => TaskLifecycle.Enqueue(input, new NewTask("demo.task", [1], 3, Now), Me, Now),
            Edge.Start => TaskLifecycle.Start(input, Me, watched: true, Now),
            Edge.Succeed => TaskLifecycle.Succeed(input),
            Edge.Commit => TaskLifecycle.Commit(input),
            Edge.Snooze => TaskLifecycle.Snooze(input, Now.AddMinutes(5), Me),
            Edge.Fail => TaskLifecycle.Fail(input, NewError, Now.AddMinutes(1), Me),
            Edge.GiveUp => TaskLifecycle.GiveUp(input, NewError, Me),
            Edge.Unreadable => TaskLifecycle.MarkUnreadable(input, NewError, Me),
            Edge.Stop => TaskLifecycle.Stop(input),
            Edge.Interrupted => TaskLifecycle.CountInterruption(input, Me, quarantineAfter: 0, Now),
            Edge.Quarantine => TaskLifecycle.CountInterruption(input, Me, quarantineAfter: 1, Now),
            Edge.RetryDead => TaskLifecycle.RetryDead(input, Me, Now),
            Edge.RunNow => TaskLifecycle.RunNow(input, running, Me, Now),
            Edge.Delete => TaskLifecycle.Delete(input, running),
            Edge.Cancel => TaskLifecycle.Cancel(input, running),
            Edge.Adopt => TaskLifecycle.Adopt(input),
            Edge.Release => TaskLifecycle.Release(input),
            Edge.Park => TaskLifecycle.Park(input),
            Edge.Unpark => TaskLifecycle.Unpark(input),
            _ => throw new ArgumentOutOfRangeException(nameof(edge)),
        });
    }

    private static void AssertNothingChanges(Transition t)
    {
        Assert.True(t.Refused);
        Assert.NotNull(t.Refusal);
        Assert.Same(t.Before, t.After);
        Assert.Equal(Write.None, t.Write);
        Assert.Equal(Then.Nothing, t.Then);
    }
}
