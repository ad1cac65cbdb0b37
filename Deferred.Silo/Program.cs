using Deferred;
using Deferred.Silo;
using Deferred.Silo.Demo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Commands:
//   (none)                 run a silo until Ctrl-C
//   migrate                apply the database migrations and exit; --script [--from N] prints them as SQL instead
//   demo --tasks N [...]   run a silo, enqueue N sample tasks, wait until none is pending (see DemoCommand)
//   chaos-client [...]     an Orleans client that enqueues a paced stream of sample tasks (see ChaosClientCommand)
//   chaos-bulk-client [...] an Orleans client that makes tasks dead and bulk-retries them under kills (see ChaosBulkCommand)
//   tasks VERB [...]       an Orleans client that lists, shows, retries, cancels, deletes, purges or counts tasks (see TasksCommand)
var command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "run";
var rest = command == "run" && (args.Length == 0 || args[0].StartsWith('-')) ? args : args[1..];

switch (command)
{
    case "run":
        using (var host = SiloHost.CreateBuilder(rest).Build())
        {
            try
            {
                await host.RunAsync();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Orleans and the generic host have logged the failure with its stack already; the process ends with
                // one plain line saying why, not with the runtime's unhandled-exception dump of the same stack.
                Console.Error.WriteLine($"silo: failed to start: {StartFailure(ex)}");
                return 1;
            }
        }

        return 0;

    case "migrate":
    {
        if (rest.Contains("--script"))
        {
            // For a DBA: the SQL, to review and apply; nothing is connected to. --from N: the database's version.
            var from = 0;
            var at = Array.IndexOf(rest, "--from");
            if (at >= 0 && (at + 1 >= rest.Length || !int.TryParse(rest[at + 1], System.Globalization.CultureInfo.InvariantCulture, out from)))
            {
                Console.Error.WriteLine("migrate --script: --from needs the database's schema version (a whole number; 0 for an empty database).");
                return 2;
            }

            try
            {
                Console.Out.Write(DeferredSchema.Script(from));
            }
            catch (ArgumentOutOfRangeException ex)
            {
                Console.Error.WriteLine($"migrate --script: {ex.Message.Split(Environment.NewLine)[0]}");
                return 2;
            }

            return 0;
        }

        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(rest)
            .Build();
        var connectionString = SiloHost.ConnectionString(configuration);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Console.Error.WriteLine("migrate: no connection string; set DEFERRED_PG_CONNECTION or Deferred:ConnectionString.");
            return 2;
        }

        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        IReadOnlyList<DeferredMigration> applied;
        try
        {
            applied = await DeferredSchema.MigrateAsync(connectionString, loggerFactory.CreateLogger("Deferred.Migrations"));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
        {
            // One line that says what failed; the connection string is not echoed (it may hold a password).
            Console.Error.WriteLine($"migrate: failed: {ex.Message}");
            return 1;
        }

        Console.Error.WriteLine($"migrate: schema at version {DeferredSchema.LatestVersion} ({applied.Count} applied now)");
        return 0;
    }

    case "create-role":
    {
        // create-role --role NAME: the least-privilege role a silo can run under. The password comes from
        // DEFERRED_ROLE_PASSWORD (never the command line, which other users can see).
        var role = rest.Length == 2 && rest[0] == "--role" ? rest[1] : null;
        if (role is null)
        {
            Console.Error.WriteLine("create-role: usage: create-role --role NAME (password from DEFERRED_ROLE_PASSWORD)");
            return 2;
        }

        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        var connectionString = SiloHost.ConnectionString(configuration);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Console.Error.WriteLine("create-role: no connection string; set DEFERRED_PG_CONNECTION (an owner of the tables).");
            return 2;
        }

        try
        {
            await DeferredRoles.CreateAppRoleAsync(connectionString, role, Environment.GetEnvironmentVariable("DEFERRED_ROLE_PASSWORD"));

            // The sample's own table is not Deferred's: this host creates it and grants on it itself, so a silo
            // under the role can still run the demo tasks (record and count completions).
            await DemoSchema.GrantAsync(connectionString, role, CancellationToken.None);
        }
        catch (Exception ex) when (ex is ArgumentException or Npgsql.NpgsqlException)
        {
            Console.Error.WriteLine($"create-role: failed: {ex.Message}");
            return 1;
        }

        Console.Error.WriteLine($"create-role: role {role} can read and write Deferred's tables and the demo's demo_completions, and run no DDL");
        return 0;
    }

    case "demo":
        return await DemoCommand.RunAsync(rest);

    case "chaos-client":
        return await Deferred.Silo.Chaos.ChaosClientCommand.RunAsync(rest);

    case "chaos-bulk-client":
        return await Deferred.Silo.Chaos.ChaosBulkCommand.RunAsync(rest);

    case "tasks":
        return await Deferred.Silo.Operator.TasksCommand.RunAsync(rest);

    default:
        Console.Error.WriteLine($"Unknown command '{command}'. Use: run (default), migrate, demo --tasks N [--ack-log PATH], create-role --role NAME, chaos-client --tasks N --run-id ID --ack-log PATH, chaos-bulk-client --tasks N --run-id ID --out DIR, tasks list|show|retry|run-now|cancel|delete|purge|stats [...].");
        return 2;
}

// The innermost message that says why (Orleans wraps a lifecycle participant's exception), on one line.
static string StartFailure(Exception error)
{
    var e = error;
    while (e is AggregateException { InnerExceptions.Count: 1 } or Orleans.Runtime.OrleansLifecycleCanceledException && e.InnerException is not null)
    {
        e = e.InnerException!;
    }

    return e.Message.ReplaceLineEndings(" ");
}
