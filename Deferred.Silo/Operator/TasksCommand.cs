using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Deferred.Silo.Operator;

/// <summary>
/// <c>tasks list|show|retry|run-now|cancel|delete|purge|stats|action</c>: connects to the sample silo's cluster as an Orleans client
/// and runs one <see cref="TaskVerbs">verb</see> through <see cref="IDeferredTaskOperator"/>. The cluster is found the
/// way <see cref="SiloHost"/> forms it, from appsettings.json and environment variables (not the command line, whose
/// options are the verb's): <c>Orleans:ClusteringMode</c> <c>Localhost</c> (default; the gateway on 127.0.0.1 at
/// <c>Orleans:GatewayPort</c>, 30000) or <c>AdoNet</c> (the gateways listed in the membership table of the
/// DEFERRED_PG_CONNECTION database), with <c>Orleans:ClusterId</c> and <c>Orleans:ServiceId</c>.
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

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });

        // Orleans' console logs would mix with the table or the JSON on stdout; a failure is reported as one line instead.
        builder.Logging.ClearProviders();
        var connectFailures = new ConnectRetries();
        builder.Services.AddSingleton<IClientConnectionRetryFilter>(connectFailures);
        string cluster;
        try
        {
            cluster = ConfigureClient(builder);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"tasks {request.Verb}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.BadUsage;
        }

        using var host = builder.Build();
        try
        {
            using var connecting = new CancellationTokenSource(ConnectTimeout);
            await host.StartAsync(connecting.Token);
        }
        catch (Exception ex)
        {
            // Whatever the cause (no silo listening, no gateway in the membership table, database down, timeout), the
            // answer is the same: nothing was done. The connection string is not echoed (it may hold a password).
            var cause = connectFailures.Last ?? ex;
            Console.Error.WriteLine($"tasks {request.Verb}: cannot connect to the cluster ({cluster}): {TaskOutput.OneLine(cause.Message)}");
            return TaskVerbs.Refused;
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
            var tasks = host.Services.GetRequiredService<IDeferredTaskOperator>();
            return await TaskVerbs.RunAsync(tasks, request, Console.Out, Console.Error, interrupted.Token);
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            Console.Error.WriteLine($"tasks {request.Verb}: interrupted; a change already sent may still be carried out");
            return TaskVerbs.Refused;
        }
        catch (Exception ex)
        {
            // Anything TaskVerbs does not expect still ends as one line and "not done", not a stack trace.
            Console.Error.WriteLine($"tasks {request.Verb}: failed: {ex.GetType().Name}: {TaskOutput.OneLine(ex.Message)}");
            return TaskVerbs.Refused;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;

            // Closing the connection cannot change what was done, so a slow or failed close does not change the exit code.
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Sets up the Orleans client like <see cref="SiloHost"/> sets up the silo; returns where it connects, for messages.</summary>
    private static string ConfigureClient(HostApplicationBuilder builder)
    {
        var orleans = builder.Configuration.GetSection("Orleans");
        var clustering = orleans["ClusteringMode"] ?? "Localhost";
        var serviceId = orleans["ServiceId"] ?? "deferred";
        var clusterId = orleans["ClusterId"] ?? "deferred";
        if (string.Equals(clustering, "AdoNet", StringComparison.OrdinalIgnoreCase))
        {
            var connectionString = SiloHost.ConnectionString(builder.Configuration);
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new ArgumentException("Orleans:ClusteringMode is AdoNet but there is no connection string; set DEFERRED_PG_CONNECTION or Deferred:ConnectionString");
            }

            builder.UseOrleansClient(client =>
            {
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = connectionString;
                });
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = serviceId;
                });
                client.AddDeferredTasksClient();
            });
            return $"AdoNet clustering, ClusterId '{clusterId}', ServiceId '{serviceId}'";
        }

        if (string.Equals(clustering, "Localhost", StringComparison.OrdinalIgnoreCase))
        {
            var gatewayPort = orleans.GetValue("GatewayPort", 30000);
            builder.UseOrleansClient(client =>
            {
                client.UseLocalhostClustering(gatewayPort, serviceId, clusterId);
                client.AddDeferredTasksClient();
            });
            return $"Localhost clustering, gateway 127.0.0.1:{gatewayPort}, ClusterId '{clusterId}', ServiceId '{serviceId}'";
        }

        throw new ArgumentException($"Orleans:ClusteringMode '{clustering}' is not known; use Localhost or AdoNet");
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
