using System.Globalization;
using Deferred.Diagnostics;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// Refuses to start a silo on a database whose schema is older than this build needs, with a message that says
/// how to migrate, instead of failing later inside a storage provider with a missing-table error. A database that is
/// unreachable only for a moment (restarting, failing over) is waited for (<see cref="StoreWindow.SchemaCheck"/>), so a
/// silo restarted during a database restart still comes up.
/// </summary>
internal sealed class SchemaCheck(DeferredDatabase database, StoreResilience resilience, IOptions<DeferredOptions> options, ILogger<SchemaCheck> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>What every schema message says about migrating: the ways a package user has.</summary>
    internal const string HowToMigrate =
        "Migrate with DeferredSchema.MigrateAsync(connectionString) in a deployment step, set DeferredOptions.ApplyMigrationsOnStart " +
        "(Deferred:ApplyMigrationsOnStart) to let the silo do it, or apply the SQL of DeferredSchema.Script() (the sample host prints it with `migrate --script`)";

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SchemaCheck), ServiceLifecycleStage.RuntimeInitialize, CheckAsync);

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (options.Value.ApplyMigrationsOnStart)
        {
            await MigrateAsync(cancellationToken);
        }

        var version = 0;
        var result = await resilience.RunAsync(StoreWindow.SchemaCheck, "silo", "schema check", async () => version = await ReadVersionAsync(cancellationToken), cancellationToken);
        if (!result.Applied)
        {
            throw new InvalidOperationException(
                $"Deferred could not read its schema version from PostgreSQL ({StoreFailures.Describe(result.Error!)}). Check DeferredOptions.ConnectionString " +
                "(Deferred:ConnectionString when AddDeferredTasks binds configuration) and that the server is running.");

            // No inner exception: the message names the cause (and 1006 logged it), and Orleans' lifecycle logs this
            // exception three times with its whole chain; a socket stack under each said nothing more.
        }

        if (version < DeferredSchema.LatestVersion)
        {
            throw new InvalidOperationException(
                $"The Deferred database schema is at version {version}; this build needs {DeferredSchema.LatestVersion}. {HowToMigrate}.");
        }

        if (version > DeferredSchema.LatestVersion)
        {
            // A newer build has migrated (a rolling upgrade, or this silo was rolled back). It runs on only if every newer
            // migration is marked additive; otherwise it refuses, naming them.
            var breaking = await NewerBreakingAsync(cancellationToken);
            if (breaking.Count > 0)
            {
                throw new InvalidOperationException(
                    $"The Deferred database schema is at version {version}, newer than this build's {DeferredSchema.LatestVersion}, and " +
                    $"{string.Join(", ", breaking)} changed it in a way this build cannot run on. Deploy the Deferred.Orleans release that " +
                    "applied it (or a newer one) on this silo; a schema cannot be migrated back.");
            }

            DeferredLog.SchemaAhead(logger, version, DeferredSchema.LatestVersion);
        }

        DeferredLog.SchemaReady(logger, version);
    }

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var connectionString = options.Value.ConnectionString!;
        try
        {
            var result = await resilience.RunAsync(StoreWindow.SchemaCheck, "silo", "migration on start", () => DeferredSchema.MigrateAsync(connectionString, logger, cancellationToken), cancellationToken);
            if (!result.Applied)
            {
                throw result.Error!;
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new InvalidOperationException(
                $"DeferredOptions.ApplyMigrationsOnStart is on, but the silo's database role may not change the schema ({ex.MessageText}). " +
                "Nothing was half-applied (each migration runs in its own transaction). Grant the role the right to create tables, or turn " +
                "ApplyMigrationsOnStart off and migrate with a role that has it: DeferredSchema.MigrateAsync(connectionString), or the SQL of DeferredSchema.Script().",
                ex);
        }
    }

    private Task<int> ReadVersionAsync(CancellationToken cancellationToken) => ReadVersionAsync(database, cancellationToken);

    private async Task<List<string>> NewerBreakingAsync(CancellationToken cancellationToken)
    {
        var breaking = new List<string>();
        await using var command = database.DataSource.CreateCommand(SqlQueries.SchemaNewerBreaking);
        command.Parameters.AddWithValue("latest", DeferredSchema.LatestVersion);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            breaking.Add($"migration {reader.GetInt32(0)} ({reader.GetString(1)})");
        }

        return breaking;
    }

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
