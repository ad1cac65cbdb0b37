using System.Globalization;
using Deferred.Storage.Migrations;
using Microsoft.Extensions.Logging;

// deferred: Deferred's schema from the command line, for users of the packages (no repository needed).
//
//   deferred migrate [--connection CS]        apply the migrations the database lacks (CS, or DEFERRED_CONNECTION)
//   deferred migrate --script [--from N]      print the migrations after version N as one SQL script (no database)
//   deferred version                          the schema version this build needs
//
// Exit codes: 0 done, 1 the database refused or failed, 2 bad arguments.
const string Usage = "Usage: deferred migrate [--connection CS] | deferred migrate --script [--from N] | deferred version";

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.Error.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

switch (args[0])
{
    case "version":
        Console.Out.WriteLine(DeferredSchema.LatestVersion.ToString(CultureInfo.InvariantCulture));
        return 0;

    case "migrate" when args.Contains("--script"):
    {
        var from = 0;
        var at = Array.IndexOf(args, "--from");
        if (at >= 0 && (at + 1 >= args.Length || !int.TryParse(args[at + 1], CultureInfo.InvariantCulture, out from)))
        {
            Console.Error.WriteLine("deferred migrate --script: --from needs the database's schema version (a whole number; 0 for an empty database).");
            return 2;
        }

        try
        {
            Console.Out.Write(DeferredSchema.Script(from));
            return 0;
        }
        catch (ArgumentOutOfRangeException ex)
        {
            Console.Error.WriteLine($"deferred migrate --script: {ex.Message.Split(Environment.NewLine)[0]}");
            return 2;
        }
    }

    case "migrate":
    {
        var at = Array.IndexOf(args, "--connection");
        var connectionString = at >= 0 && at + 1 < args.Length ? args[at + 1] : Environment.GetEnvironmentVariable("DEFERRED_CONNECTION");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            Console.Error.WriteLine("deferred migrate: no connection string; pass --connection \"Host=...;Database=...;Username=...\" or set DEFERRED_CONNECTION.");
            return 2;
        }

        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        try
        {
            var applied = await DeferredSchema.MigrateAsync(connectionString, loggers.CreateLogger("Deferred.Migrations"));
            Console.Error.WriteLine($"deferred migrate: schema at version {DeferredSchema.LatestVersion} ({applied.Count} applied now)");
            return 0;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
        {
            // One line that says what failed; the connection string is not echoed (it may hold a password).
            Console.Error.WriteLine($"deferred migrate: failed: {ex.Message}");
            return 1;
        }
    }

    default:
        Console.Error.WriteLine($"deferred: unknown command '{args[0]}'. {Usage}");
        return 2;
}
