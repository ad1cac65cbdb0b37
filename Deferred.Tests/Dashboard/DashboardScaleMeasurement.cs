using System.Diagnostics;
using System.Globalization;
using System.Text;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace Deferred.Tests.Dashboard;

/// <summary>Runs only with DEFERRED_DASHBOARD_SCALE=1: it seeds a million rows, which takes minutes.</summary>
public sealed class ScaleFactAttribute : FactAttribute
{
    public ScaleFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DEFERRED_DASHBOARD_SCALE") != "1")
        {
            Skip = "A measurement, not a check: set DEFERRED_DASHBOARD_SCALE=1 to seed 1,000,000 tasks and time the dashboard (docs/dashboard.md).";
        }
    }
}

/// <summary>
/// The figures of docs/dashboard.md: 1,000,000 stored tasks (100,000 dead, 100,000 failed) of one service in a database
/// of the default store, seeded in SQL and analyzed, a real cluster over it, the dashboard over that cluster's client,
/// and the overview API, list API pages and whole page loads in Chromium timed several times each. The cluster starts
/// with RecoverOnStartup off, so the sweep does not adopt the seeded rows while they are measured.
/// </summary>
public sealed class DashboardScaleMeasurement(ITestOutputHelper output)
{
    private const string Service = "scale";
    private const int Tasks = 1_000_000;
    private const int Runs = 7;

    private static readonly string SeedSql = $"""
        INSERT INTO deferred_tasks (service_id, task_id, task_type, status, attempts, max_attempts, enqueued_at, next_run_at,
                                    payload, last_error, owner, version, updated_at)
        SELECT '{Service}',
               'seed-' || lpad(i::text, 7, '0'),
               (ARRAY['shop.send-receipt', 'shop.charge-card', 'mail.digest', 'search.reindex',
                      'img.thumbnail', 'crm.sync-contact', 'billing.invoice', 'export.report'])[1 + i % 8],
               CASE WHEN i % 10 = 0 THEN 'Dead' WHEN i % 10 = 1 THEN 'Failed' ELSE 'Pending' END,
               CASE WHEN i % 10 = 0 THEN 5 WHEN i % 10 = 1 THEN 1 + i % 3 ELSE 0 END,
               5,
               now() - make_interval(secs => i),
               CASE WHEN i % 10 = 0 THEN now() - make_interval(secs => (i * 7) % 2592000)
                    ELSE now() + make_interval(secs => 3600 + (i * 13) % 2592000) END,
               convert_to(repeat('p', 64 + i % 200), 'UTF8'),
               CASE WHEN i % 10 IN (0, 1) THEN jsonb_build_object(
                   'type', CASE i % 3 WHEN 0 THEN 'System.TimeoutException'
                                      WHEN 1 THEN 'System.Net.Http.HttpRequestException'
                                      ELSE 'System.InvalidOperationException' END,
                   'message', CASE i % 3 WHEN 0 THEN 'The operation has timed out after 30 seconds (upstream ' || i % 50 || ').'
                                         WHEN 1 THEN 'Response status code does not indicate success: 503 (Service Unavailable).'
                                         ELSE 'Order ' || i || ' is in state Cancelled.' END,
                   'stackTrace', repeat('   at Shop.Handlers.Handler' || i % 20 || '.ExecuteAsync(CancellationToken ct) in /src/Shop/Handlers.cs:line ' || i % 400 || E'\n', 8),
                   'attempt', CASE WHEN i % 10 = 0 THEN 5 ELSE 1 END,
                   'at', now() - make_interval(secs => (i * 7) % 2592000))
               END,
               'seed-silo', 1, now()
        FROM generate_series(1, {Tasks}) AS i
        """;

    [ScaleFact]
    public async Task Page_loads_with_a_million_stored_tasks()
    {
        var report = new StringBuilder();
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        var seed = Stopwatch.StartNew();
        await using (var command = database.DataSource.CreateCommand(SeedSql))
        {
            command.CommandTimeout = 1800;
            await command.ExecuteNonQueryAsync();
        }

        await using (var analyze = database.DataSource.CreateCommand("VACUUM (ANALYZE) deferred_tasks"))
        {
            analyze.CommandTimeout = 1800;
            await analyze.ExecuteNonQueryAsync();
        }

        report.AppendLine(CultureInfo.InvariantCulture, $"seeded {Tasks:N0} rows and ran VACUUM (ANALYZE) in {seed.Elapsed.TotalSeconds:F0} s");
        report.AppendLine(CultureInfo.InvariantCulture, $"rows by status: {await ScalarTextAsync(database, "SELECT string_agg(status || '=' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM deferred_tasks GROUP BY status) s")}");
        report.AppendLine(CultureInfo.InvariantCulture, $"table + indexes: {await ScalarTextAsync(database, "SELECT pg_size_pretty(pg_total_relation_size('deferred_tasks'))")}; server {await ScalarTextAsync(database, "SHOW server_version")}");

        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RecoverOnStartup = false, database: database, serviceId: Service);
        var operations = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();

        // A clock that the measurement moves past the count cache's two seconds, so every overview request below counts
        // afresh instead of reusing the previous count; the last series measures the cache itself.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DashboardHost.StartAsync(operations, configureServices: b => b.Services.AddSingleton<TimeProvider>(clock));

        const string filtered = "status=Dead&type=shop.send-receipt&error=timeout";
        report.AppendLine(CultureInfo.InvariantCulture, $"count plan: {await CountPlanAsync(database)}");
        report.AppendLine(CultureInfo.InvariantCulture, $"load average before timing: {(await File.ReadAllTextAsync("/proc/loadavg")).Trim()}");
        report.AppendLine();
        report.AppendLine("| request | runs | min ms | median ms | max ms | rows |");
        report.AppendLine("|---|---|---|---|---|---|");
        await TimeApiAsync(report, host, "GET api/overview (counts afresh)", "deferred/api/overview", () => clock.Advance(TimeSpan.FromSeconds(3)));
        await TimeApiAsync(report, host, "GET api/overview (count cached)", "deferred/api/overview", null);
        await TimeApiAsync(report, host, "GET api/tasks (first page, no filter)", "deferred/api/tasks", null);
        await TimeApiAsync(report, host, "GET api/tasks?status=Dead", "deferred/api/tasks?status=Dead", null);
        await TimeApiAsync(report, host, $"GET api/tasks?{filtered}", $"deferred/api/tasks?{filtered}", null);
        var token = await FirstTokenAsync(host, $"deferred/api/tasks?{filtered}");
        await TimeApiAsync(report, host, $"GET api/tasks?{filtered} (page 2)", $"deferred/api/tasks?{filtered}&pageToken={Uri.EscapeDataString(token)}", null);
        await TimeApiAsync(report, host, "GET api/tasks?status=Dead&error=Order 999980 (one match)", "deferred/api/tasks?status=Dead&error=Order%20999980%20", null);
        await TimeApiAsync(report, host, "GET api/tasks?error=Order 999980 (one match, any status)", "deferred/api/tasks?error=Order%20999980%20", null);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium.Path, Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"] });
        await TimePageAsync(report, browser, "page load: overview + first list page", host.Page.ToString(), () => clock.Advance(TimeSpan.FromSeconds(3)));
        await TimePageAsync(report, browser, $"page load: overview + ?{filtered}", $"{host.Page}?{filtered}", () => clock.Advance(TimeSpan.FromSeconds(3)));

        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"load average after timing: {(await File.ReadAllTextAsync("/proc/loadavg")).Trim()}");
        output.WriteLine(report.ToString());
        var file = Environment.GetEnvironmentVariable("DEFERRED_DASHBOARD_SCALE_OUT") ?? Path.Combine(Path.GetTempPath(), "deferred-dashboard-scale.md");
        await File.WriteAllTextAsync(file, report.ToString());
    }

    private static async Task TimeApiAsync(StringBuilder report, DashboardHost host, string name, string path, Action? beforeEach)
    {
        using (var warm = await host.Client.GetAsync(path))
        {
            warm.EnsureSuccessStatusCode();
        }

        var times = new List<double>();
        var rows = "";
        for (var i = 0; i < Runs; i++)
        {
            beforeEach?.Invoke();
            var watch = Stopwatch.StartNew();
            using var response = await host.Client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            times.Add(watch.Elapsed.TotalMilliseconds);
            response.EnsureSuccessStatusCode();
            using var json = System.Text.Json.JsonDocument.Parse(body);
            rows = json.RootElement.TryGetProperty("tasks", out var tasks)
                ? tasks.GetArrayLength().ToString(CultureInfo.InvariantCulture)
                : json.RootElement.GetProperty("totals").GetProperty("total").GetInt64().ToString("N0", CultureInfo.InvariantCulture) + " counted";
        }

        Row(report, name, times, rows);
    }

    private static async Task TimePageAsync(StringBuilder report, IBrowser browser, string name, string url, Action beforeEach)
    {
        var outside = new List<double>();
        var inside = new List<double>();
        var domReady = new List<double>();
        var overview = new List<double>();
        var list = new List<double>();
        for (var i = 0; i <= Runs; i++)
        {
            beforeEach();
            var context = await browser.NewContextAsync();
            var page = await context.NewPageAsync();
            var watch = Stopwatch.StartNew();
            await page.GotoAsync(url);

            // Done when the counts and the list are on screen (polled every animation frame); the page's own clock
            // says how long that took from the start of its navigation.
            var shown = await page.WaitForFunctionAsync(
                "() => document.getElementById('count-Total').dataset.count && document.querySelector('#task-list tbody tr[data-task-id]') ? performance.now() : null");
            var elapsed = watch.Elapsed.TotalMilliseconds;
            if (i > 0)
            {
                // Run 0 warms the browser's and the server's caches of the assets.
                outside.Add(elapsed);
                inside.Add(await shown.JsonValueAsync<double>());
                var timing = await page.EvaluateAsync<double[]>(
                    """
                    () => {
                      const nav = performance.getEntriesByType('navigation')[0];
                      const took = part => performance.getEntriesByType('resource').filter(r => r.name.includes(part)).map(r => r.duration)[0] ?? -1;
                      return [nav.domContentLoadedEventEnd, took('api/overview'), took('api/tasks')];
                    }
                    """);
                domReady.Add(timing[0]);
                overview.Add(timing[1]);
                list.Add(timing[2]);
            }

            await context.CloseAsync();
        }

        Row(report, name + " (in the page: navigation start to shown)", inside, "50");
        Row(report, name + " (test: goto to shown, with Playwright round trips)", outside, "50");
        Row(report, "  of which: page and assets loaded (DOMContentLoaded)", domReady, "");
        Row(report, "  of which: api/overview fetch, in the browser", overview, "");
        Row(report, "  of which: api/tasks fetch, in the browser", list, "");
    }

    private static async Task<string> FirstTokenAsync(DashboardHost host, string path)
    {
        using var response = await host.Client.GetAsync(path);
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("nextPageToken").GetString()!;
    }

    private static void Row(StringBuilder report, string name, List<double> times, string rows)
    {
        times.Sort();
        report.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {times.Count} | {times[0]:F0} | {times[times.Count / 2]:F0} | {times[^1]:F0} | {rows} |");
    }

    private static async Task<string> CountPlanAsync(TestDatabase database)
    {
        await using var command = database.DataSource.CreateCommand(
            $"EXPLAIN (ANALYZE, FORMAT JSON) SELECT status, task_type, count(*) FROM deferred_tasks WHERE service_id = '{Service}' GROUP BY task_type, status");
        using var plan = System.Text.Json.JsonDocument.Parse((string)(await command.ExecuteScalarAsync())!);
        var root = plan.RootElement[0];
        var nodes = new List<string>();
        for (var node = root.GetProperty("Plan"); ; node = node.GetProperty("Plans")[0])
        {
            nodes.Add(node.GetProperty("Node Type").GetString() + (node.TryGetProperty("Index Name", out var index) ? $" on {index.GetString()}" : ""));
            if (!node.TryGetProperty("Plans", out _))
            {
                break;
            }
        }

        return $"{string.Join(" <- ", nodes)}; execution {root.GetProperty("Execution Time").GetDouble():F0} ms";
    }

    private static async Task<string> ScalarTextAsync(TestDatabase database, string sql)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? "";
    }
}
