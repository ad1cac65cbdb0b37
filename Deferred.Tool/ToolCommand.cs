using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Deferred.Tool;

/// <summary>
/// The <c>deferred</c> command: Deferred's schema from the command line, for users of the packages (no repository needed).
/// <code>
///   deferred migrate [--connection CS]        apply the migrations the database lacks (CS, or DEFERRED_CONNECTION)
///   deferred migrate --script [--from N]      print the migrations after version N as one SQL script (no database)
///   deferred version                          the tool's version and the schema version it migrates to: deferred 0.1.0 (schema 17)
///   deferred version --schema                 only the schema version, for scripts: 17
/// </code>
/// Exit codes: 0 done, 1 the database refused or failed, 2 bad arguments.
/// </summary>
internal static class ToolCommand
{
    public const string Usage = "Usage: deferred migrate [--connection CS] | deferred migrate --script [--from N] | deferred version [--schema]";

    /// <summary>The package version the tool was built as (0.1.0, 0.1.0-local.20260101120000), without the commit.</summary>
    public static string ToolVersion =>
        typeof(ToolCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(ToolCommand).Assembly.GetName().Version?.ToString(3)
        ?? "unknown";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            stderr.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        switch (args[0])
        {
            case "version" when args.Length == 1:
                stdout.WriteLine($"deferred {ToolVersion} (schema {DeferredSchema.LatestVersion.ToString(CultureInfo.InvariantCulture)})");
                return 0;

            case "version" when args is [_, "--schema"]:
                stdout.WriteLine(DeferredSchema.LatestVersion.ToString(CultureInfo.InvariantCulture));
                return 0;

            case "version":
                stderr.WriteLine($"deferred version: unexpected argument '{args[1]}'; the only option is --schema (print just the schema version). {Usage}");
                return 2;

            case "migrate" when args.Contains("--script"):
            {
                var from = 0;
                var at = Array.IndexOf(args, "--from");
                if (at >= 0 && (at + 1 >= args.Length || !int.TryParse(args[at + 1], CultureInfo.InvariantCulture, out from)))
                {
                    stderr.WriteLine("deferred migrate --script: --from needs the database's schema version (a whole number; 0 for an empty database).");
                    return 2;
                }

                try
                {
                    stdout.Write(DeferredSchema.Script(from));
                    return 0;
                }
                catch (ArgumentOutOfRangeException ex)
                {
                    stderr.WriteLine($"deferred migrate --script: {ex.Message.Split(Environment.NewLine)[0]}");
                    return 2;
                }
            }

            case "migrate":
            {
                var at = Array.IndexOf(args, "--connection");
                var connectionString = at >= 0 && at + 1 < args.Length ? args[at + 1] : Environment.GetEnvironmentVariable("DEFERRED_CONNECTION");
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    stderr.WriteLine("deferred migrate: no connection string; pass --connection \"Host=...;Database=...;Username=...\" or set DEFERRED_CONNECTION.");
                    return 2;
                }

                using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
                try
                {
                    var applied = await DeferredSchema.MigrateAsync(connectionString, loggers.CreateLogger("Deferred.Migrations"));
                    stderr.WriteLine($"deferred migrate: schema at version {DeferredSchema.LatestVersion} ({applied.Count} applied now)");
                    return 0;
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
                {
                    // One line that says what failed; the connection string is not echoed (it may hold a password).
                    stderr.WriteLine($"deferred migrate: failed: {ex.Message}");
                    return 1;
                }
            }

            default:
                stderr.WriteLine($"deferred: unknown command '{args[0]}'. {Usage}");
                return 2;
        }
    }
}
