using Deferred.Storage;
using Npgsql;

namespace Deferred;

/// <summary>
/// The least-privilege database role a silo can run under (<c>scripts/create-role.sh</c>, <c>Deferred.Silo create-role</c>):
/// data access to Deferred's and Orleans' tables, no DDL. Run after the migrations, by a role that owns the tables.
/// </summary>
public static class DeferredRoles
{
    /// <summary>Creates <paramref name="role"/> (or updates its grants and password). Idempotent.</summary>
    /// <param name="ownerConnectionString">A connection string for the role that owns the tables.</param>
    /// <param name="role">The role to create: letters, digits and underscores, starting with a letter.</param>
    /// <param name="password">Its login password; null or empty keeps the current one (or none).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public static async Task CreateAppRoleAsync(string ownerConnectionString, string role, string? password, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ownerConnectionString);
        if (string.IsNullOrEmpty(role) || role.Length > 63 || !char.IsAsciiLetterLower(role[0]) || !role.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"Role name '{role}' is not valid: use 1-63 lowercase letters, digits and underscores, starting with a letter.", nameof(role));
        }

        await using var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(ownerConnectionString) { Pooling = false });
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(SqlQueries.AppRole, connection, transaction);
        command.Parameters.AddWithValue("role", role);
        command.Parameters.Add(new NpgsqlParameter("password", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)password ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}
