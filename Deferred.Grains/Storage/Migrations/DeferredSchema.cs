using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Deferred.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Deferred.Storage;
using Npgsql;

namespace Deferred;

/// <summary>One forward-only schema migration from <c>sql-scripts/</c>.</summary>
/// <param name="Version">The number the file name starts with.</param>
/// <param name="Name">The file name.</param>
/// <param name="Sql">The script.</param>
/// <param name="Checksum">SHA-256 of the script, recorded when applied; an applied file must never change.</param>
public sealed record DeferredMigration(int Version, string Name, string Sql, string Checksum)
{
    /// <summary>The line a migration file carries when silos of older builds may keep running on the schema it produces.</summary>
    public const string AdditiveMarker = "-- deferred: additive";

    /// <summary>
    /// True when the file says <see cref="AdditiveMarker"/>: it only adds (tables, nullable or defaulted columns,
    /// indexes), so a silo of an older build may run on the result; a silo meeting a newer migration without the marker
    /// refuses to start.
    /// </summary>
    public bool Additive => Sql.Split('\n').Any(line => line.TrimEnd() == AdditiveMarker);
}

/// <summary>
/// Applies the numbered scripts from <c>sql-scripts/</c> (embedded in this assembly) that a database lacks, each in
/// its own transaction, under a PostgreSQL advisory lock so that concurrent migrators wait for each other, and
/// records them in <c>deferred_schema_version</c>. Call it from a deployment step (or set
/// <c>DeferredOptions.ApplyMigrationsOnStart</c> to have silos call it at start); <see cref="Script"/> gives the same
/// migrations as one SQL script for a DBA. A silo checks the version at start and refuses to run on an older schema.
/// </summary>
public static partial class DeferredSchema
{
    private const string Prefix = "Deferred.Migrations.";

    // "Deferred" in ASCII, so the key is recognisable in pg_locks.
    private const long LockKey = 0x4465666572726564;

    /// <summary>Every embedded migration, in version order.</summary>
    public static IReadOnlyList<DeferredMigration> Migrations { get; } = Load();

    /// <summary>The version a database must be at for this build of Deferred.</summary>
    public static int LatestVersion => Migrations[^1].Version;

    /// <summary>Brings the database up to <see cref="LatestVersion"/>. Idempotent; safe to run from several processes at once.</summary>
    /// <param name="connectionString">An Npgsql connection string for a role that may create tables.</param>
    /// <param name="logger">Where to report applied migrations; null for none.</param>
    /// <param name="cancellationToken">Cancels between statements.</param>
    /// <returns>The migrations this call applied (empty when the schema was current).</returns>
    /// <exception cref="InvalidOperationException">An applied migration's file has changed since it was applied.</exception>
    public static async Task<IReadOnlyList<DeferredMigration>> MigrateAsync(string connectionString, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        logger ??= NullLogger.Instance;
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "deferred-migrator" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await ExecuteAsync(connection, SqlQueries.MigrationsLock, cancellationToken, ("lock_key", LockKey));
        try
        {
            await ExecuteAsync(connection, SqlQueries.MigrationsPrepare, cancellationToken);
            var applied = new Dictionary<int, (string Name, string Checksum)>();
            await using (var command = new NpgsqlCommand(SqlQueries.MigrationsApplied, connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
                }
            }

            foreach (var (version, (name, checksum)) in applied)
            {
                var migration = Migrations.FirstOrDefault(m => m.Version == version);
                if (migration is not null && migration.Checksum != checksum)
                {
                    throw new InvalidOperationException(
                        $"Migration {version} ({name}) was applied from a different file than {migration.Name} in this build. Applied migrations must never be edited; add a new numbered migration instead.");
                }
            }

            var done = new List<DeferredMigration>();
            foreach (var migration in Migrations.Where(m => !applied.ContainsKey(m.Version)))
            {
                var started = Stopwatch.GetTimestamp();
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await using (var command = new NpgsqlCommand(migration.Sql, connection, transaction))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }

                await using (var record = new NpgsqlCommand(SqlQueries.MigrationsRecord, connection, transaction))
                {
                    record.Parameters.AddWithValue("version", migration.Version);
                    record.Parameters.AddWithValue("name", migration.Name);
                    record.Parameters.AddWithValue("checksum", migration.Checksum);
                    record.Parameters.AddWithValue("additive", migration.Additive);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
                DeferredLog.MigrationApplied(logger, migration.Version, migration.Name, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                done.Add(migration);
            }

            return done;
        }
        finally
        {
            await ExecuteAsync(connection, SqlQueries.MigrationsUnlock, CancellationToken.None, ("lock_key", LockKey));
        }
    }

    /// <summary>
    /// The migrations after <paramref name="fromVersion"/> as one SQL script, for a DBA to review and apply (for example
    /// <c>psql -v ON_ERROR_STOP=1 -f deferred.sql</c>) instead of <see cref="MigrateAsync"/>: the bookkeeping table, then
    /// each migration in its own transaction with the row that records it, exactly as <see cref="MigrateAsync"/> applies
    /// them. <paramref name="fromVersion"/> is the database's current version (0 for an empty database;
    /// <c>SELECT max(version) FROM deferred_schema_version</c>).
    /// </summary>
    /// <param name="fromVersion">The version the database is at; migrations above it are included.</param>
    /// <returns>The script.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fromVersion"/> is negative or beyond <see cref="LatestVersion"/>.</exception>
    public static string Script(int fromVersion = 0)
    {
        if (fromVersion < 0 || fromVersion > LatestVersion)
        {
            throw new ArgumentOutOfRangeException(nameof(fromVersion), fromVersion, $"The database version to script from is {fromVersion}; it must be between 0 and {LatestVersion}.");
        }

        var script = new StringBuilder();
        script.Append(CultureInfo.InvariantCulture, $"-- Deferred schema: migrations {fromVersion + 1} to {LatestVersion}, generated by DeferredSchema.Script({fromVersion}).\n");
        script.Append("-- Apply as a role that may create tables, with ON_ERROR_STOP (psql -v ON_ERROR_STOP=1 -f <file>).\n\n");
        script.Append(SqlQueries.MigrationsPrepare.TrimEnd()).Append("\n\n");
        foreach (var migration in Migrations.Where(m => m.Version > fromVersion))
        {
            script.Append(CultureInfo.InvariantCulture, $"-- {migration.Name} (sha256 {migration.Checksum})\nBEGIN;\n");
            script.Append(migration.Sql.TrimEnd()).Append('\n');
            // Names match NNNN_[a-z0-9_]+.sql and checksums are hex: nothing here needs quoting beyond the quotes.
            script.Append(CultureInfo.InvariantCulture, $"INSERT INTO deferred_schema_version (version, name, checksum, additive) VALUES ({migration.Version}, '{migration.Name}', '{migration.Checksum}', {(migration.Additive ? "true" : "false")});\nCOMMIT;\n\n");
        }

        return script.ToString();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static List<DeferredMigration> Load()
    {
        var assembly = typeof(DeferredSchema).Assembly;
        var migrations = new List<DeferredMigration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..];
            var match = FileName().Match(name);
            if (!match.Success)
            {
                throw new InvalidOperationException($"Migration file '{name}' does not match NNNN_description.sql.");
            }

            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            var sql = reader.ReadToEnd();
            var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n"))));
            migrations.Add(new DeferredMigration(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), name, sql, checksum));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Migrations must be numbered 1, 2, 3, ... without gaps; found {migrations[i].Name} at position {i + 1}.");
            }
        }

        if (migrations.Count == 0)
        {
            throw new InvalidOperationException("No migrations are embedded in Deferred.Grains; the build is broken.");
        }

        return migrations;
    }

    [GeneratedRegex(@"^(\d{4})_[a-z0-9_]+\.sql$")]
    private static partial Regex FileName();
}
