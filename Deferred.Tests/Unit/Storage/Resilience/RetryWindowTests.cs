using System.Net.Sockets;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The store's retry windows: one backoff, one budget check, one classifier of store errors.</summary>
public sealed class RetryWindowTests
{
    private static readonly RetryWindow Outcome = new(TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    // ---- backoff ----

    [Theory]
    [InlineData(int.MinValue, 100)]
    [InlineData(-1, 100)]
    [InlineData(0, 100)]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(4, 800)]
    [InlineData(5, 1_600)]
    [InlineData(6, 3_200)]
    [InlineData(7, 5_000)]
    [InlineData(8, 5_000)]
    [InlineData(31, 5_000)]
    [InlineData(64, 5_000)]
    [InlineData(1_000, 5_000)]
    [InlineData(int.MaxValue, 5_000)]
    public void Backoff_doubles_from_the_first_wait_up_to_the_longest(int retry, int expectedMilliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), Outcome.Backoff(retry));
    }

    [Theory]
    [InlineData(30, 1L << 29)]
    [InlineData(31, 1L << 30)]
    [InlineData(32, 1L << 30)]
    [InlineData(1_000, 1L << 30)]
    [InlineData(int.MaxValue, 1L << 30)]
    public void Backoff_stops_doubling_at_two_to_the_thirtieth(int retry, long expectedTicks)
    {
        var unbounded = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromTicks(1), TimeSpan.MaxValue);
        Assert.Equal(TimeSpan.FromTicks(expectedTicks), unbounded.Backoff(retry));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(40)]
    [InlineData(int.MaxValue)]
    public void Backoff_of_a_huge_first_wait_clamps_to_the_longest_without_overflowing(int retry)
    {
        var huge = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromDays(10_000), TimeSpan.MaxValue);
        var backoff = huge.Backoff(retry);
        Assert.True(backoff >= TimeSpan.FromDays(20_000), backoff.ToString());
        Assert.True(backoff <= TimeSpan.MaxValue);

        var clamped = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromDays(10_000), TimeSpan.FromDays(15_000));
        Assert.Equal(TimeSpan.FromDays(15_000), clamped.Backoff(retry));
    }

    [Fact]
    public void Backoff_from_a_zero_first_wait_stays_zero()
    {
        var zero = new RetryWindow(TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, zero.Backoff(1));
        Assert.Equal(TimeSpan.Zero, zero.Backoff(50));
    }

    [Theory]
    [MemberData(nameof(StoreWindows))]
    public void Backoff_of_every_store_window_never_shrinks_and_never_exceeds_its_longest_wait(long firstMilliseconds, long maxMilliseconds)
    {
        var window = new RetryWindow(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(firstMilliseconds), TimeSpan.FromMilliseconds(maxMilliseconds));
        var previous = TimeSpan.Zero;
        for (var retry = 1; retry <= 200; retry++)
        {
            var backoff = window.Backoff(retry);
            Assert.InRange(backoff, previous, window.Max);
            previous = backoff;
        }

        Assert.Equal(window.Max, previous);
    }

    /// <summary>First and longest waits of the windows <c>StoreResilience.Window</c> hands out.</summary>
    public static TheoryData<long, long> StoreWindows() => new()
    {
        { 50, 1_000 },
        { 100, 5_000 },
        { 1_000, 30_000 },
        { 1_000, 60_000 },
        { 250, 5_000 },
    };

    // ---- budget ----

    [Theory]
    [InlineData(0, 1_000, true)]
    [InlineData(3_000, 1_999, true)]
    [InlineData(3_000, 2_000, false)]
    [InlineData(4_999, 0, true)]
    [InlineData(5_000, 0, false)]
    [InlineData(9_000, 1, false)]
    [InlineData(0, 5_000, false)]
    public void A_finite_window_allows_a_wait_only_while_it_ends_before_the_budget(int elapsedMilliseconds, int nextMilliseconds, bool allowed)
    {
        var window = new RetryWindow(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));
        Assert.Equal(allowed, window.Allows(TimeSpan.FromMilliseconds(elapsedMilliseconds), TimeSpan.FromMilliseconds(nextMilliseconds)));
    }

    [Fact]
    public void A_zero_budget_allows_no_retry()
    {
        var start = new RetryWindow(TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        Assert.False(start.Allows(TimeSpan.Zero, TimeSpan.Zero));
        Assert.False(start.Allows(TimeSpan.Zero, start.Backoff(1)));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 60)]
    [InlineData(365 * 24 * 3600, 60)]
    public void An_infinite_window_always_allows_another_retry(long elapsedSeconds, long nextSeconds)
    {
        var claim = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        Assert.True(claim.Allows(TimeSpan.FromSeconds(elapsedSeconds), TimeSpan.FromSeconds(nextSeconds)));
    }

    [Fact]
    public void An_infinite_window_allows_even_the_largest_times_without_overflowing()
    {
        var claim = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        Assert.True(claim.Allows(TimeSpan.MaxValue, TimeSpan.MaxValue));
    }

    [Fact]
    public void An_enqueue_window_retries_eight_times_within_its_five_seconds()
    {
        var time = new FakeTimeProvider();
        var window = new RetryWindow(TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));
        var started = time.GetTimestamp();

        var retries = 0;
        while (window.Allows(time.GetElapsedTime(started), window.Backoff(retries + 1)))
        {
            time.Advance(window.Backoff(++retries));
        }

        // 50 + 100 + 200 + 400 + 800 + 1000 + 1000 + 1000 ms; one more second would end past the budget.
        Assert.Equal(8, retries);
        Assert.Equal(TimeSpan.FromMilliseconds(4_550), time.GetElapsedTime(started));
    }

    [Fact]
    public void An_infinite_window_keeps_retrying_at_its_longest_wait()
    {
        var time = new FakeTimeProvider();
        var window = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        var started = time.GetTimestamp();

        for (var retry = 1; retry <= 1_000; retry++)
        {
            Assert.True(window.Allows(time.GetElapsedTime(started), window.Backoff(retry)));
            time.Advance(window.Backoff(retry));
        }

        Assert.Equal(TimeSpan.FromMinutes(1), window.Backoff(1_000));
        Assert.True(time.GetElapsedTime(started) > TimeSpan.FromHours(16));
    }

    // ---- classifier ----

    private static readonly (string Name, Func<Exception> Make, StoreOutcome Expected)[] Failures =
    [
        ("version conflict", () => new InconsistentStateException("etag mismatch"), StoreOutcome.VersionConflict),
        ("version conflict wrapping a socket error", () => new InconsistentStateException("etag mismatch", new SocketException()), StoreOutcome.VersionConflict),
        ("store unavailable", StoreUnavailable, StoreOutcome.Unavailable),
        ("store unavailable, wrapped", () => new InvalidOperationException("outer", StoreUnavailable()), StoreOutcome.Unavailable),
        ("postgres connection failure 08006", () => Postgres("08006"), StoreOutcome.Unavailable),
        ("postgres connection refused 08001", () => Postgres("08001"), StoreOutcome.Unavailable),
        ("postgres admin shutdown 57P01", () => Postgres("57P01"), StoreOutcome.Unavailable),
        ("postgres cannot connect now 57P03", () => Postgres("57P03"), StoreOutcome.Unavailable),
        ("postgres too many connections 53300", () => Postgres("53300"), StoreOutcome.Unavailable),
        ("postgres unique violation 23505", () => Postgres("23505"), StoreOutcome.Permanent),
        ("postgres syntax error 42601", () => Postgres("42601"), StoreOutcome.Permanent),
        ("postgres shutdown, wrapped", () => new InvalidOperationException("outer", Postgres("57P01")), StoreOutcome.Unavailable),
        ("npgsql over a broken stream", () => new NpgsqlException("read failed", new EndOfStreamException()), StoreOutcome.Unavailable),
        ("npgsql without a transient cause", () => new NpgsqlException("bad parameter"), StoreOutcome.Permanent),
        ("socket", () => new SocketException((int)SocketError.ConnectionRefused), StoreOutcome.Unavailable),
        ("socket, wrapped twice", () => new InvalidOperationException("a", new AggregateException(new SocketException())), StoreOutcome.Unavailable),
        ("io", () => new IOException("reset"), StoreOutcome.Unavailable),
        ("io, wrapped", () => new InvalidOperationException("outer", new IOException("reset")), StoreOutcome.Unavailable),
        ("timeout", () => new TimeoutException(), StoreOutcome.Unavailable),
        ("timeout, wrapped", () => new NpgsqlException("slow", new TimeoutException()), StoreOutcome.Unavailable),
        ("disposed", () => new ObjectDisposedException("NpgsqlDataSource"), StoreOutcome.Permanent),
        ("disposed over an io error", () => new ObjectDisposedException("NpgsqlDataSource", new IOException("reset")), StoreOutcome.Permanent),
        ("cancelled", () => new OperationCanceledException(), StoreOutcome.Permanent),
        ("task cancelled over a timeout", () => new TaskCanceledException("cancelled", new TimeoutException()), StoreOutcome.Permanent),
        ("invalid operation", () => new InvalidOperationException("bug"), StoreOutcome.Permanent),
        ("invalid operation over an argument error", () => new InvalidOperationException("bug", new ArgumentException("bad")), StoreOutcome.Permanent),
    ];

    public static TheoryData<string> FailureNames() => new(Failures.Select(f => f.Name));

    [Theory]
    [MemberData(nameof(FailureNames))]
    public void The_classifier_sorts_store_errors_into_conflict_unavailable_and_permanent(string name)
    {
        var (_, make, expected) = Failures.Single(f => f.Name == name);
        Assert.Equal(expected, StoreFailures.Classify(make()));
    }

    /// <summary>The errors the classifier does not settle by their own type before looking for an unreachable database.</summary>
    public static TheoryData<string> FailureNamesJudgedByReachability() =>
        new(Failures.Where(f => f.Make() is not (InconsistentStateException or ObjectDisposedException or OperationCanceledException)).Select(f => f.Name));

    [Theory]
    [MemberData(nameof(FailureNamesJudgedByReachability))]
    public void An_error_not_settled_by_its_type_is_unavailable_exactly_when_it_says_the_database_is_unreachable(string name)
    {
        var (_, make, expected) = Failures.Single(f => f.Name == name);
        Assert.Equal(expected == StoreOutcome.Unavailable, StoreFailures.IsUnavailable(make()));
    }

    [Theory]
    [InlineData("cancelled")]
    [InlineData("task cancelled over a timeout")]
    [InlineData("disposed over an io error")]
    public void Cancellation_and_disposal_are_permanent_even_over_an_unreachable_cause(string name)
    {
        var exception = Failures.Single(f => f.Name == name).Make();
        Assert.Equal(StoreOutcome.Permanent, StoreFailures.Classify(exception));
    }

    [Fact]
    public void Describe_names_the_error_type_and_message()
    {
        Assert.Equal("IOException: connection reset", StoreFailures.Describe(new IOException("connection reset")));
    }

    private static PostgresException Postgres(string sqlState) => new("message", "ERROR", "ERROR", sqlState);

    private static DeferredStoreUnavailableException StoreUnavailable() => new("task-1", TimeSpan.FromSeconds(5));

    [Fact]
    public void Jitter_takes_at_most_its_spread_off_the_one_backoff_and_the_key_and_resume_waits_use_it()
    {
        var window = new RetryWindow(Timeout.InfiniteTimeSpan, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));
        for (var retry = 1; retry <= 12; retry++)
        {
            var full = window.Backoff(retry);
            for (var i = 0; i < 100; i++)
            {
                var jittered = window.Jittered(retry);
                Assert.InRange(jittered, full * 0.8, full);
            }
        }

        // Ordering-key waits: 50 ms doubling to 1 s, 0-based; failed resumes: 250 ms doubling to 5 s, 1-based.
        Assert.InRange(Deferred.Execution.OrderingTurns.Backoff(0), TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(50));
        Assert.InRange(Deferred.Execution.OrderingTurns.Backoff(3), TimeSpan.FromMilliseconds(320), TimeSpan.FromMilliseconds(400));
        Assert.InRange(Deferred.Execution.OrderingTurns.Backoff(1_000), TimeSpan.FromMilliseconds(800), TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(250), Deferred.Wakeups.ResumeRetries.Delay(1));
        Assert.Equal(TimeSpan.FromSeconds(2), Deferred.Wakeups.ResumeRetries.Delay(4));
        Assert.Equal(TimeSpan.FromSeconds(5), Deferred.Wakeups.ResumeRetries.Delay(40));
    }
}
