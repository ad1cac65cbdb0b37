using System.Globalization;
using Deferred.Diagnostics;
using Deferred.Storage.Migrations;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// Refuses to start a silo on a database whose schema is older than this build needs, with a message that says
/// how to migrate, instead of failing later inside a storage provider with a missing-table error. A database that is
/// unreachable only for a moment (restarting, failing over) is waited for (<see cref="StoreWindow.SchemaCheck"/>), so a
/// silo restarted during a database restart still comes up.
/// </summary>
internal sealed class SchemaCheck(DeferredDatabase database, StoreResilience resilience, ILogger<SchemaCheck> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchemaCheck), ServiceLifecycleStage.RuntimeInitialize, CheckAsync);

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        var version = 0;
        var result = await resilience.RunAsync(StoreWindow.SchemaCheck, "silo", "schema check", async () => version = await ReadVersionAsync(cancellationToken), cancellationToken);
        if (!result.Applied)
        {
            throw new InvalidOperationException(
                $"Deferred could not read its schema version from PostgreSQL ({StoreFailures.Describe(result.Error!)}). Check DeferredTasksOptions.ConnectionString " +
                "(Deferred:ConnectionString or DEFERRED_PG_CONNECTION) and that the server is running; `scripts/postgres.sh start` starts the local one.",
                result.Error);
        }

        if (version < DeferredSchema.LatestVersion)
        {
            throw new InvalidOperationException(
                $"The Deferred database schema is at version {version}; this build needs {DeferredSchema.LatestVersion}. " +
                "Apply the migrations first: `scripts/postgres.sh start` for the local instance, or `dotnet Deferred.Silo.dll migrate` with the same connection string.");
        }

        DeferredLog.SchemaReady(logger, version);
    }

    private Task<int> ReadVersionAsync(CancellationToken cancellationToken) => ReadVersionAsync(database, cancellationToken);

    /// <summary>The highest applied migration, or 0 when none is.</summary>
    public static async Task<int> ReadVersionAsync(DeferredDatabase database, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.SchemaVersion);
            return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }
}
