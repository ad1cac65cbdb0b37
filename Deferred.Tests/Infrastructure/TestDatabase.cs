using Npgsql;

namespace Deferred.Tests.Infrastructure;

/// <summary>
/// A fresh database on the test PostgreSQL server, migrated with the project's real scripts through the real
/// migrator. The server comes from DEFERRED_PG_CONNECTION, else the private instance scripts/postgres.sh runs.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string _serverConnectionString;

    private static readonly Lazy<Task<TestDatabase>> SharedDatabase = new(() => CreateAsync(migrate: true));

    private TestDatabase(string connectionString, string name, string serverConnectionString)
    {
        _serverConnectionString = serverConnectionString;
        ConnectionString = connectionString;
        Name = name;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <summary>The connection string of the test database.</summary>
    public string ConnectionString { get; }

    public string Name { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>One migrated database for the whole run; tests isolate themselves by ServiceId within it.</summary>
    public static Task<TestDatabase> Shared
    {
        get
        {
            var task = SharedDatabase.Value;
            if (task.IsCompletedSuccessfully)
            {
                return task;
            }

            return task.ContinueWith(
                t =>
                {
                    // Dropped when the test process exits, so a run leaves no databases behind.
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => t.Result.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    return t.Result;
                },
                TaskScheduler.Default);
        }
    }

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("DEFERRED_PG_CONNECTION") is { Length: > 0 } cs
            ? cs
            : "Host=127.0.0.1;Port=54329;Username=postgres;Database=deferred;Maximum Pool Size=200";

    /// <summary>Creates a new, empty database; migrated unless <paramref name="migrate"/> is false.</summary>
    public static Task<TestDatabase> CreateAsync(bool migrate) => CreateAsync(migrate, ServerConnectionString);

    /// <summary>Creates a new, empty database on the server of <paramref name="serverConnectionString"/>.</summary>
    public static async Task<TestDatabase> CreateAsync(bool migrate, string serverConnectionString)
    {
        var server = new NpgsqlConnectionStringBuilder(serverConnectionString);
        var name = $"deferred_test_{DateTime.UtcNow:MMddHHmmss}_{Guid.NewGuid().ToString("N")[..8]}";
        var admin = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = "postgres", Pooling = false };
        try
        {
            await using var connection = new NpgsqlConnection(admin.ConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException(
                $"The tests need a PostgreSQL server ({admin.Host}:{admin.Port}). Run them through scripts/test.sh, which starts one, or set DEFERRED_PG_CONNECTION. ({ex.Message})",
                ex);
        }

        var database = new TestDatabase(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = name }.ConnectionString, name, serverConnectionString);
        if (migrate)
        {
            await DeferredSchema.MigrateAsync(database.ConnectionString);
        }

        return database;
    }

    public async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (n, v) in parameters)
        {
            command.Parameters.AddWithValue(n, v);
        }

        return (T)Convert.ChangeType((await command.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<int> ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = DataSource.CreateCommand(sql);
        foreach (var (n, v) in parameters)
        {
            command.Parameters.AddWithValue(n, v);
        }

        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Task rows stored for a service.</summary>
    public Task<long> CountTaskRowsAsync(string serviceId) =>
        ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE serviceid = @s AND graintypestring = 'deferred-task'", ("s", serviceId));

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        var admin = new NpgsqlConnectionStringBuilder(_serverConnectionString) { Database = "postgres", Pooling = false };
        try
        {
            await using var connection = new NpgsqlConnection(admin.ConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // The server may already be gone at process exit; scripts/test.sh stops it anyway.
        }
    }
}
