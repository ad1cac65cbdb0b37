namespace Deferred;

// The exceptions name the option property (e.g. "Delay"), which tells the caller more than "options" would.
#pragma warning disable CA2208

/// <summary>Boundary checks shared by <see cref="IDeferredTasks"/> and the task grain.</summary>
internal static class DeferredEnqueueOptionsValidation
{
    /// <summary>
    /// The furthest ahead a task may be scheduled: 100 years. Later times are refused at enqueue, naming the option,
    /// rather than failing somewhere inside the silo with an unrepresentable date.
    /// </summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromDays(36_500);

    /// <summary>The longest <see cref="DeferredEnqueueOptions.OrderingKey"/>: 200 characters.</summary>
    public const int MaxOrderingKeyLength = 200;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first bad option; does nothing for null.</summary>
    /// <param name="options">The options to check.</param>
    /// <exception cref="ArgumentOutOfRangeException">Delay is negative, or MaxAttempts is below 1.</exception>
    /// <exception cref="ArgumentException">Delay and RunAt are both set, TaskId is malformed, or OrderingKey is empty, blank or too long.</exception>
    public static void ThrowIfInvalid(DeferredEnqueueOptions? options)
    {
        if (options is null)
        {
            return;
        }

        if (options.Delay is { } delay && delay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(DeferredEnqueueOptions.Delay), delay, $"DeferredEnqueueOptions.Delay is {delay}; it must not be negative. Use TimeSpan.Zero to run now.");
        }

        if (options.Delay is { } far && far > MaxDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(DeferredEnqueueOptions.Delay), far, $"DeferredEnqueueOptions.Delay is {far}; it must be at most {MaxDelay.TotalDays:0} days.");
        }

        if (options.RunAt is { } runAt && runAt.UtcDateTime > DateTime.UtcNow + MaxDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(DeferredEnqueueOptions.RunAt), runAt, $"DeferredEnqueueOptions.RunAt is {runAt:O}; it must be at most {MaxDelay.TotalDays:0} days from now.");
        }

        if (options.Delay is not null && options.RunAt is not null)
        {
            throw new ArgumentException("DeferredEnqueueOptions.Delay and RunAt are both set; set one of them.", nameof(DeferredEnqueueOptions.RunAt));
        }

        if (options.MaxAttempts is { } max && max < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(DeferredEnqueueOptions.MaxAttempts), max, $"DeferredEnqueueOptions.MaxAttempts is {max}; it must be at least 1.");
        }

        if (options.OrderingKey is { } key && (key.Length == 0 || key.Length > MaxOrderingKeyLength || string.IsNullOrWhiteSpace(key)))
        {
            var shown = key.Length > 40 ? key[..40] + "…" : key;
            throw new ArgumentException($"DeferredEnqueueOptions.OrderingKey '{Escaped(shown)}' ({key.Length} characters) is not valid: it must be 1 to {MaxOrderingKeyLength} characters and not blank. Use null for a task without ordering.", nameof(DeferredEnqueueOptions.OrderingKey));
        }

        if (options.OrderingKey is { } text && text.AsSpan().IndexOfAnyInRange('\0', '\u001F') is var at and >= 0)
        {
            throw new ArgumentException($"DeferredEnqueueOptions.OrderingKey holds a control character (U+{(int)text[at]:X4} at position {at}); an ordering key is plain text.", nameof(DeferredEnqueueOptions.OrderingKey));
        }

        if (options.TaskId is not null && DeferredTaskId.Validate(options.TaskId) is { } problem)
        {
            throw new ArgumentException($"DeferredEnqueueOptions.TaskId {DeferredTaskId.Quoted(options.TaskId)} is not valid: {problem}.", nameof(DeferredEnqueueOptions.TaskId));
        }
    }

    // A value shown in a message: control characters as \u escapes, so a message never carries them to a terminal.
    private static string Escaped(string value)
    {
        if (value.AsSpan().IndexOfAnyInRange('\0', '\u001F') < 0)
        {
            return value;
        }

        var builder = new System.Text.StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            builder.Append(c < ' ' ? $"\\u{(int)c:X4}" : c.ToString());
        }

        return builder.ToString();
    }
}
