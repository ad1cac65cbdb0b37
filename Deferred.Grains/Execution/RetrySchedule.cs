using Microsoft.Extensions.Options;

namespace Deferred.Execution;

/// <summary>Turns a failed attempt and a <see cref="RetryDecision"/> into the next run time, or none (dead).</summary>
internal sealed class RetrySchedule(IOptions<DeferredOptions> options)
{
    private readonly Func<int, TimeSpan>? _backoff = options.Value.RetryBackoff;

    /// <summary>
    /// Rage::Deferred's schedule: n^4 + 10 + random(0..14)·n seconds before retry n. Retry 1 waits 11–25 s,
    /// retry 5 about 11 min, retry 20 about 44 h; 20 retries span about 8.4 days (the sum of n^4 for n = 1..20 is 722,666 s).
    /// </summary>
    public static TimeSpan Polynomial(int retry, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        return TimeSpan.FromSeconds(Math.Pow(retry, 4) + 10 + (random.Next(0, 15) * retry));
    }

    /// <summary>The delay before retry <paramref name="retry"/> (1 after the first failure) by the default schedule.</summary>
    public TimeSpan DefaultDelay(int retry) => _backoff?.Invoke(retry) ?? Polynomial(retry, Random.Shared);

    /// <summary>
    /// When the next attempt runs after <paramref name="attemptsDone"/> failed attempts, or null when the task
    /// is out of attempts or the policy gave up.
    /// </summary>
    public DateTimeOffset? NextRun(int attemptsDone, int maxAttempts, RetryDecision decision, DateTimeOffset now)
    {
        if (attemptsDone >= maxAttempts)
        {
            return null;
        }

        return decision.Kind switch
        {
            RetryDecisionKind.GiveUp => null,
            RetryDecisionKind.RetryAfter => now + decision.Delay,
            _ => now + DefaultDelay(attemptsDone),
        };
    }
}
