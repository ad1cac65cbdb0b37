using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit;

namespace Deferred.Tests.Dashboard;

/// <summary>
/// One real cluster on PostgreSQL, the dashboard hosted in Kestrel over that cluster's client-side
/// <see cref="IDeferredTaskOperator"/>, and headless Chromium (Debian's <c>chromium</c>, driven by Playwright), shared by
/// the browser tests of one class. Failed attempts retry an hour later, so Failed and Dead tasks stay put while a test
/// looks at them.
/// </summary>
public sealed class DashboardBrowserFixture : IAsyncLifetime
{
    /// <summary>A page on another origin (http://localhost:port rather than http://127.0.0.1:port) of the same server.</summary>
    public const string ElsewherePath = "/elsewhere";

    private IPlaywright? _playwright;

    internal DeferredTestCluster Cluster { get; private set; } = null!;

    internal DashboardHost Host { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await DeferredTestCluster.StartAsync(
            o => o.RetryBackoff = _ => TimeSpan.FromHours(1),
            configureSilo: silo => silo.Services.AddDeferredTaskHandler<FailsOnceTask, FailsOnceHandler>());
        var operations = Cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        Host = await DashboardHost.StartAsync(
            operations,
            configureAfterDashboard: app => app.MapGet(ElsewherePath, () => Results.Content("<!doctype html><title>elsewhere</title><p>another site</p>", "text/html")));

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium.Path,
            Headless = true,

            // The tests run as root (CI), where Chromium's sandbox cannot start.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
        Assertions.SetDefaultExpectTimeout(10_000);
    }

    /// <summary>A fresh browser context (no shared cookies or storage) and a page in it.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1000 }, Locale = "en-US" });
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }

        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary>Where Debian's Chromium is: <c>which chromium</c>. scripts/test.sh installs it when missing.</summary>
internal static class Chromium
{
    public static string Path =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "chromium"))
            .FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "The dashboard's browser tests need Debian's chromium on the PATH: run them through scripts/test.sh, which installs it (apt-get install -y chromium).");
}

/// <summary>A task whose first run fails and whose later runs succeed: dead after one attempt, done once retried.</summary>
[GenerateSerializer, Alias("deferred.tests.dashboard.fails-once")]
public sealed record FailsOnceTask([property: Id(0)] string Key);

internal sealed class FailsOnceHandler : IDeferredTaskHandler<FailsOnceTask>
{
    private static readonly ConcurrentDictionary<string, int> Runs = new();

    public static int RunsOf(string key) => Runs.GetValueOrDefault(key);

    public Task ExecuteAsync(FailsOnceTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        if (Runs.AddOrUpdate(task.Key, 1, (_, n) => n + 1) == 1)
        {
            throw new InvalidOperationException("upstream timeout: the first run fails");
        }

        return Task.CompletedTask;
    }
}
