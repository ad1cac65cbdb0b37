using Deferred.Diagnostics;
using Deferred.Storage.Migrations;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// Refuses to start a silo on a database whose schema is older than this build needs, with a message that says
/// how to migrate, instead of failing later inside a storage provider with a missing-table error.
/// </summary>
internal sealed class SchemaCheck(IDeferredTaskCatalog catalog, ILogger<SchemaCheck> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchemaCheck), ServiceLifecycleStage.RuntimeInitialize, CheckAsync);

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        int version;
        try
        {
            version = await catalog.GetSchemaVersionAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidOperationException(
                $"Deferred could not read its schema version from PostgreSQL ({ex.Message}). Check DeferredTasksOptions.ConnectionString " +
                "(Deferred:ConnectionString or DEFERRED_PG_CONNECTION) and that the server is running; `scripts/postgres.sh start` starts the local one.",
                ex);
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
