namespace Deferred.Benchmarks.Systems;

/// <summary>A task system under test: it stores tasks in PostgreSQL and runs the no-op task in this process.</summary>
internal interface IBenchSystem : IAsyncDisposable
{
    /// <summary>
    /// Starts the system. With <paramref name="seeding"/> it must accept tasks without running any (the first
    /// half of the recovery scenario): the rows it leaves are what the next process finds at start-up.
    /// </summary>
    Task StartAsync(bool seeding, CancellationToken cancellationToken);

    /// <summary>Enqueues the no-op task number <paramref name="seq"/>, delayed or not; returns once it is stored.</summary>
    Task EnqueueAsync(int seq, TimeSpan? delay, CancellationToken cancellationToken);

    /// <summary>Enqueues the no-op tasks <paramref name="from"/> .. <paramref name="from"/> + <paramref name="count"/> - 1 in one call and one commit.</summary>
    Task EnqueueBatchAsync(int from, int count, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This system has no batch enqueue.");

    /// <summary>Tasks still stored and not finished (for "until all are done": the completion must be stored too).</summary>
    Task<long> CountPendingAsync(CancellationToken cancellationToken);

    /// <summary>After a seeding run has stopped: make every stored task due now, if the system needs that.</summary>
    Task MakeDueAsync(CancellationToken cancellationToken);

    /// <summary>Stops processing (gracefully, bounded in time).</summary>
    Task StopAsync();
}
