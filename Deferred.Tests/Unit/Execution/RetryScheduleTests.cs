using Deferred.Execution;
using Microsoft.Extensions.Options;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class RetryScheduleTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1, 11, 25)]
    [InlineData(2, 26, 54)]
    [InlineData(5, 635, 705)]
    [InlineData(20, 160_010, 160_290)]
    public void The_default_schedule_is_polynomial_with_bounded_jitter(int retry, double minSeconds, double maxSeconds)
    {
        var random = new Random(retry);
        for (var i = 0; i < 200; i++)
        {
            Assert.InRange(RetrySchedule.Polynomial(retry, random).TotalSeconds, minSeconds, maxSeconds);
        }
    }

    [Fact]
    public void Max_attempts_is_enforced_whatever_the_policy_says()
    {
        var schedule = new RetrySchedule(Microsoft.Extensions.Options.Options.Create(new DeferredOptions()));
        Assert.Null(schedule.NextRun(3, 3, RetryDecision.RetryAfter(TimeSpan.FromSeconds(1)), Now));
        Assert.Null(schedule.NextRun(1, 3, RetryDecision.GiveUp, Now));
        Assert.Equal(Now.AddSeconds(7), schedule.NextRun(1, 3, RetryDecision.RetryAfter(TimeSpan.FromSeconds(7)), Now));
    }

    [Fact]
    public void A_configured_backoff_replaces_the_default()
    {
        var options = Microsoft.Extensions.Options.Options.Create(new DeferredOptions { RetryBackoff = n => TimeSpan.FromMinutes(n) });
        var schedule = new RetrySchedule(options);
        Assert.Equal(Now.AddMinutes(2), schedule.NextRun(2, 5, RetryDecision.Default, Now));
    }

    [Fact]
    public void A_negative_retry_delay_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryDecision.RetryAfter(TimeSpan.FromSeconds(-1)));
}
