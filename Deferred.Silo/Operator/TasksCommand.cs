using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Deferred.Silo.Operator;

/// <summary>
/// <c>tasks list|show|retry|run-now|cancel|delete|purge|stats|action</c>: connects to the sample silo's cluster as an Orleans client
/// and runs one <see cref="TaskVerbs">verb</see> through <see cref="IDeferredTaskOperator"/>; the cluster and the database
/// are found as <see cref="TasksConnection"/> says. When no silo answers, the read verbs (list, show, stats) read the
/// database instead (<see cref="DatabaseTaskOperator"/>) and say so on stderr; <c>--from-database</c> reads it without
/// asking the cluster, <c>--from-cluster</c> never falls back. The other verbs change tasks through their grains, so
/// without a silo they do nothing and exit 1 saying so.
/// </summary>
internal static class TasksCommand
{
    // A backstop: ConnectRetries gives up after three attempts, a few seconds.
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    public static async Task<int> RunAsync(string[] args)
    {
        // Bad usage is reported before anything is connected.
        if (TasksRequest.Parse(args, Console.Error) is not { } request)
        {
            return TaskVerbs.BadUsage;
        }

        TasksConnection connection;
        try
        {
            // The silo's own sources: appsettings.json next to the program, then environment variables.
            var configuration = new ConfigurationBuilder()
                .SetBasePath(AppContext.BaseDirectory)
                .AddJsonFile("appsettings.json", optional: true)
                .AddEnvironmentVariables()
                .Build();
            connection = TasksConnection.FromConfiguration(configuration);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"tasks {request.Verb}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.BadUsage;
        }

        // Ctrl+C cancels the verb (a bulk action is cancelled in the silo) instead of killing the process mid-call.
        using var interrupted = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await RunAsync(request, connection, Console.Out, Console.Error, interrupted.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs <paramref name="request"/> against the cluster (or the database) of <paramref name="connection"/>.</summary>
    public static async Task<int> RunAsync(TasksRequest request, TasksConnection connection, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        if (request.Source == ReadSource.Database)
        {
            return await FromDatabaseAsync(request, connection, stdout, stderr, $"read from the database ({connection.Database}); no silo was asked", cancellationToken);
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });

        // Orleans' console logs would mix with the table or the JSON on stdout; a failure is reported as one line instead.
        builder.Logging.ClearProviders();
        var connectFailures = new ConnectRetries();
        builder.Services.AddSingleton<IClientConnectionRetryFilter>(connectFailures);
        try
        {
            connection.ConfigureClient(builder);
        }
        catch (ArgumentException ex)
        {
            stderr.WriteLine($"tasks {request.Verb}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.BadUsage;
        }

        using var host = builder.Build();
        Exception? unreachable = null;
        try
        {
            using var connecting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connecting.CancelAfter(ConnectTimeout);
            await host.StartAsync(connecting.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Whatever the cause (no silo listening, no gateway in the membership table, database down, timeout), the
            // answer is the same: nothing was done. The connection string is not echoed (it may hold a password).
            unreachable = connectFailures.Last ?? ex;
        }

        if (unreachable is not null)
        {
            return await NoClusterAsync(request, connection, unreachable, stdout, stderr, cancellationToken);
        }

        try
        {
            var tasks = host.Services.GetRequiredService<IDeferredTaskOperator>();
            return await TaskVerbs.RunAsync(tasks, request, stdout, stderr, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stderr.WriteLine($"tasks {request.Verb}: interrupted; a change already sent may still be carried out");
            return TaskVerbs.Refused;
        }
        catch (Exception ex)
        {
            // Anything TaskVerbs does not expect still ends as one line and "not done", not a stack trace.
            stderr.WriteLine($"tasks {request.Verb}: failed: {ex.GetType().Name}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.Refused;
        }
        finally
        {
            // Closing the connection cannot change what was done, so a slow or failed close does not change the exit code.
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// No silo answered: a read verb reads the database instead (unless <c>--from-cluster</c>), saying so on stderr;
    /// any other verb is refused, saying why it needs a silo.
    /// </summary>
    private static async Task<int> NoClusterAsync(TasksRequest request, TasksConnection connection, Exception cause, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var verb = request.Verb;
        var why = $"cannot connect to the cluster ({connection.Cluster}): {TaskOutput.OneLine(cause.Message)}";
        if (!request.IsRead)
        {
            var what = verb == "action" ? "asks the silo that holds the bulk action" : "changes tasks through their grains";
            stderr.WriteLine($"tasks {verb}: {why}; nothing was done: {verb} {what}, so it needs a running silo (list, show and stats read the database without one)");
            return TaskVerbs.Refused;
        }

        if (request.Source == ReadSource.Cluster)
        {
            stderr.WriteLine($"tasks {verb}: {why} (--from-cluster: the database was not read)");
            return TaskVerbs.Refused;
        }

        if (connection.ConnectionString is null)
        {
            stderr.WriteLine($"tasks {verb}: {why}; to read the database without a silo, set DEFERRED_PG_CONNECTION or Deferred:ConnectionString");
            return TaskVerbs.Refused;
        }

        return await FromDatabaseAsync(request, connection, stdout, stderr, $"no silo answered, so this was read from the database ({connection.Database}): {why}", cancellationToken);
    }

    /// <summary>Runs a read verb on the database, after one stderr line that says so (and why).</summary>
    private static async Task<int> FromDatabaseAsync(TasksRequest request, TasksConnection connection, TextWriter stdout, TextWriter stderr, string note, CancellationToken cancellationToken)
    {
        if (connection.ConnectionString is null)
        {
            stderr.WriteLine($"tasks {request.Verb}: --from-database needs the database: set DEFERRED_PG_CONNECTION or Deferred:ConnectionString");
            return TaskVerbs.BadUsage;
        }

        DatabaseTaskOperator tasks;
        try
        {
            tasks = new DatabaseTaskOperator(connection.ConnectionString, connection.ServiceId, connection.Store);
        }
        catch (Orleans.Runtime.OrleansConfigurationException ex)
        {
            stderr.WriteLine($"tasks {request.Verb}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.BadUsage;
        }

        await using (tasks)
        {
            stderr.WriteLine($"tasks {request.Verb}: {note}");
            try
            {
                return await TaskVerbs.RunAsync(tasks, request, stdout, stderr, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                stderr.WriteLine($"tasks {request.Verb}: interrupted");
                return TaskVerbs.Refused;
            }
            catch (Exception ex)
            {
                stderr.WriteLine($"tasks {request.Verb}: failed: {ex.GetType().Name}: {TaskOutput.OneLine(ex.Message)}");
                return TaskVerbs.Refused;
            }
        }
    }

    /// <summary>
    /// A few quick connection attempts, then give up with the last attempt's error: a command line should say at once
    /// that no silo answers, not wait the way a long-running client does.
    /// </summary>
    private sealed class ConnectRetries : IClientConnectionRetryFilter
    {
        private const int MaxAttempts = 3;
        private int _attempts;

        /// <summary>Why the last attempt failed.</summary>
        public Exception? Last { get; private set; }

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            Last = exception;
            if (++_attempts >= MaxAttempts)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            return true;
        }
    }
}
