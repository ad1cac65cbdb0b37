namespace Deferred.Dashboard.Api;

/// <summary>
/// Shares one count query among all open dashboards: a count younger than <see cref="MaxAge"/> is reused, and
/// concurrent requests wait for the one query in flight. However many pages poll, the database sees at most one
/// count per <see cref="MaxAge"/> from this host. An action clears it, so its effect shows at the next refresh.
/// </summary>
internal sealed class CountsCache(TimeProvider time)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(2);

    private readonly Lock _lock = new();
    private Task<CountsResult>? _current;
    private DateTimeOffset _startedAt;

    public Task<CountsResult> GetAsync(IDeferredTaskOperator operations)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_current is { } current && !current.IsFaulted && !current.IsCanceled && now - _startedAt < MaxAge)
            {
                return current;
            }

            _startedAt = now;
            return _current = CountAsync(operations);
        }
    }

    public void Invalidate()
    {
        lock (_lock)
        {
            _current = null;
        }
    }

    private async Task<CountsResult> CountAsync(IDeferredTaskOperator operations)
    {
        var started = time.GetTimestamp();

        // Not the request's token: the query is shared with other requests that may still want it.
        var counts = await operations.CountAsync(CancellationToken.None).ConfigureAwait(false);
        return new CountsResult(counts, time.GetUtcNow(), time.GetElapsedTime(started));
    }
}

/// <summary>One count of the stored tasks, when it was taken and how long it took.</summary>
internal sealed record CountsResult(IReadOnlyList<DeferredTaskCount> Counts, DateTimeOffset CountedAt, TimeSpan Took);
