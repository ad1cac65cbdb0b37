using System.Net.Sockets;
using Npgsql;
using Orleans.Storage;

namespace Deferred.Storage.Resilience;

/// <summary>How a store operation ended, as the one classifier sees it.</summary>
internal enum StoreOutcome
{
    /// <summary>It took effect.</summary>
    Applied,

    /// <summary>The row was not at the version this activation read (or already existed): re-read, then decide again.</summary>
    VersionConflict,

    /// <summary>The database could not be reached (down, restarting, failing over, out of connections): retry later.</summary>
    Unavailable,

    /// <summary>Any other error: retrying will not help.</summary>
    Permanent,
}

/// <summary>The one classifier of store errors, shared by every retry window.</summary>
internal static class StoreFailures
{
    /// <summary>Classifies an exception thrown by a store operation.</summary>
    public static StoreOutcome Classify(Exception exception) => exception switch
    {
        InconsistentStateException => StoreOutcome.VersionConflict,
        DeferredStoreUnavailableException => StoreOutcome.Unavailable,
        ObjectDisposedException or OperationCanceledException => StoreOutcome.Permanent,
        _ when IsUnavailable(exception) => StoreOutcome.Unavailable,
        _ => StoreOutcome.Permanent,
    };

    /// <summary>True when the exception (or one it wraps) says the database is unreachable.</summary>
    public static bool IsUnavailable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case DeferredStoreUnavailableException:
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

    /// <summary>
    /// Awaits a call to a task's grain. A grain that cannot load its row (the store is down) fails in activation, which
    /// Orleans reports as an <see cref="Orleans.Runtime.OrleansException"/> around the storage's
    /// <see cref="DeferredStoreUnavailableException"/>; callers get the typed exception itself, as from an active grain.
    /// </summary>
    public static async Task<T> UnwrapActivationFailureAsync<T>(Task<T> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call.WaitAsync(cancellationToken);
        }
        catch (Orleans.Runtime.OrleansException ex) when (ex.InnerException is DeferredStoreUnavailableException unavailable)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unavailable);
            throw;
        }
    }

    /// <summary>A short description for logs: the error type and text, never a connection string.</summary>
    public static string Describe(Exception exception) => $"{exception.GetType().Name}: {exception.Message}";
}
