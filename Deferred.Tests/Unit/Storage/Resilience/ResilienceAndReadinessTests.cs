using System.Net.Sockets;
using Deferred.Cluster;
using Deferred.Execution;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class ResilienceAndReadinessTests
{
    [Fact]
    public async Task An_outage_is_logged_once_when_it_starts_and_once_when_it_ends_whatever_waited_through_it()
    {
        var log = new ListLogger();
        var policy = new StoreResilience(Microsoft.Extensions.Options.Options.Create(new DeferredOptions()), TimeProvider.System, log);
        var down = true;
        Task Operation() => down ? Task.FromException(new SocketException((int)SocketError.ConnectionRefused)) : Task.CompletedTask;

        // Operations that only try once (a start) fail without an error line; the outage itself is one warning.
        for (var i = 0; i < 50; i++)
        {
            var result = await policy.RunAsync(StoreWindow.Start, $"task-{i}", "start", Operation);
            Assert.Equal(StoreOutcome.Unavailable, result.Outcome);
        }

        Assert.True(policy.InOutage);
        down = false;
        Assert.True((await policy.RunAsync(StoreWindow.Outcome, "task-x", "completion", Operation)).Applied);
        Assert.True((await policy.RunAsync(StoreWindow.Outcome, "task-y", "completion", Operation)).Applied);

        Assert.False(policy.InOutage);
        Assert.Equal(1, log.Count(LogLevel.Warning));
        Assert.Equal(1, log.Count(LogLevel.Information));
        Assert.Equal(0, log.Count(LogLevel.Error));
    }

    [Fact]
    public async Task An_outage_ends_when_the_probe_reaches_the_database_even_with_no_operation_and_two_outages_are_two()
    {
        // Issue 23, item 10: the end (1019) came only with the next operation, so an idle silo never logged it, and two
        // outages with a good spell between them were logged as one.
        var log = new ListLogger();
        var probe = new SwitchProbe();
        using var policy = new StoreResilience(Microsoft.Extensions.Options.Options.Create(new DeferredOptions()), TimeProvider.System, log, probe);
        Task Down() => Task.FromException(new SocketException((int)SocketError.ConnectionRefused));

        for (var outage = 1; outage <= 2; outage++)
        {
            probe.Up = false;
            Assert.Equal(StoreOutcome.Unavailable, (await policy.RunAsync(StoreWindow.Start, "task-1", "start", Down)).Outcome);
            Assert.True(policy.InOutage);

            // Still down: the probe keeps asking, nothing ends the outage. An operation answered without the database
            // (from memory) wakes the probe, which still finds the database down.
            var asked = probe.Calls;
            await Tests.Infrastructure.Eventually.True(() => Task.FromResult(probe.Calls >= asked + 2), "the probe to ask twice while the database is down");
            Assert.True((await policy.RunAsync(StoreWindow.Outcome, "task-2", "read from memory", () => Task.CompletedTask)).Applied);
            asked = probe.Calls;
            await Tests.Infrastructure.Eventually.True(() => Task.FromResult(probe.Calls > asked), "the woken probe to ask again");
            Assert.True(policy.InOutage);

            // Back, with no operation at all: the probe ends the outage.
            probe.Up = true;
            await Tests.Infrastructure.Eventually.True(() => Task.FromResult(!policy.InOutage), "the probe to end the outage");
            Assert.Equal(outage, log.Count(LogLevel.Warning));
            Assert.Equal(outage, log.Count(LogLevel.Information));
        }
    }

    private sealed class SwitchProbe : IStoreProbe
    {
        private int _calls;

        public volatile bool Up;

        public int Calls => Volatile.Read(ref _calls);

        public Task PingAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Up ? Task.CompletedTask : Task.FromException(new SocketException((int)SocketError.ConnectionRefused));
        }
    }

    [Fact]
    public async Task A_window_retries_an_unreachable_store_with_backoff_then_gives_up_with_one_error()
    {
        var time = new TimerCountingTimeProvider();
        var log = new ListLogger();
        var policy = new StoreResilience(Microsoft.Extensions.Options.Options.Create(new DeferredOptions { StoreRetryTimeout = TimeSpan.FromSeconds(1) }), time, log);
        var tries = 0;
        var run = policy.RunAsync(StoreWindow.Outcome, "task-1", "completion", () =>
        {
            tries++;
            return Task.FromException(new IOException("reset"));
        });

        // Waits of 100, 200 and 400 ms between tries; the next (800 ms) would end past the 1 s budget.
        // The clock moves only once the wait's timer exists: a fake clock advanced before the timer is made
        // would leave that wait to start from the new time and never end.
        var waits = new[] { 100, 200, 400 };
        for (var i = 0; i < waits.Length; i++)
        {
            var done = i + 1;
            await Tests.Infrastructure.Eventually.True(() => Task.FromResult(Volatile.Read(ref tries) == done && time.TimersCreated == done), $"try {done} and its wait");
            time.Advance(TimeSpan.FromMilliseconds(waits[i]));
        }

        var result = await run;
        Assert.Equal(StoreOutcome.Unavailable, result.Outcome);
        Assert.Equal(4, tries);
        Assert.Equal(1, log.Count(LogLevel.Error));
    }

    [Fact]
    public async Task A_version_conflict_or_a_permanent_error_is_returned_at_once_without_retries()
    {
        var policy = new StoreResilience(Microsoft.Extensions.Options.Options.Create(new DeferredOptions()), TimeProvider.System, new ListLogger());
        var tries = 0;
        var conflict = await policy.RunAsync(StoreWindow.Outcome, "t", "write", () =>
        {
            tries++;
            return Task.FromException(new Orleans.Storage.InconsistentStateException("changed", "1", "2"));
        });
        var permanent = await policy.RunAsync(StoreWindow.Outcome, "t", "write", () =>
        {
            tries++;
            return Task.FromException(new InvalidOperationException("bug"));
        });

        Assert.Equal(StoreOutcome.VersionConflict, conflict.Outcome);
        Assert.Equal(StoreOutcome.Permanent, permanent.Outcome);
        Assert.Equal(2, tries);
    }

    [Fact]
    public async Task Enqueue_on_a_silo_that_has_not_started_fails_at_once_with_a_clear_error()
    {
        var readiness = new SiloReadiness();
        var error = await Assert.ThrowsAsync<DeferredNotReadyException>(async () =>
            await readiness.WaitUntilActiveAsync(TimeSpan.FromSeconds(5), TimeProvider.System, CancellationToken.None));
        Assert.Contains("UseOrleans", error.Message);
        Assert.Contains("ApplicationStarted", error.Message);
    }

    [Fact]
    public async Task An_abandoned_handler_is_counted_until_it_really_returns()
    {
        using var gate = new ExecutionGate(Microsoft.Extensions.Options.Options.Create(new DeferredOptions()));
        var handler = new TaskCompletionSource();
        gate.TrackAbandoned(handler.Task);
        Assert.Equal(1, gate.Abandoned);
        handler.SetResult();
        await Tests.Infrastructure.Eventually.True(() => Task.FromResult(gate.Abandoned == 0), "the abandoned count to drop");
    }

    private sealed class TimerCountingTimeProvider() : FakeTimeProvider(DateTimeOffset.UnixEpoch)
    {
        private int _timersCreated;

        public int TimersCreated => Volatile.Read(ref _timersCreated);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timersCreated);
            return timer;
        }
    }

    private sealed class ListLogger : ILogger<StoreResilience>
    {
        private readonly List<LogLevel> _levels = [];

        public int Count(LogLevel level)
        {
            lock (_levels)
            {
                return _levels.Count(l => l == level);
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_levels)
            {
                _levels.Add(logLevel);
            }
        }
    }
}
