namespace Deferred.Tests.Infrastructure;

/// <summary>Polls a condition until it holds or a deadline passes. Never a fixed sleep standing in for an outcome.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        T last;
        while (true)
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}; last value: {last}");
            }

            await poll.WaitForNextTickAsync();
        }
    }

    public static Task True(Func<Task<bool>> probe, string what, TimeSpan? timeout = null) =>
        Until(probe, ok => ok, what, timeout);
}
