using Deferred.Options;
using Microsoft.Extensions.Options;

namespace Deferred.Execution;

/// <summary>Turns an exception into the bounded <see cref="DeferredTaskError"/> that is stored.</summary>
internal sealed class ErrorFormatter(IOptions<DeferredTasksOptions> options, TimeProvider time)
{
    private const int MaxMessageLength = 2_000;
    private readonly int _maxStack = options.Value.MaxStoredStackTraceLength;

    public DeferredTaskError From(Exception exception, int attempt) => new()
    {
        Type = exception.GetType().FullName ?? exception.GetType().Name,
        Message = Trim(exception.Message, MaxMessageLength),
        StackTrace = exception.StackTrace is { } stack && _maxStack > 0 ? Trim(stack, _maxStack) : null,
        Attempt = attempt,
        At = time.GetUtcNow(),
    };

    private static string Trim(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}
