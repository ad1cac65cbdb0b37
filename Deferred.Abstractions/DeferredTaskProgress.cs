namespace Deferred;

/// <summary>What a running attempt last reported of its progress (<see cref="DeferredTaskContext.ReportProgressAsync"/>).</summary>
[GenerateSerializer]
[Alias("deferred.task-progress")]
public sealed record DeferredTaskProgress
{
    /// <summary>The longest message a report may carry, in characters.</summary>
    public const int MaxMessageLength = 500;

    /// <summary>How far the attempt is, from 0 (started) to 1 (done).</summary>
    [Id(0)] public double Fraction { get; init; }

    /// <summary>What it is doing, in the handler's words; null when it said nothing.</summary>
    [Id(1)] public string? Message { get; init; }

    /// <summary>When it was reported.</summary>
    [Id(2)] public DateTimeOffset At { get; init; }
}

/// <summary>Where an attempt's progress reports go: the runtime's, set on the context it creates.</summary>
internal interface IDeferredProgressSink
{
    /// <summary>Takes <paramref name="progress"/> as the latest of the attempt <paramref name="context"/> describes.</summary>
    void Report(DeferredTaskContext context, DeferredTaskProgress progress);
}
