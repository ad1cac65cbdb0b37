namespace Deferred;

/// <summary>What a handler knows about the task it is running.</summary>
/// <param name="TaskId">The task's id, as returned by <see cref="IDeferredTasks.EnqueueAsync{TTask}"/>.</param>
/// <param name="TaskType">The stored name of the task type (its <c>[Alias]</c>, or its full type name).</param>
/// <param name="Attempt">This attempt's number: 1 on the first run.</param>
/// <param name="MaxAttempts">The most attempts the task gets before it is kept as dead.</param>
/// <param name="EnqueuedAt">When the task was committed.</param>
/// <param name="LastError">The previous attempt's error, or null on the first attempt.</param>
public sealed record DeferredTaskContext(
    string TaskId,
    string TaskType,
    int Attempt,
    int MaxAttempts,
    DateTimeOffset EnqueuedAt,
    DeferredTaskError? LastError)
{
    /// <summary>True when this is not the first attempt.</summary>
    public bool IsRetry => Attempt > 1;

    /// <summary>True when a failure of this attempt can still be retried.</summary>
    public bool IsLastAttempt => Attempt >= MaxAttempts;

    /// <summary>How many times the task has snoozed (<see cref="DeferredSnoozeException"/>) so far; 0 if never.</summary>
    public int Snoozes { get; init; }

    /// <summary>The runtime's sink for progress reports; null in a context made outside a silo (reports are then dropped).</summary>
    internal IDeferredProgressSink? ProgressSink { get; init; }

    // The sink's state for this attempt, made at its first report (an attempt that reports nothing allocates nothing).
    internal object? ProgressState;

    /// <summary>
    /// Reports how far this attempt is. The latest report is what <c>GetAsync</c>, the operator API, <c>tasks show</c>
    /// and the dashboard show while the attempt runs; it is stored at most once a second (the latest one wins), and cleared
    /// when the attempt ends. Cheap to call often: nothing waits for the database.
    /// </summary>
    /// <param name="fraction">From 0 to 1.</param>
    /// <param name="message">What the attempt is doing, at most <see cref="DeferredTaskProgress.MaxMessageLength"/> characters; optional.</param>
    /// <returns>A task that is already complete: the report is stored in the background.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is not a number from 0 to 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="message"/> is longer than <see cref="DeferredTaskProgress.MaxMessageLength"/>.</exception>
    public ValueTask ReportProgressAsync(double fraction, string? message = null)
    {
        if (!double.IsFinite(fraction) || fraction < 0 || fraction > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "Progress is a fraction from 0 to 1.");
        }

        if (message is { Length: > DeferredTaskProgress.MaxMessageLength })
        {
            throw new ArgumentException($"A progress message is at most {DeferredTaskProgress.MaxMessageLength} characters; this one has {message.Length}.", nameof(message));
        }

        if (message is not null && message.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A progress message cannot contain a NUL character (PostgreSQL text cannot store it).", nameof(message));
        }

        ProgressSink?.Report(this, new DeferredTaskProgress { Fraction = fraction, Message = message, At = DateTimeOffset.UtcNow });
        return ValueTask.CompletedTask;
    }
}

/// <summary>A failed attempt, as seen by an <see cref="IDeferredRetryPolicy{TTask}"/>.</summary>
/// <param name="Context">The attempt that failed.</param>
/// <param name="Exception">What the handler threw.</param>
public sealed record DeferredTaskFailure(DeferredTaskContext Context, Exception Exception);

/// <summary>What to do after a failed attempt.</summary>
public readonly record struct RetryDecision
{
    private RetryDecision(RetryDecisionKind kind, TimeSpan delay)
    {
        Kind = kind;
        Delay = delay;
    }

    /// <summary>What the decision is.</summary>
    public RetryDecisionKind Kind { get; }

    /// <summary>With <see cref="RetryDecisionKind.RetryAfter"/>: how long to wait before the next attempt.</summary>
    public TimeSpan Delay { get; }

    /// <summary>Use the silo's default backoff schedule.</summary>
    public static RetryDecision Default => new(RetryDecisionKind.Default, TimeSpan.Zero);

    /// <summary>Stop retrying; the task is kept as <see cref="DeferredTaskStatus.Dead"/>.</summary>
    public static RetryDecision GiveUp => new(RetryDecisionKind.GiveUp, TimeSpan.Zero);

    /// <summary>Retry after <paramref name="delay"/> (zero or more).</summary>
    /// <param name="delay">How long to wait; must not be negative.</param>
    /// <exception cref="ArgumentOutOfRangeException">The delay is negative.</exception>
    public static RetryDecision RetryAfter(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new(RetryDecisionKind.RetryAfter, delay);
    }
}

/// <summary>The kinds of <see cref="RetryDecision"/>.</summary>
public enum RetryDecisionKind
{
    /// <summary>Use the default schedule.</summary>
    Default,

    /// <summary>Retry after a given delay.</summary>
    RetryAfter,

    /// <summary>Do not retry.</summary>
    GiveUp,
}
