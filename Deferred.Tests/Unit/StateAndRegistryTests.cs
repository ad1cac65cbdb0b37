using System.Text;
using Deferred.Options;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class StateAndRegistryTests
{
    private readonly OrleansAdoNetStateSerializer _serializer = new();

    [Fact]
    public void State_rows_round_trip_as_readable_json()
    {
        var state = new TaskRecord
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

        var back = _serializer.Deserialize<TaskRecord>(bytes)!;
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
        var state = _serializer.Deserialize<TaskRecord>(new BinaryData(Encoding.UTF8.GetBytes(json)))!;
        Assert.Equal("t", state.TaskType);
        Assert.Equal(0, state.Attempts);
        Assert.False(state.HasReminder);
        Assert.Null(state.ReadFailure);
    }

    [Fact]
    public void An_unreadable_row_becomes_a_dead_state_that_keeps_the_raw_text()
    {
        var state = _serializer.Deserialize<TaskRecord>(new BinaryData(Encoding.UTF8.GetBytes("{not json")))!;
        Assert.Equal(DeferredTaskStatus.Dead, state.Status);
        Assert.Equal(DeferredErrorTypes.CorruptRow, state.ReadFailure!.Type);
        Assert.Contains(Convert.ToHexString(Encoding.UTF8.GetBytes("{not json")), state.ReadFailure.Message);
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
        using var first = gate.Announce();
        using var second = gate.Announce();
        await first.StartAsync(CancellationToken.None);
        await first.EnterAsync(CancellationToken.None);

        // The second attempt may prepare (start permits are plentiful) but not run.
        await second.StartAsync(CancellationToken.None);
        var entering = second.EnterAsync(CancellationToken.None).AsTask();
        Assert.False(entering.IsCompleted);
        Assert.Equal(2, gate.Queued);
        Assert.Equal(1, gate.Running);

        var belowTwo = gate.WaitUntilBelowAsync(2, CancellationToken.None);
        Assert.False(belowTwo.IsCompleted);
        first.Dispose();
        await belowTwo;
        await entering;
        Assert.True(second.HoldsSlot);
        second.Dispose();
        Assert.Equal(0, gate.Queued);
        Assert.Equal(0, gate.Running);
    }

    [Fact]
    public async Task A_reservation_gives_back_what_it_holds_exactly_once_whichever_step_it_reached()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions { MaxConcurrentTasks = 1 }));
        var announced = gate.Announce();
        var permitted = gate.Announce();
        await permitted.StartAsync(CancellationToken.None);
        var running = gate.Announce();
        await running.StartAsync(CancellationToken.None);
        await running.EnterAsync(CancellationToken.None);
        Assert.Equal(3, gate.Queued);

        foreach (var reservation in new[] { announced, permitted, running, announced, permitted, running })
        {
            reservation.Dispose();
        }

        Assert.Equal(0, gate.Queued);
        Assert.Equal(0, gate.Running);

        // Every permit and slot is free again: a new attempt gets both at once.
        using var next = gate.Announce();
        await next.StartAsync(CancellationToken.None);
        Assert.True(next.EnterAsync(CancellationToken.None).AsTask().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_stopping_gate_starts_nothing_and_counts_nothing_left_behind()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredTasksOptions { MaxConcurrentTasks = 1 }));
        var running = gate.Announce();
        await running.StartAsync(CancellationToken.None);
        await running.EnterAsync(CancellationToken.None);
        var waiting = gate.Announce();
        await waiting.StartAsync(CancellationToken.None);
        var entering = waiting.EnterAsync(CancellationToken.None).AsTask();

        gate.BeginStop();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => entering);
        waiting.Dispose();
        var late = gate.Announce();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await late.StartAsync(CancellationToken.None));
        late.Dispose();
        Assert.Equal(1, gate.Queued);

        Assert.False(await gate.WaitForNoneRunningAsync(TimeSpan.FromMilliseconds(50), TimeProvider.System, CancellationToken.None));
        running.Dispose();
        Assert.True(await gate.WaitForNoneRunningAsync(TimeSpan.FromSeconds(10), TimeProvider.System, CancellationToken.None));
        Assert.Equal(0, gate.Queued);
    }
}
