using System.Diagnostics;

namespace Deferred.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL server of a test's own (through scripts/postgres.sh, on a free port, with its data under /tmp), for
/// tests that stop and restart the database: the shared server keeps serving every other test meanwhile.
/// </summary>
internal sealed class OwnPostgres : IAsyncDisposable
{
    private readonly int _port;
    private readonly string _data;

    private OwnPostgres(int port, string data)
    {
        _port = port;
        _data = data;
    }

    public string ConnectionString => $"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres;Maximum Pool Size=50;Timeout=3";

    public static async Task<OwnPostgres> StartAsync()
    {
        var server = new OwnPostgres(Repository.FreePort(), $"/tmp/deferred-test-pg-{Guid.NewGuid():N}");
        await server.RunAsync("start");
        return server;
    }

    public Task StopAsync() => RunAsync("stop");

    public Task StartAgainAsync() => RunAsync("start");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("stop");
        }
        finally
        {
            if (Directory.Exists(_data))
            {
                Directory.Delete(_data, recursive: true);
            }
        }
    }

    private async Task RunAsync(string command)
    {
        var script = Path.Combine(Repository.Root, "scripts", "postgres.sh");
        var start = new ProcessStartInfo("bash", [script, command])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["DEFERRED_PG_PORT"] = _port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["DEFERRED_PG_DATA"] = _data;
        start.Environment["DEFERRED_PG_DATABASE"] = "postgres";
        start.Environment["DEFERRED_PG_NO_MIGRATE"] = "1";
        start.Environment.Remove("DEFERRED_PG_CONNECTION");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/postgres.sh {command} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }
}
