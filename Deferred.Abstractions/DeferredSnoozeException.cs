namespace Deferred;

/// <summary>
/// Thrown by a handler to run its task again later without the attempt counting as failed: the task keeps its attempts
/// and its last error, waits until the time given, and then runs as before. Use it when the task cannot do its work yet
/// (a partner's window is closed, a resource is busy, the data it needs has not arrived).
/// </summary>
/// <remarks>
/// <para>
/// A snooze is bounded: each task may snooze <c>DeferredOptions.MaxSnoozes</c> times (100 by default); the snooze
/// beyond that counts as a failed attempt with the error type <c>Deferred.SnoozeLimit</c>, which the retry policy
/// handles like any failure (an operator's retry of a dead task gives it a fresh count). The count is in
/// <see cref="DeferredTaskContext.Snoozes"/> and <see cref="DeferredTaskInfo.Snoozes"/>.
/// </para>
/// <para>
/// A transactional handler's transaction is rolled back when it snoozes: what it wrote in it is not stored. Filters see
/// this exception like any other the handler throws.
/// </para>
/// </remarks>
public sealed class DeferredSnoozeException : Exception
{
    /// <summary>Runs the task again after <paramref name="delay"/>.</summary>
    /// <param name="delay">How long to wait; zero runs it again at once (after other due tasks), at most 100 years.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is negative or more than 100 years.</exception>
    public DeferredSnoozeException(TimeSpan delay)
        : base($"The task snoozed for {delay}.")
    {
        if (delay < TimeSpan.Zero || delay > DeferredEnqueueOptionsValidation.MaxDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(delay), delay, $"A snooze must be between zero and {DeferredEnqueueOptionsValidation.MaxDelay.TotalDays:0} days.");
        }

        Delay = delay;
    }

    /// <summary>Runs the task again at <paramref name="until"/> (at once when that has passed).</summary>
    /// <param name="until">When to run it again, at most 100 years from now.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="until"/> is more than 100 years from now.</exception>
    public DeferredSnoozeException(DateTimeOffset until)
        : base($"The task snoozed until {until:O}.")
    {
        if (until.UtcDateTime > DateTime.UtcNow + DeferredEnqueueOptionsValidation.MaxDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(until), until, $"A snooze must end within {DeferredEnqueueOptionsValidation.MaxDelay.TotalDays:0} days.");
        }

        Until = until;
    }

    /// <summary>The wait asked for, when the snooze was given as a delay; otherwise null.</summary>
    public TimeSpan? Delay { get; }

    /// <summary>The time asked for, when the snooze was given as a time; otherwise null.</summary>
    public DateTimeOffset? Until { get; }

    /// <summary>When the task runs again, for a snooze that ends <paramref name="now"/>.</summary>
    /// <param name="now">The time the snooze is recorded.</param>
    /// <returns>The later of <paramref name="now"/> and the time asked for.</returns>
    public DateTimeOffset RunAt(DateTimeOffset now) => Until is { } until ? (until > now ? until : now) : now + Delay!.Value;
}
