using Deferred.Diagnostics;
using Deferred.Storage.Migrations;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// Refuses to start a silo on a database whose schema is older than this build needs, with a message that says
/// how to migrate, instead of failing later inside a storage provider with a missing-table error.
/// </summary>
/// <remarks>
/// A database that is unreachable only for a moment (restarting, failing over) is waited for, for up to
/// <see cref="StartupWait"/>, so a silo restarted during a database restart still comes up.
/// </remarks>
internal sealed class SchemaCheck(IDeferredTaskCatalog catalog, TimeProvider time, ILogger<SchemaCheck> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchemaCheck), ServiceLifecycleStage.RuntimeInitialize, CheckAsync);

    /// <summary>How long start-up waits for an unreachable database before it gives up.</summary>
    public static readonly TimeSpan StartupWait = TimeSpan.FromSeconds(30);

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        int version;
        var deadline = time.GetUtcNow() + StartupWait;
        var delay = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                version = await catalog.GetSchemaVersionAsync(cancellationToken);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && StoreFailures.IsUnavailable(ex) && time.GetUtcNow() + delay < deadline)
            {
                DeferredLog.SchemaWaiting(logger, StoreFailures.Describe(ex));
                await Task.Delay(delay, time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new InvalidOperationException(
                    $"Deferred could not read its schema version from PostgreSQL ({ex.Message}). Check DeferredTasksOptions.ConnectionString " +
                    "(Deferred:ConnectionString or DEFERRED_PG_CONNECTION) and that the server is running; `scripts/postgres.sh start` starts the local one.",
                    ex);
            }
        }

        if (version < DeferredSchema.LatestVersion)
        {
            throw new InvalidOperationException(
                $"The Deferred database schema is at version {version}; this build needs {DeferredSchema.LatestVersion}. " +
                "Apply the migrations first: `scripts/postgres.sh start` for the local instance, or `dotnet Deferred.Silo.dll migrate` with the same connection string.");
        }

        DeferredLog.SchemaReady(logger, version);
    }
}
