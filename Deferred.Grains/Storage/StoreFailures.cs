using System.Net.Sockets;
using Deferred.Options;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime;
using Orleans.Storage;

namespace Deferred.Storage;

/// <summary>Tells a database that is unreachable (or restarting) apart from other storage errors.</summary>
internal static class StoreFailures
{
    public static bool IsUnavailable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg when pg.SqlState.StartsWith("08", StringComparison.Ordinal)
                                            || pg.SqlState.StartsWith("57P", StringComparison.Ordinal)
                                            || pg.SqlState.StartsWith("53", StringComparison.Ordinal):
                case NpgsqlException { IsTransient: true }:
                case SocketException:
                case IOException:
                case TimeoutException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>A short description for messages: the error type and text, never a connection string.</summary>
    public static string Describe(Exception exception) => $"{exception.GetType().Name}: {exception.Message}";
}

/// <summary>
/// Wraps the task store (either kind) at the grain-storage boundary. A read while the database is unreachable is
/// retried for up to <see cref="DeferredTasksOptions.EnqueueTimeout"/>, then fails with
/// <see cref="DeferredStoreUnavailableException"/>, as do writes that fail for that reason, so the caller gets one
/// typed, serializable exception (database exceptions cannot cross to an Orleans client) and the activation fails
/// fast instead of hanging. Version conflicts pass through untouched.
/// </summary>
internal sealed class ResilientTaskStorage(IGrainStorage inner, IOptions<DeferredTasksOptions> options, TimeProvider time) : IGrainStorage
{
    private readonly TimeSpan _readTimeout = options.Value.EnqueueTimeout;

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var started = time.GetUtcNow();
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                await inner.ReadStateAsync(stateName, grainId, grainState);
                return;
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                var waited = time.GetUtcNow() - started;
                if (waited + delay >= _readTimeout)
                {
                    throw Unavailable(grainId, waited, ex);
                }
            }

            await Task.Delay(delay, time);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        try
        {
            await inner.WriteStateAsync(stateName, grainId, grainState);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable(grainId, TimeSpan.Zero, ex);
        }
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        try
        {
            await inner.ClearStateAsync(stateName, grainId, grainState);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable(grainId, TimeSpan.Zero, ex);
        }
    }

    private static bool IsUnavailable(Exception exception) =>
        exception is not InconsistentStateException and not DeferredStoreUnavailableException && StoreFailures.IsUnavailable(exception);

    private static DeferredStoreUnavailableException Unavailable(GrainId grainId, TimeSpan waited, Exception cause) =>
        new(grainId.Key.ToString() ?? "", waited, StoreFailures.Describe(cause));
}
