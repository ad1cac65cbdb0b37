using Microsoft.Extensions.Options;

namespace Deferred.Execution;

/// <summary>Turns an exception into the bounded <see cref="DeferredTaskError"/> that is stored.</summary>
internal sealed class ErrorFormatter(IOptions<DeferredOptions> options, TimeProvider time)
{
    private const int MaxMessageLength = 2_000;
    private readonly int _maxStack = options.Value.MaxStoredStackTraceLength;

    public DeferredTaskError From(Exception exception, int attempt) => new()
    {
        Type = exception.GetType().FullName ?? exception.GetType().Name,
        Message = Storable(Trim(exception.Message, MaxMessageLength)),
        StackTrace = exception.StackTrace is { } stack && _maxStack > 0 ? Storable(Trim(stack, _maxStack)) : null,
        Attempt = attempt,
        At = time.GetUtcNow(),
    };

    private static string Trim(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    /// <summary>
    /// The text as PostgreSQL can store it: a NUL (which text and jsonb refuse; the failure's write would be refused and
    /// the task's outcome lost) and half of a surrogate pair (which is not UTF-8) become U+FFFD. Other control
    /// characters are kept as the handler wrote them; every human-readable output escapes them.
    /// </summary>
    internal static string Storable(string text)
    {
        if (text.IndexOf('\0', StringComparison.Ordinal) < 0 && !HasLoneSurrogate(text))
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] == '\0')
            {
                chars[i] = '\uFFFD';
            }
            else if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }
}
