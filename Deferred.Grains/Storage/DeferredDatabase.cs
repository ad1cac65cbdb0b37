using Deferred.Options;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime;

namespace Deferred.Storage;

/// <summary>
/// The one <see cref="NpgsqlDataSource"/> (and so the one connection pool) that task state, reminders and the
/// catalog share on a silo.
/// </summary>
internal sealed class DeferredDatabase : IAsyncDisposable, IDisposable
{
    public DeferredDatabase(IOptions<DeferredTasksOptions> options)
    {
        var connectionString = options.Value.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new OrleansConfigurationException(
                "DeferredTasksOptions.ConnectionString is not set; set it in AddDeferredTasks(o => o.ConnectionString = ...) or, when AddDeferredTasks binds configuration, as Deferred:ConnectionString (environment: Deferred__ConnectionString).");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            // The message names the bad keyword; the connection string itself is not repeated (it may hold a password).
            throw new OrleansConfigurationException($"DeferredTasksOptions.ConnectionString is not a valid Npgsql connection string: {ex.Message}");
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

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();

    public void Dispose() => DataSource.Dispose();
}
