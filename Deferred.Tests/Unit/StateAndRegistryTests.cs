using System.Text;
using Deferred.Options;
using Deferred.Runtime;
using Deferred.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class StateAndRegistryTests
{
    private readonly DeferredTaskStateSerializer _serializer = new();

    [Fact]
    public void State_rows_round_trip_as_readable_json()
    {
        var state = new DeferredTaskState
        {
            TaskType = "orders.ship",
            Payload = [1, 2, 3],
            Status = DeferredTaskStatus.Failed,
            Attempts = 2,
            MaxAttempts = 21,
            NextRunAt = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero),
            LastError = new DeferredTaskError { Type = "System.TimeoutException", Message = "slow", Attempt = 2 },
        };

        var bytes = _serializer.Serialize(state);
        var json = Encoding.UTF8.GetString(bytes.ToArray());
        Assert.Contains("\"status\":\"Failed\"", json);
        Assert.Contains("\"taskType\":\"orders.ship\"", json);
        Assert.DoesNotContain("$type", json);

        var back = _serializer.Deserialize<DeferredTaskState>(bytes)!;
        Assert.Equal(state.TaskType, back.TaskType);
        Assert.Equal(state.Payload, back.Payload);
        Assert.Equal(state.Status, back.Status);
        Assert.Equal(state.NextRunAt, back.NextRunAt);
        Assert.Equal("slow", back.LastError!.Message);
    }

    [Fact]
    public void Rows_from_other_builds_read_with_unknown_fields_ignored_and_missing_ones_defaulted()
    {
        var json = """{"taskType":"t","payload":"AQI=","status":"Pending","maxAttempts":5,"addedNextYear":{"x":1}}""";
        var state = _serializer.Deserialize<DeferredTaskState>(new BinaryData(Encoding.UTF8.GetBytes(json)))!;
        Assert.Equal("t", state.TaskType);
        Assert.Equal(0, state.Attempts);
        Assert.False(state.HasReminder);
        Assert.False(state.NeedsRewrite);
    }

    [Fact]
    public void An_unreadable_row_becomes_a_dead_state_that_keeps_the_raw_text()
    {
        var state = _serializer.Deserialize<DeferredTaskState>(new BinaryData(Encoding.UTF8.GetBytes("{not json")))!;
        Assert.Equal(DeferredTaskStatus.Dead, state.Status);
        Assert.True(state.NeedsRewrite);
        Assert.Equal(DeferredErrorTypes.CorruptRow, state.LastError!.Type);
        Assert.Contains(Convert.ToHexString(Encoding.UTF8.GetBytes("{not json")), state.LastError.Message);
    }

    [Fact]
    public void The_store_refuses_any_other_type() =>
        Assert.Throws<NotSupportedException>(() => _serializer.Serialize("a string"));

    [Fact]
    public void Task_types_are_named_by_alias_else_full_name_and_names_must_be_unique()
    {
        Assert.Equal("deferred.tests.probe", new TaskRegistration<Infrastructure.ProbeTask>().Name);
        Assert.Equal(typeof(Integration.TaskAfterRename).FullName, new TaskRegistration<Integration.TaskAfterRename>().Name);

        var clash = Assert.Throws<InvalidOperationException>(() => new TaskTypeRegistry(
        [
            new TaskRegistration<Integration.TaskBeforeRename>("same"),
            new TaskRegistration<Integration.TaskAfterRename>("same"),
        ]));
        Assert.Contains("'same'", clash.Message);
    }

    [Fact]
    public async Task The_execution_gate_bounds_slots_and_signals_when_the_backlog_drains()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions { MaxConcurrentTasks = 1 }));
        gate.Announce();
        gate.Announce();
        var first = await gate.EnterAsync(await gate.StartAnnouncedAsync(CancellationToken.None), CancellationToken.None);

        // The second attempt may prepare (its start permit is free again) but not run.
        var secondPermit = await gate.StartAnnouncedAsync(CancellationToken.None);
        var second = gate.EnterAsync(secondPermit, CancellationToken.None).AsTask();
        Assert.False(second.IsCompleted);
        Assert.Equal(2, gate.Queued);
        Assert.Equal(1, gate.Running);

        var belowTwo = gate.WaitUntilBelowAsync(2, CancellationToken.None);
        Assert.False(belowTwo.IsCompleted);
        first.Dispose();
        await belowTwo;
        (await second).Dispose();
        Assert.Equal(0, gate.Queued);
        Assert.Equal(0, gate.Running);
    }

    [Fact]
    public async Task A_stopping_gate_starts_nothing_and_counts_nothing_left_behind()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions { MaxConcurrentTasks = 1 }));
        gate.Announce();
        gate.Announce();
        var running = await gate.EnterAsync(await gate.StartAnnouncedAsync(CancellationToken.None), CancellationToken.None);
        var waiting = gate.EnterAsync(await gate.StartAnnouncedAsync(CancellationToken.None), CancellationToken.None).AsTask();

        gate.BeginStop();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        gate.Announce();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await gate.StartAnnouncedAsync(CancellationToken.None));
        Assert.Equal(1, gate.Queued);

        Assert.False(await gate.WaitForNoneRunningAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None));
        running.Dispose();
        Assert.True(await gate.WaitForNoneRunningAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.Equal(0, gate.Queued);
    }
}
