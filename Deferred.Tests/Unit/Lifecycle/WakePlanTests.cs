using Deferred.Lifecycle;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The one wake-up a task waits on: a timer when near, the store's far wake-up otherwise, nothing when not live.</summary>
public sealed class WakePlanTests
{
    private static readonly TimeSpan Threshold = TimeSpan.FromMinutes(1);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private DateTimeOffset Now => _time.GetUtcNow();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_missing_row_needs_no_wake_up(bool reminders)
    {
        Assert.Equal(new WakePlan(WakeKind.None, TimeSpan.Zero), WakePlan.For(null, Now, Threshold, Far(reminders)));
    }

    [Theory]
    [InlineData(-3600)]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(3600)]
    public void A_dead_task_needs_no_wake_up_whenever_it_was_due(int dueInSeconds)
    {
        var dead = Due(DeferredTaskStatus.Dead, TimeSpan.FromSeconds(dueInSeconds));
        Assert.Equal(new WakePlan(WakeKind.None, TimeSpan.Zero), WakePlan.For(dead, Now, Threshold, FarWakeup.Reminder));
        Assert.Equal(new WakePlan(WakeKind.None, TimeSpan.Zero), WakePlan.For(dead, Now, Threshold, FarWakeup.Poller));
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending, -86_400)]
    [InlineData(DeferredTaskStatus.Failed, -1)]
    [InlineData(DeferredTaskStatus.Pending, 0)]
    public void An_overdue_live_task_gets_a_timer_due_at_once(DeferredTaskStatus status, int dueInSeconds)
    {
        var plan = WakePlan.For(Due(status, TimeSpan.FromSeconds(dueInSeconds)), Now, Threshold, FarWakeup.Reminder);
        Assert.Equal(new WakePlan(WakeKind.Timer, TimeSpan.Zero), plan);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending, 1, false)]
    [InlineData(DeferredTaskStatus.Failed, 1, true)]
    [InlineData(DeferredTaskStatus.Pending, 30_000, true)]
    [InlineData(DeferredTaskStatus.Failed, 60_000, false)]
    public void A_live_task_due_within_the_threshold_gets_a_timer_for_the_remaining_time(DeferredTaskStatus status, int dueInMilliseconds, bool reminders)
    {
        var dueIn = TimeSpan.FromMilliseconds(dueInMilliseconds);
        var plan = WakePlan.For(Due(status, dueIn), Now, Threshold, Far(reminders));
        Assert.Equal(new WakePlan(WakeKind.Timer, dueIn), plan);
    }

    [Theory]
    [InlineData(DeferredTaskStatus.Pending, false)]
    [InlineData(DeferredTaskStatus.Failed, false)]
    [InlineData(DeferredTaskStatus.Pending, true)]
    [InlineData(DeferredTaskStatus.Failed, true)]
    public void A_live_task_just_past_the_threshold_waits_on_the_stores_far_wake_up(DeferredTaskStatus status, bool reminders)
    {
        var dueIn = Threshold + TimeSpan.FromTicks(1);
        var plan = WakePlan.For(Due(status, dueIn), Now, Threshold, Far(reminders));
        Assert.Equal(new WakePlan(reminders ? WakeKind.Reminder : WakeKind.Poller, dueIn), plan);
    }

    [Fact]
    public void A_far_task_is_parked_for_its_whole_wait()
    {
        var dueIn = TimeSpan.FromDays(365 * 50);
        Assert.Equal(new WakePlan(WakeKind.Reminder, dueIn), WakePlan.For(Due(DeferredTaskStatus.Pending, dueIn), Now, Threshold, FarWakeup.Reminder));
        Assert.Equal(new WakePlan(WakeKind.Poller, dueIn), WakePlan.For(Due(DeferredTaskStatus.Pending, dueIn), Now, Threshold, FarWakeup.Poller));
    }

    [Fact]
    public void A_zero_threshold_arms_a_timer_only_for_a_task_already_due()
    {
        Assert.Equal(new WakePlan(WakeKind.Timer, TimeSpan.Zero), WakePlan.For(Due(DeferredTaskStatus.Pending, TimeSpan.Zero), Now, TimeSpan.Zero, FarWakeup.Poller));
        Assert.Equal(WakeKind.Poller, WakePlan.For(Due(DeferredTaskStatus.Pending, TimeSpan.FromTicks(1)), Now, TimeSpan.Zero, FarWakeup.Poller).Kind);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void As_the_clock_advances_a_far_task_comes_within_the_threshold_and_then_is_due_at_once(bool reminders)
    {
        var record = Due(DeferredTaskStatus.Failed, TimeSpan.FromMinutes(10));

        Assert.Equal(new WakePlan(reminders ? WakeKind.Reminder : WakeKind.Poller, TimeSpan.FromMinutes(10)), WakePlan.For(record, Now, Threshold, Far(reminders)));

        _time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(new WakePlan(WakeKind.Timer, TimeSpan.FromMinutes(1)), WakePlan.For(record, Now, Threshold, Far(reminders)));

        _time.Advance(TimeSpan.FromSeconds(45));
        Assert.Equal(new WakePlan(WakeKind.Timer, TimeSpan.FromSeconds(15)), WakePlan.For(record, Now, Threshold, Far(reminders)));

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(new WakePlan(WakeKind.Timer, TimeSpan.Zero), WakePlan.For(record, Now, Threshold, Far(reminders)));
    }

    [Fact]
    public void The_plan_of_an_enqueued_task_follows_its_first_run()
    {
        var enqueued = TaskLifecycle.Enqueue(null, new NewTask("demo.task", [], 3, TaskLifecycle.FirstRun(null, TimeSpan.FromHours(2), Now)), "silo", Now).After;
        Assert.Equal(new WakePlan(WakeKind.Poller, TimeSpan.FromHours(2)), WakePlan.For(enqueued, Now, Threshold, FarWakeup.Poller));

        var completed = TaskLifecycle.Succeed(enqueued).After;
        Assert.Equal(WakeKind.None, WakePlan.For(completed, Now, Threshold, FarWakeup.Poller).Kind);
    }

    private static FarWakeup Far(bool reminders) => reminders ? FarWakeup.Reminder : FarWakeup.Poller;

    private TaskRecord Due(DeferredTaskStatus status, TimeSpan dueIn) => new()
    {
        TaskType = "demo.task",
        Status = status,
        MaxAttempts = 3,
        EnqueuedAt = Now,
        NextRunAt = Now + dueIn,
    };
}
