using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Deferred.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser (headless Chromium) over a real cluster and PostgreSQL, through the real operator.
/// Waits are Playwright's expectations or <see cref="Eventually"/>, never sleeps.
/// </summary>
public sealed class DashboardBrowserTests(DashboardBrowserFixture fixture) : IClassFixture<DashboardBrowserFixture>
{
    private const string ProbeType = "deferred.tests.probe";

    private IDeferredTasks Tasks => fixture.Cluster.Client;

    [Fact]
    public async Task The_overview_shows_the_stored_counts_that_the_database_has()
    {
        var delayed = new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) };
        for (var i = 0; i < 3; i++)
        {
            await Tasks.EnqueueAsync(new ProbeTask { Note = $"later-{i}" }, delayed);
        }

        var dead = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            dead.Add(await Tasks.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1 }));
        }

        var failed = await Tasks.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 3 });

        // Some successes, so the rate chart has something to draw.
        var done = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Tasks.EnqueueAsync(new ProbeTask())));
        foreach (var id in dead)
        {
            await Eventually.True(async () => (await Tasks.GetAsync(id))?.Status == DeferredTaskStatus.Dead, $"task {id} to die");
        }

        await Eventually.True(async () => (await Tasks.GetAsync(failed))?.Status == DeferredTaskStatus.Failed, "the failing task to wait for its retry");
        await fixture.Cluster.Probe.WaitAsync(runs => done.All(id => runs.Any(r => r.TaskId == id)), "the quick tasks to run");
        await Eventually.True(async () => (await Task.WhenAll(done.Select(id => Tasks.GetAsync(id)))).All(i => i is null), "the quick tasks' rows to be deleted");

        var stored = await StoredCountsAsync();
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(fixture.Host.Page.ToString());

        foreach (var status in new[] { "Pending", "Failed", "Dead" })
        {
            var expected = stored.Where(s => s.Key.Status == status).Sum(s => s.Value);
            await Expect(page.Locator($"#count-{status}")).ToHaveAttributeAsync("data-count", expected.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await Expect(page.Locator("#count-Total")).ToHaveAttributeAsync("data-count", stored.Values.Sum().ToString(System.Globalization.CultureInfo.InvariantCulture));
        var probeRow = page.Locator($"#types tr[data-task-type='{ProbeType}'] td");
        await Expect(probeRow).ToHaveTextAsync([
            ProbeType,
            Number(stored.GetValueOrDefault(("Pending", ProbeType))),
            Number(stored.GetValueOrDefault(("Failed", ProbeType))),
            Number(stored.GetValueOrDefault(("Dead", ProbeType))),
            Number(stored.Where(s => s.Key.Type == ProbeType).Sum(s => s.Value)),
        ]);
        Assert.True(stored.GetValueOrDefault(("Dead", ProbeType)) >= 2 && stored.GetValueOrDefault(("Pending", ProbeType)) >= 3);

        // The page says whose rates these are, and draws them.
        await Expect(page.Locator("#local-note")).ToContainTextAsync("not the whole cluster");
        await Expect(page.Locator("#chart polyline.succeeded")).ToHaveCountAsync(1);
        Assert.NotEqual("–", await page.Locator("#wait-p50").TextContentAsync());

        if (Environment.GetEnvironmentVariable("DEFERRED_WRITE_SCREENSHOT") == "1")
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Repository.Root, "docs", "dashboard.png"), FullPage = true });
        }

        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_dead_task_retried_with_its_button_and_confirmed_runs_again_and_completes()
    {
        var key = Guid.NewGuid().ToString("N");
        var id = await Tasks.EnqueueAsync(new FailsOnceTask(key), new DeferredEnqueueOptions { MaxAttempts = 1 });
        await Eventually.True(async () => (await Tasks.GetAsync(id))?.Status == DeferredTaskStatus.Dead, "the task to die after its one attempt");

        var page = await fixture.NewPageAsync();
        await page.GotoAsync($"{fixture.Host.Page}#task/{id}");
        await Expect(page.Locator("#detail-fields dd[data-field='Status']")).ToHaveTextAsync("Dead");
        await Expect(page.Locator("#detail-fields dd[data-field='Snoozes']")).ToHaveTextAsync("0");
        await Expect(page.Locator("#last-error-summary")).ToContainTextAsync("upstream timeout: the first run fails");
        await Expect(page.Locator("#last-error-stack")).ToContainTextAsync(nameof(FailsOnceHandler));
        await Expect(page.Locator("#action-cancel")).ToBeDisabledAsync();
        await Expect(page.Locator("#action-run-now")).ToBeDisabledAsync();

        // Declining the confirmation changes nothing.
        await page.Locator("#action-retry").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeVisibleAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync(id);
        await page.Locator("#confirm-no").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();
        Assert.Equal(DeferredTaskStatus.Dead, (await Tasks.GetAsync(id))?.Status);

        await page.Locator("#action-retry").ClickAsync();
        await page.Locator("#confirm-yes").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync("pending again");

        await Eventually.True(async () => await Tasks.GetAsync(id) is null, "the retried task to complete and its row to be deleted");
        Assert.Equal(2, FailsOnceHandler.RunsOf(key));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_schedule_is_listed_and_paused_and_resumed_with_confirmation()
    {
        var name = "dash-" + Guid.NewGuid().ToString("N")[..8];
        await Tasks.ScheduleAsync(name, new ProbeTask { Note = name }, DeferredSchedule.Cron("0 0 1 1 *"));
        var operations = fixture.Cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();

        var page = await fixture.NewPageAsync();
        await page.GotoAsync(fixture.Host.Page.ToString());
        var row = page.Locator($"#schedule-list tr[data-schedule='{name}']");
        await Expect(row).ToContainTextAsync("active");
        await Expect(row).ToContainTextAsync("0 0 1 1 *");

        // Declining the confirmation changes nothing.
        await row.Locator("button[data-action='pause']").ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync(name);
        await page.Locator("#confirm-no").ClickAsync();
        Assert.False((await operations.ListSchedulesAsync()).Single(s => s.Name == name).Paused);

        await row.Locator("button[data-action='pause']").ClickAsync();
        await page.Locator("#confirm-yes").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync($"Schedule '{name}' is paused");
        await Expect(row).ToContainTextAsync("paused");
        Assert.True((await operations.ListSchedulesAsync()).Single(s => s.Name == name).Paused);

        await row.Locator("button[data-action='resume']").ClickAsync();
        await page.Locator("#confirm-yes").ClickAsync();
        await Expect(row).ToContainTextAsync("active");
        Assert.False((await operations.ListSchedulesAsync()).Single(s => s.Name == name).Paused);
        await operations.RemoveScheduleAsync(name);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_bulk_retry_says_how_many_tasks_before_it_acts_and_shows_its_progress_to_the_end()
    {
        // Due from the next whole second on (the filter's inputs hold seconds), so the dead tasks of other tests are not covered.
        var now = DateTimeOffset.UtcNow;
        var from = new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero).AddSeconds(1);
        var dead = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            dead.Add(await Tasks.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1, RunAt = from.AddSeconds(1) }));
        }

        foreach (var id in dead)
        {
            await Eventually.True(async () => (await Tasks.GetAsync(id))?.Status == DeferredTaskStatus.Dead, $"task {id} to die");
        }

        var page = await fixture.NewPageAsync();
        await page.GotoAsync($"{fixture.Host.Page}?status=Dead&dueFrom={Uri.EscapeDataString(from.ToString("O"))}");

        // Declined: counted, nothing changed.
        await page.Locator("#retry-matching").ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("Retry 3 dead task(s) matching the applied filter");
        await page.Locator("#confirm-no").ClickAsync();
        await Expect(page.Locator("#confirm")).ToBeHiddenAsync();
        Assert.All(dead, id => Assert.Single(fixture.Cluster.Probe.RunsOf(id)));

        await page.Locator("#retry-matching").ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("Retry 3 dead task(s)");
        await page.Locator("#confirm-yes").ClickAsync();
        await Expect(page.Locator("#bulk-text")).ToContainTextAsync("completed: 3 of 3 dead task(s) reached, 3 retried");
        await Expect(page.Locator("#bulk-cancel")).ToBeHiddenAsync();
        foreach (var id in dead)
        {
            await fixture.Cluster.Probe.WaitForRunsAsync(id, 2);
        }

        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Cancelling_a_waiting_task_found_through_the_filters_removes_it()
    {
        var id = await Tasks.EnqueueAsync(new ProbeTask { Note = "cancel me" }, new DeferredEnqueueOptions { TaskId = $"dash-cancel-{Guid.NewGuid():N}", Delay = TimeSpan.FromHours(1) });

        var page = await fixture.NewPageAsync();
        await page.GotoAsync(fixture.Host.Page.ToString());
        await page.Locator("#filters select[name=status]").SelectOptionAsync("Pending");
        await page.Locator("#filters input[name=type]").FillAsync(ProbeType);
        await page.Locator("#filters button[type=submit]").ClickAsync();
        var row = page.Locator($"#task-list tr[data-task-id='{id}']");
        await Expect(row).ToBeVisibleAsync();
        await Expect(page.Locator("#task-list tbody tr:not([data-status='Pending'])")).ToHaveCountAsync(0);

        await row.Locator("a").ClickAsync();
        await Expect(page.Locator("#detail-fields dd[data-field='Status']")).ToHaveTextAsync("Pending");
        await Expect(page.Locator("#payload-json")).ToContainTextAsync("cancel me");
        await Expect(page.Locator("#action-run-now")).ToBeEnabledAsync();
        await page.Locator("#action-cancel").ClickAsync();
        await page.Locator("#confirm-yes").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync("cancelled");

        Assert.Null(await Tasks.GetAsync(id));
        Assert.Equal(0L, await fixture.Cluster.Database.ScalarAsync<long>(
            "SELECT count(*) FROM deferred_tasks WHERE service_id = @s AND task_id = @id", ("s", fixture.Cluster.ServiceId), ("id", id)));
        await Expect(row).ToHaveCountAsync(0);
        await Expect(page.Locator("#detail-error")).ToContainTextAsync("not stored");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_post_from_another_site_is_refused_by_the_server_and_a_scripted_one_by_the_browser()
    {
        var id = await Tasks.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { TaskId = $"dash-keep-{Guid.NewGuid():N}", Delay = TimeSpan.FromHours(1) });
        var target = new Uri(fixture.Host.Page, $"api/tasks/{id}/delete").ToString();

        // Another origin on the same machine: localhost instead of 127.0.0.1.
        var page = await fixture.NewPageAsync();
        await page.GotoAsync($"http://localhost:{fixture.Host.Root.Port}{DashboardBrowserFixture.ElsewherePath}");

        // A script there cannot add the action header: the CORS preflight is never answered, so the browser stops it.
        var scripted = await page.EvaluateAsync<string>(
            "async url => { try { const r = await fetch(url, { method: 'POST', headers: { 'X-Deferred-Action': '1' } }); return 'sent: ' + r.status; } catch { return 'blocked'; } }",
            target);
        Assert.Equal("blocked", scripted);

        // A plain form post needs no preflight; the server refuses it.
        var response = await page.RunAndWaitForResponseAsync(
            () => page.EvaluateAsync("url => { const f = document.createElement('form'); f.method = 'post'; f.action = url; document.body.append(f); f.submit(); }", target),
            r => r.Url == target);
        Assert.Equal(403, response.Status);
        Assert.Contains("X-Deferred-Action", await response.TextAsync());

        Assert.NotNull(await Tasks.GetAsync(id));
        await page.Context.CloseAsync();
    }

    private async Task<Dictionary<(string Status, string Type), long>> StoredCountsAsync()
    {
        var counts = new Dictionary<(string Status, string Type), long>();
        await using var command = fixture.Cluster.Database.DataSource.CreateCommand(
            "SELECT status, task_type, count(*) FROM deferred_tasks WHERE service_id = @s GROUP BY status, task_type");
        command.Parameters.AddWithValue("s", fixture.Cluster.ServiceId);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            counts[(reader.GetString(0), reader.GetString(1))] = reader.GetInt64(2);
        }

        return counts;
    }

    /// <summary>As the page shows a count (en-US grouping; the browser context's locale is en-US).</summary>
    private static string Number(long value) => value.ToString("#,0", System.Globalization.CultureInfo.GetCultureInfo("en-US"));
}
