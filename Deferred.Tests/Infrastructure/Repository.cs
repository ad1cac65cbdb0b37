using System.Net;
using System.Net.Sockets;

namespace Deferred.Tests.Infrastructure;

/// <summary>Where the repository is, for tests that read its docs and scripts, and free loopback ports.</summary>
internal static class Repository
{
    /// <summary>The folder holding Deferred.sln, found above the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A loopback port free at the moment of asking.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Deferred.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Deferred.sln not found above the test binaries ({AppContext.BaseDirectory}); run the tests from the repository.");
    }
}
