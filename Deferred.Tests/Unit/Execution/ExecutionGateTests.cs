using Deferred.Execution;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>Execution slots and the recovery backlog: <see cref="ExecutionGate"/>.</summary>
public sealed class ExecutionGateTests
{
    [Fact]
    public async Task The_execution_gate_bounds_slots_and_signals_when_the_backlog_drains()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { MaxConcurrentTasks = 1 }));
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
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { MaxConcurrentTasks = 1 }));
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
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { MaxConcurrentTasks = 1 }));
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
