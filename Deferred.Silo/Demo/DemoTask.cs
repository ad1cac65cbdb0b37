namespace Deferred.Silo.Demo;

/// <summary>The demo's sample task: it records its own completion, and some fail on their first attempt.</summary>
[GenerateSerializer, Alias("deferred.demo.task")]
public sealed record DemoTask
{
    /// <summary>The demo run that enqueued the task.</summary>
    [Id(0)] public required string RunId { get; init; }

    /// <summary>Fail the first attempt, to show a retry.</summary>
    [Id(1)] public bool FailFirstAttempt { get; init; }
}

/// <summary>
/// The sample's transactional task (<c>scripts/chaos.sh --transactional</c>): its handler records its completion in the
/// transaction that also ends the task, so a completion is in the ledger exactly once.
/// </summary>
[GenerateSerializer, Alias("deferred.demo.transactional-task")]
public sealed record DemoTransactionalTask
{
    /// <summary>The run that enqueued the task.</summary>
    [Id(0)] public required string RunId { get; init; }
}

/// <summary>The failure a <see cref="DemoTask"/> raises on purpose.</summary>
public sealed class DemoFailureException(string message) : Exception(message);
