// A silo that runs Deferred from its packages: it enqueues one task, waits until the handler ran, and checks in
// PostgreSQL that the task's row was deleted. Prints one line and exits 0, or says what failed and exits 1.
//
//   Deferred.Sample <connection string> [expected package version]
//
// The database must be migrated (scripts/postgres.sh start does it); the sample migrates it too, through the
// package's own migrator, as a deployment step would. Its ServiceId keeps its rows apart from any other silo's.
using System.Diagnostics;
using System.Reflection;
using Deferred;
using Deferred.Sample;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

const string ServiceId = "deferred-sample";
var timeout = TimeSpan.FromSeconds(60);

var connectionString = args.Length > 0 ? args[0] : Environment.GetEnvironmentVariable("DEFERRED_PG_CONNECTION");
if (string.IsNullOrWhiteSpace(connectionString))
{
    await Console.Error.WriteLineAsync("usage: Deferred.Sample <connection string> [expected package version] (or set DEFERRED_PG_CONNECTION)");
    return 2;
}

// The version of the Deferred.Orleans package this process loaded, so a stale package cannot pass unnoticed.
var loaded = typeof(DeferredSchema).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";
if (args.Length > 1 && args[1] != loaded)
{
    await Console.Error.WriteLineAsync($"sample: loaded Deferred {loaded}, expected {args[1]}: a stale package was restored");
    return 1;
}

await DeferredSchema.MigrateAsync(connectionString);

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton<Ran>();
builder.Services.AddDeferredDashboard();   // an ASP.NET Core host would add app.MapDeferredDashboard("/deferred")
builder.UseOrleans(silo =>
{
    // Ports of its own, so it can run beside a development silo or a test cluster.
    silo.UseLocalhostClustering(siloPort: 11411, gatewayPort: 30411, serviceId: ServiceId, clusterId: "deferred-sample");
    silo.AddDeferredTasks(o => o.ConnectionString = connectionString);
    silo.Services.AddDeferredTaskHandler<Greet, GreetHandler>();
});

using var host = builder.Build();
await host.StartAsync();
try
{
    var deferred = host.Services.GetRequiredService<IDeferredTasks>();
    var ran = host.Services.GetRequiredService<Ran>();
    var id = await deferred.EnqueueAsync(new Greet("packages"));

    using var wait = new CancellationTokenSource(timeout);
    try
    {
        await ran.WaitAsync(id, wait.Token);
    }
    catch (OperationCanceledException)
    {
        await Console.Error.WriteLineAsync($"sample: task {id} did not run within {timeout.TotalSeconds:0} s");
        return 1;
    }

    // The handler returned; the row is deleted when the success is stored, a moment later.
    await using var dataSource = NpgsqlDataSource.Create(connectionString);
    var deadline = Stopwatch.StartNew();
    while (await RowExistsAsync(dataSource, id))
    {
        if (deadline.Elapsed > timeout)
        {
            await Console.Error.WriteLineAsync($"sample: task {id} ran but its row is still stored after {timeout.TotalSeconds:0} s");
            return 1;
        }

        await Task.Delay(50);
    }

    if (await deferred.GetAsync(id) is { } info)
    {
        await Console.Error.WriteLineAsync($"sample: task {id} ran, its row is gone, but GetAsync still reports it as {info.Status}");
        return 1;
    }

    Console.WriteLine($"sample: enqueued {id}, ran, row deleted (packages {loaded})");
    return 0;
}
finally
{
    await host.StopAsync();
}

static async Task<bool> RowExistsAsync(NpgsqlDataSource dataSource, string id)
{
    await using var command = dataSource.CreateCommand("SELECT EXISTS (SELECT 1 FROM deferred_tasks WHERE service_id = $1 AND task_id = $2)");
    command.Parameters.Add(new NpgsqlParameter { Value = ServiceId });
    command.Parameters.Add(new NpgsqlParameter { Value = id });
    return (bool)(await command.ExecuteScalarAsync())!;
}
