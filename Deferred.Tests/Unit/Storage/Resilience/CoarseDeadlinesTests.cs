using Deferred.Storage.Resilience;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The shared deadline tokens that replaced a timer per enqueue and per attempt timeout.</summary>
public sealed class CoarseDeadlinesTests
{
    [Fact]
    public void A_token_fires_no_earlier_than_its_deadline_and_at_most_one_slot_later()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var deadlines = new CoarseDeadlines(time);

        var token = deadlines.After(TimeSpan.FromSeconds(5));

        time.Advance(TimeSpan.FromMilliseconds(4_999));
        Assert.False(token.IsCancellationRequested);
        time.Advance(TimeSpan.FromMilliseconds(51));
        Assert.True(token.IsCancellationRequested);
    }

    [Fact]
    public void Deadlines_in_the_same_slot_share_one_token_and_a_later_slot_gets_another()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var deadlines = new CoarseDeadlines(time);

        var first = deadlines.After(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromMilliseconds(1));
        var same = deadlines.After(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromMilliseconds(100));
        var later = deadlines.After(TimeSpan.FromSeconds(1));

        Assert.Equal(first, same);
        Assert.NotEqual(first, later);
        time.Advance(TimeSpan.FromMilliseconds(950));
        Assert.True(first.IsCancellationRequested);
        Assert.False(later.IsCancellationRequested);
    }

    [Fact]
    public void A_deadline_longer_than_the_shared_range_is_refused_so_callers_keep_a_timer_of_their_own()
    {
        var deadlines = new CoarseDeadlines(new FakeTimeProvider());

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => deadlines.After(TimeSpan.FromDays(30)));
        Assert.Contains("left", error.Message);
    }
}
