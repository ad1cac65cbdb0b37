using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// The one <see cref="NpgsqlDataSource"/> (and so the one connection pool) that task state, reminders and the
/// catalog share on a silo.
/// </summary>
internal sealed class DeferredDatabase : IAsyncDisposable, IDisposable, Resilience.IStoreProbe
{
    public DeferredDatabase(IOptions<DeferredOptions> options)
    {
        var connectionString = options.Value.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new OrleansConfigurationException(
                "DeferredOptions.ConnectionString is not set; set it in AddDeferredTasks(o => o.ConnectionString = ...) or, when AddDeferredTasks binds configuration, as Deferred:ConnectionString (environment: Deferred__ConnectionString).");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            // The message names the bad keyword; the connection string itself is not repeated (it may hold a password).
            throw new OrleansConfigurationException($"DeferredOptions.ConnectionString is not a valid Npgsql connection string: {ex.Message}");
        }

        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "deferred";
        }

        // Deferred runs a handful of fixed statements; preparing them saves parsing and planning on every call.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 32;
        }

        DataSource = NpgsqlDataSource.Create(builder);
    }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// Runs a read whose parameters carry outside text (an operator's filter) on a connection of its own, and leaves
    /// that connection usable when the statement fails.
    /// </summary>
    /// <remarks>
    /// Npgsql 10.0.3, with automatic preparation on (<see cref="NpgsqlConnectionStringBuilder.MaxAutoPrepare"/>): when
    /// the execution that prepares a statement (its <see cref="NpgsqlConnectionStringBuilder.AutoPrepareMinUsages"/>-th
    /// use on that connection) is refused by the server (a NUL in a text parameter: 22021), the connection keeps the
    /// statement as prepared without its result description. The next use of that statement on that connection, by
    /// whoever gets it from the pool, fails with "Received unexpected backend message DataRow". Forgetting the
    /// connection's prepared statements after a refusal puts it right (reproduced with one pooled connection:
    /// <c>ConnectionPoolTests</c>). Input is validated before it gets here; this is the second line.
    /// </remarks>
    public async Task<T> ReadGuardedAsync<T>(string sql, Action<NpgsqlCommand> bind, Func<NpgsqlCommand, Task<T>> read, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        bind(command);
        try
        {
            return await read(command);
        }
        catch (PostgresException) when (connection.State == System.Data.ConnectionState.Open)
        {
            connection.UnprepareAll();
            throw;
        }
    }

    /// <inheritdoc />
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        await using var command = DataSource.CreateCommand(SqlQueries.StorePing);
        await command.ExecuteScalarAsync(cancellationToken);
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();

    public void Dispose() => DataSource.Dispose();
}
