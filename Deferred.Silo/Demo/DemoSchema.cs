using Npgsql;

namespace Deferred.Silo.Demo;

/// <summary>
/// The sample's own table, <c>demo_completions</c> (<c>Sql/create-ledger.sql</c>). It is not part of Deferred's
/// schema: the product migrations do not create it (0010 drops the copy 0006 made), so the sample creates it
/// itself before it enqueues or records a sample task, and grants on it itself.
/// </summary>
internal static class DemoSchema
{
    private static readonly string CreateSql = Load("create-ledger");
    private static readonly string GrantSql = Load("grant-ledger");

    /// <summary>Creates the ledger if it is missing. Idempotent; safe to run from several processes at once.</summary>
    public static async Task EnsureCreatedAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(CreateSql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Creates the ledger if it is missing, on its own unpooled connection.</summary>
    public static async Task EnsureCreatedAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false });
        await EnsureCreatedAsync(dataSource, cancellationToken);
    }

    /// <summary>
    /// Creates the ledger if it is missing and lets <paramref name="role"/> record and count completions in it.
    /// Run by the owner of the tables, after Deferred's role script created the role (which validates the name).
    /// </summary>
    public static async Task GrantAsync(string ownerConnectionString, string role, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(ownerConnectionString) { Pooling = false });
        await EnsureCreatedAsync(dataSource, cancellationToken);
        await using var command = dataSource.CreateCommand(GrantSql);
        command.Parameters.AddWithValue("role", role);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>An embedded statement from <c>Demo/Sql/</c>.</summary>
    public static string Load(string name)
    {
        using var stream = typeof(DemoSchema).Assembly.GetManifestResourceStream($"Deferred.Silo.Demo.{name}.sql")
            ?? throw new InvalidOperationException($"Embedded SQL '{name}.sql' is missing; the build is broken.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
