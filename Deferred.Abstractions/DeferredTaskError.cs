namespace Deferred;

/// <summary>The error recorded for a failed attempt.</summary>
[GenerateSerializer, Immutable, Alias("deferred.error.v1")]
public sealed record DeferredTaskError
{
    /// <summary>The exception's full type name, or a reason code such as <c>Deferred.UnknownTaskType</c>.</summary>
    [Id(0)] public required string Type { get; init; }

    /// <summary>The exception's message.</summary>
    [Id(1)] public required string Message { get; init; }

    /// <summary>The stack trace, trimmed to a bounded length; null when there is none.</summary>
    [Id(2)] public string? StackTrace { get; init; }

    /// <summary>Which attempt failed.</summary>
    [Id(3)] public int Attempt { get; init; }

    /// <summary>When the attempt failed.</summary>
    [Id(4)] public DateTimeOffset At { get; init; }
}
