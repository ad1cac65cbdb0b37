using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>
/// LISTEN on a connection of its own for tasks app code commits in its own transactions (tasks-notify.sql). The
/// connection can be killed (a database restart, an idle-session timeout, an operator): the notification listener
/// (Recovery/NotificationListener) opens it again with the one
/// backoff of the Claim window, and the periodic sweep covers whatever was signalled meanwhile, so a lost
/// notification delays a task by at most one sweep interval, never strands it.
/// </summary>
internal sealed class PostgresNewTaskSignal(DeferredDatabase database, IOptions<ClusterOptions> cluster) : INewTaskSignal
{
    private readonly string _serviceId = cluster.Value.ServiceId;

    /// <summary>The backend process id of the listening connection, while there is one (for tests and diagnostics).</summary>
    public int? ListenerProcessId { get; private set; }

    public async Task ListenOnceAsync(Action onNewTasks, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
            connection.Notification += (_, e) =>
            {
                if (e.Payload == _serviceId)
                {
                    onNewTasks();
                }
            };
            await using (var listen = new NpgsqlCommand(SqlQueries.TasksListen, connection))
            {
                await listen.ExecuteNonQueryAsync(cancellationToken);
            }

            ListenerProcessId = connection.ProcessID;

            // Anything committed while no connection listened: let the sweep look once.
            onNewTasks();
            while (true)
            {
                await connection.WaitAsync(cancellationToken);
            }
        }
        finally
        {
            ListenerProcessId = null;
        }
    }
}
