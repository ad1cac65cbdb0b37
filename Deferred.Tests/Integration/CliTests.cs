using System.Text.Json;
using Deferred.Silo.Operator;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// The <c>Deferred.Silo tasks</c> verbs, run against the real operator of a test cluster's client: what they print,
/// that <c>--json</c> reads back, and their exit codes. The client connection itself is checked by hand (see
/// docs/operations.md); the operator under the verbs has tests of its own on both stores.
/// </summary>
public sealed class CliTests
{
    private static readonly DeferredEnqueueOptions Later = new() { Delay = TimeSpan.FromHours(1) };

    [Fact]
    public async Task List_show_and_stats_print_tables_and_json_that_reads_back()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        foreach (var id in new[] { "cli-a", "cli-b", "cli-c" })
        {
            await cluster.Client.EnqueueAsync(new ProbeTask { Note = "note-" + id }, Later with { TaskId = id });
        }

        var dead = await EnqueueDeadAsync(cluster, "cli-dead");

        var table = await RunAsync(cluster, "list");
        Assert.Equal(TaskVerbs.Done, table.Code);
        Assert.StartsWith("ID ", table.Out);
        Assert.Contains("LAST ERROR", table.Out);
        Assert.All(new[] { "cli-a", "cli-b", "cli-c", dead }, id => Assert.Contains(id, table.Out));
        Assert.Contains("System.InvalidOperationException: probe failure on attempt 1", table.Out);
        Assert.DoesNotContain("--page-token", table.Out);
        Assert.Empty(table.Err);

        var all = Page(await RunAsync(cluster, "list", "--json"));
        Assert.Equal(4, all.Tasks.Count);
        Assert.Null(all.NextPageToken);
        var deadRow = Assert.Single(Page(await RunAsync(cluster, "list", "--status", "dead", "--json")).Tasks);
        Assert.Equal(dead, deadRow.TaskId);
        Assert.Equal(DeferredTaskStatus.Dead, deadRow.Status);
        Assert.Equal("probe failure on attempt 1", deadRow.LastErrorMessage);
        Assert.Equal(dead, Assert.Single(Page(await RunAsync(cluster, "list", "--error", "PROBE FAILURE", "--json")).Tasks).TaskId);

        // Paging: the table says how to continue; the token brings the rest, without repeats.
        var firstTable = await RunAsync(cluster, "list", "--page-size", "3");
        var first = Page(await RunAsync(cluster, "list", "--page-size", "3", "--json"));
        Assert.Equal(3, first.Tasks.Count);
        Assert.NotNull(first.NextPageToken);
        Assert.Contains($"more: --page-token {first.NextPageToken}", firstTable.Out);
        var second = Page(await RunAsync(cluster, "list", "--page-size", "3", "--page-token", first.NextPageToken, "--json"));
        Assert.Null(second.NextPageToken);
        Assert.Equal(all.Tasks.Select(t => t.TaskId), first.Tasks.Concat(second.Tasks).Select(t => t.TaskId));

        var show = await RunAsync(cluster, "show", "cli-a");
        Assert.Equal(TaskVerbs.Done, show.Code);
        Assert.Contains("status:", show.Out);
        Assert.Contains("pending", show.Out);
        Assert.Contains(typeof(ProbeTask).FullName!, show.Out);
        Assert.Contains("note-cli-a", show.Out);
        Assert.Matches(@"snoozes:\s+0", show.Out);

        using (var details = Json(await RunAsync(cluster, "show", "cli-a", "--json")))
        {
            var root = details.RootElement;
            Assert.Equal("cli-a", root.GetProperty("taskId").GetString());
            Assert.Equal("deferred.tests.probe", root.GetProperty("taskType").GetString());
            Assert.Equal("pending", root.GetProperty("status").GetString());
            // The payload is JSON inside the document (rendered by the silo), not a string.
            Assert.Equal(JsonValueKind.Object, root.GetProperty("payload").ValueKind);
            Assert.Contains("\"note-cli-a\"", root.GetProperty("payload").GetRawText());
            Assert.True(root.GetProperty("payloadBytes").GetInt32() > 0);
            Assert.Equal(0, root.GetProperty("snoozes").GetInt32());
            Assert.True(root.GetProperty("nextRunAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(30));
        }

        using (var deadDetails = Json(await RunAsync(cluster, "show", dead, "--json")))
        {
            var error = deadDetails.RootElement.GetProperty("lastError");
            Assert.Equal("dead", deadDetails.RootElement.GetProperty("status").GetString());
            Assert.Equal("probe failure on attempt 1", error.GetProperty("message").GetString());
            Assert.Contains(nameof(ProbeHandler), error.GetProperty("stackTrace").GetString());
        }

        var stats = await RunAsync(cluster, "stats");
        Assert.Equal(TaskVerbs.Done, stats.Code);
        Assert.Contains("deferred.tests.probe", stats.Out);
        Assert.Contains("total 4: pending 3, failed 0, dead 1", stats.Out);

        using var counts = Json(await RunAsync(cluster, "stats", "--json"));
        Assert.Equal(4, counts.RootElement.GetProperty("total").GetInt64());
        Assert.Equal(3, counts.RootElement.GetProperty("byStatus").GetProperty("pending").GetInt64());
        Assert.Equal(1, counts.RootElement.GetProperty("byStatus").GetProperty("dead").GetInt64());
        var rows = counts.RootElement.GetProperty("counts").Deserialize<DeferredTaskCount[]>(TaskOutput.JsonOptions)!;
        Assert.Contains(new DeferredTaskCount(DeferredTaskStatus.Pending, "deferred.tests.probe", 3), rows);
        Assert.Contains(new DeferredTaskCount(DeferredTaskStatus.Dead, "deferred.tests.probe", 1), rows);
    }

    [Fact]
    public async Task An_unknown_id_exits_1_with_one_line_naming_it_and_nothing_on_stdout()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();

        foreach (var verb in new[] { "show", "retry", "run-now", "cancel", "delete" })
        {
            var result = await RunAsync(cluster, verb, "cli-missing");
            Assert.Equal(TaskVerbs.Refused, result.Code);
            Assert.Equal($"tasks {verb}: task 'cli-missing' is not stored (it completed, was deleted, or never existed)", OneLine(result.Err));
            Assert.Empty(result.Out);
        }
    }

    [Fact]
    public async Task Delete_while_running_is_refused_with_exit_1_and_the_task_still_runs_to_its_end()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease }, new DeferredEnqueueOptions { TaskId = "cli-running" });
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        var result = await RunAsync(cluster, "delete", taskId);

        Assert.Equal(TaskVerbs.Refused, result.Code);
        Assert.StartsWith("tasks delete: task 'cli-running' was not deleted: ", OneLine(result.Err));
        Assert.Empty(result.Out);
        using (var shown = Json(await RunAsync(cluster, "show", taskId, "--json")))
        {
            Assert.Equal("running", shown.RootElement.GetProperty("status").GetString());
        }

        cluster.Probe.Release.SetResult();
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the released task to complete");
        Assert.Single(cluster.Probe.RunsOf(taskId));
    }

    [Fact]
    public async Task Retry_makes_a_dead_task_run_again_and_refuses_one_that_is_not_dead()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var dead = await EnqueueDeadAsync(cluster, "cli-retry");
        var waiting = await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-retry-waiting" });

        var result = await RunAsync(cluster, "retry", dead);

        Assert.Equal(TaskVerbs.Done, result.Code);
        Assert.Equal("retried cli-retry: a fresh set of attempts, due now", result.Out.Trim());
        await cluster.Probe.WaitForRunsAsync(dead, 2);

        var refused = await RunAsync(cluster, "retry", waiting);
        Assert.Equal(TaskVerbs.Refused, refused.Code);
        Assert.Equal("tasks retry: task 'cli-retry-waiting' is pending, not dead; only a dead task can be retried", OneLine(refused.Err));
        Assert.Empty(refused.Out);
        Assert.Equal(DeferredTaskStatus.Pending, (await cluster.Client.GetAsync(waiting))!.Status);
    }

    [Fact]
    public async Task Run_now_makes_a_delayed_task_run_at_once_and_refuses_a_dead_one()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var waiting = await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-run-now" });
        var dead = await EnqueueDeadAsync(cluster, "cli-run-now-dead");

        var result = await RunAsync(cluster, "run-now", waiting);

        Assert.Equal(TaskVerbs.Done, result.Code);
        Assert.Equal("cli-run-now is due now: its next attempt starts at once, its attempts unchanged", result.Out.Trim());
        await cluster.Probe.WaitForRunsAsync(waiting, 1);

        var refused = await RunAsync(cluster, "run-now", dead);
        Assert.Equal(TaskVerbs.Refused, refused.Code);
        Assert.Equal("tasks run-now: task 'cli-run-now-dead' is dead, not waiting; retry it instead", OneLine(refused.Err));
        Assert.Empty(refused.Out);
    }

    [Fact]
    public async Task Retry_all_dead_and_purge_act_on_every_matching_dead_task()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var dead = new[] { await EnqueueDeadAsync(cluster, "cli-bulk-1"), await EnqueueDeadAsync(cluster, "cli-bulk-2") };
        await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-bulk-waiting" });

        using (var retried = Json(await RunAsync(cluster, "retry", "--all-dead", "--type", "deferred.tests.probe", "--json")))
        {
            Assert.Equal(2, retried.RootElement.GetProperty("retried").GetInt32());
        }

        // Both run again (and, always failing with one attempt, die again).
        foreach (var id in dead)
        {
            await cluster.Probe.WaitForRunsAsync(id, 2);
            await StoredDeadAsync(cluster, id);
        }

        var none = await RunAsync(cluster, "purge", "--older-than", "2000-01-01");
        Assert.Equal((TaskVerbs.Done, "purged 0 dead task(s) whose last attempt was due before 2000-01-01T00:00:00Z"), (none.Code, none.Out.Trim()));

        using var purged = Json(await RunAsync(cluster, "purge", "--older-than", DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"), "--json"));
        Assert.Equal(2, purged.RootElement.GetProperty("purged").GetInt32());
        Assert.Equal(1, await cluster.CountRowsAsync());
        Assert.Empty(Page(await RunAsync(cluster, "list", "--status", "dead", "--json")).Tasks);
    }

    [Fact]
    public async Task Retry_all_dead_of_tasks_that_die_again_says_how_many_first_retries_each_once_and_exits()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();

        // More than a page of the old walk (200), whose re-query of "dead" met the tasks that died again, forever.
        const int count = 450;
        var ids = await EnqueueDeadAsync(cluster, count);

        var result = await RunAsync(cluster, "retry", "--all-dead", "--type", "deferred.tests.probe", "--json").WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(TaskVerbs.Done, result.Code);
        Assert.Matches($"^tasks retry: bulk action [0-9a-f]{{32}} will retry {count} dead task\\(s\\); Ctrl\\+C cancels it", result.Err.Split('\n')[0]);
        using (var json = JsonDocument.Parse(result.Out))
        {
            Assert.Equal((count, count, 0), (json.RootElement.GetProperty("retried").GetInt32(), json.RootElement.GetProperty("total").GetInt32(), json.RootElement.GetProperty("failed").GetInt32()));
        }

        await cluster.Probe.WaitAsync(runs => runs.GroupBy(r => r.TaskId).Count(g => g.Count() >= 2) == count, "each task's run after the retry");
        Assert.All(ids, id => Assert.Equal(2, cluster.Probe.RunsOf(id).Count));
    }

    [Fact]
    public async Task Interrupting_a_bulk_retry_cancels_it_in_the_silo_and_a_detached_one_is_watched_and_cancelled_by_id()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();
        const int count = 1000;
        await EnqueueDeadAsync(cluster, count);

        // Ctrl+C as soon as the count is printed: the action stops in the silo, and the CLI says where it stopped.
        using var interrupt = new CancellationTokenSource();
        using var stdout = new StringWriter();
        using var stderr = new OnLine(line => line.Contains(" will retry ", StringComparison.Ordinal), interrupt.Cancel);
        var code = await TaskVerbs.RunAsync(Operator(cluster), ["retry", "--all-dead"], stdout, stderr, interrupt.Token);
        Assert.Equal(TaskVerbs.Refused, code);
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var id = System.Text.RegularExpressions.Regex.Match(lines[0], "bulk action ([0-9a-f]{32})").Groups[1].Value;
        Assert.Matches($"^tasks retry: cancelled: retried [0-9]+ of {count} task\\(s\\) before it stopped", lines[^1]);
        Assert.Empty(stdout.ToString());
        var cancelled = await Operator(cluster).GetBulkActionAsync(id);
        Assert.Equal(DeferredBulkActionState.Cancelled, cancelled!.State);
        Assert.True(cancelled.Remaining > 0, $"the action reached every task before the interrupt: {cancelled}");

        // Detached: started and left to the silo; shown and cancelled by its id.
        var detached = await RunAsync(cluster, "purge", "--older-than", DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"), "--detach", "--json");
        Assert.Equal(TaskVerbs.Done, detached.Code);
        string actionId;
        using (var json = JsonDocument.Parse(detached.Out))
        {
            actionId = json.RootElement.GetProperty("id").GetString()!;
            Assert.Equal("purgeDead", json.RootElement.GetProperty("kind").GetString());
        }

        Assert.Contains($"see it with: tasks action {actionId}", detached.Err);
        var stopped = await RunAsync(cluster, "action", actionId, "--cancel");
        Assert.Equal(TaskVerbs.Done, stopped.Code);
        Assert.Matches($"^bulk action {actionId}: (cancelled|completed), [0-9]+ of [0-9]+ reached: [0-9]+ done", stopped.Out.Trim());
        using (var shown = Json(await RunAsync(cluster, "action", actionId, "--json")))
        {
            Assert.True(shown.RootElement.GetProperty("isFinished").GetBoolean());
        }

        var unknown = await RunAsync(cluster, "action", Guid.NewGuid().ToString("N"));
        Assert.Equal(TaskVerbs.Refused, unknown.Code);
        Assert.StartsWith("tasks action: no silo holds bulk action", OneLine(unknown.Err));
        var bad = await RunAsync(cluster, "action", "x\u001b[2J");
        Assert.Equal(TaskVerbs.BadUsage, bad.Code);
        Assert.Contains("is not a bulk action id", OneLine(bad.Err));
    }

    [Fact]
    public async Task Cancel_removes_a_delayed_task_and_refuses_a_dead_one()
    {
        await using var cluster = await DeferredTestCluster.StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50));
        var waiting = await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-cancel" });
        var dead = await EnqueueDeadAsync(cluster, "cli-cancel-dead");

        var result = await RunAsync(cluster, "cancel", waiting);

        Assert.Equal(TaskVerbs.Done, result.Code);
        Assert.Equal("cancelled cli-cancel: it was waiting and is removed", result.Out.Trim());
        Assert.Null(await cluster.Client.GetAsync(waiting));
        Assert.Empty(cluster.Probe.RunsOf(waiting));

        var refused = await RunAsync(cluster, "cancel", dead, "--json");
        Assert.Equal(TaskVerbs.Refused, refused.Code);
        Assert.Equal("tasks cancel: task 'cli-cancel-dead' is dead, not cancelled; delete it instead", OneLine(refused.Err));
        Assert.Empty(refused.Out);

        using var deleted = Json(await RunAsync(cluster, "delete", dead, "--json"));
        Assert.True(deleted.RootElement.GetProperty("deleted").GetBoolean());
        Assert.Equal(0, await cluster.CountRowsAsync());
    }

    [Fact]
    public async Task Bad_usage_exits_2_with_the_value_and_the_usage()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();
        await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-usage-1" });
        await cluster.Client.EnqueueAsync(new ProbeTask(), Later with { TaskId = "cli-usage-2" });

        await AssertBadUsage(["list", "--due-from", "yesterday"], "tasks list: --due-from must be an ISO 8601 date or time", "'yesterday'", "Usage: tasks list ");
        await AssertBadUsage(["purge", "--older-than", "2026-13-01"], "tasks purge: --older-than must be", "'2026-13-01'", "Usage: tasks purge --older-than ISO");
        await AssertBadUsage(["list", "--page-size", "ten"], "tasks list: --page-size must be a whole number", "'ten'", "Usage: tasks list ");
        await AssertBadUsage(["list", "--page-size", "501"], "tasks list: --page-size must be at most 500", "'501'", "Usage: tasks list ");
        await AssertBadUsage(["list", "--status", "running"], "tasks list: --status must be pending, failed or dead", "'running'", "Usage: tasks list ");
        await AssertBadUsage(["list", "--colour", "red"], "tasks list: unknown option '--colour'", "'--colour'", "Usage: tasks list ");
        await AssertBadUsage(["show"], "tasks show: a task id is needed", "show", "Usage: tasks show ID");
        await AssertBadUsage(["show", "a/b"], "tasks show: 'a/b' is not a task id", "'a/b'", "Usage: tasks show ID");
        await AssertBadUsage(["retry", "cli-usage-1", "--all-dead"], "tasks retry: give a task id or --all-dead, not both", "--all-dead", "Usage: tasks retry ID");
        await AssertBadUsage(["frobnicate"], "tasks: unknown verb 'frobnicate'", "'frobnicate'", "Usage: tasks list ");

        // A page token of another query is refused by the operator, which names it: bad usage too.
        var page = Page(await RunAsync(cluster, "list", "--page-size", "1", "--json"));
        Assert.NotNull(page.NextPageToken);
        var other = await RunAsync(cluster, "list", "--page-size", "1", "--status", "dead", "--page-token", page.NextPageToken);
        Assert.Equal(TaskVerbs.BadUsage, other.Code);
        Assert.StartsWith("tasks list: ", OneLine(other.Err));
        Assert.EndsWith("[--json]", OneLine(other.Err));
        Assert.Empty(other.Out);

        async Task AssertBadUsage(string[] args, string start, string names, string usage)
        {
            var result = await RunAsync(cluster, args);
            Assert.Equal(TaskVerbs.BadUsage, result.Code);
            var line = OneLine(result.Err);
            Assert.StartsWith(start, line);
            Assert.Contains(names, line);
            Assert.Contains(usage, line);
            Assert.Empty(result.Out);
        }
    }

    private static IDeferredTaskOperator Operator(DeferredTestCluster cluster) =>
        cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();

    [Fact]
    public async Task Schedules_are_listed_paused_resumed_and_removed_by_name_and_bad_names_are_refused()
    {
        await using var cluster = await DeferredTestCluster.StartAsync();
        await cluster.Client.ScheduleAsync("cli-hourly", new ProbeTask { Note = "hourly" }, DeferredSchedule.Cron("0 * * * *"));

        var table = await RunAsync(cluster, "schedules");
        Assert.Equal(TaskVerbs.Done, table.Code);
        Assert.StartsWith("NAME ", table.Out);
        Assert.Contains("cli-hourly", table.Out);
        Assert.Contains("active", table.Out);

        var paused = await RunAsync(cluster, "pause-schedule", "cli-hourly");
        Assert.Equal(TaskVerbs.Done, paused.Code);
        Assert.Contains("paused schedule cli-hourly", paused.Out);
        using (var listed = Json(await RunAsync(cluster, "schedules", "--json")))
        {
            var row = Assert.Single(listed.RootElement.EnumerateArray());
            Assert.Equal("cli-hourly", row.GetProperty("name").GetString());
            Assert.True(row.GetProperty("paused").GetBoolean());
        }

        Assert.Equal(TaskVerbs.Done, (await RunAsync(cluster, "resume-schedule", "cli-hourly")).Code);
        Assert.False(Assert.Single(await ScheduleTests.Operator(cluster).ListSchedulesAsync()).Paused);

        var removed = await RunAsync(cluster, "remove-schedule", "cli-hourly", "--json");
        Assert.Equal(TaskVerbs.Done, removed.Code);
        Assert.Empty(await ScheduleTests.Operator(cluster).ListSchedulesAsync());
        Assert.Equal("no schedules", (await RunAsync(cluster, "schedules")).Out.Trim());

        var missing = await RunAsync(cluster, "pause-schedule", "cli-hourly");
        Assert.Equal(TaskVerbs.Refused, missing.Code);
        Assert.Contains("no schedule named 'cli-hourly'", missing.Err);
        Assert.Empty(missing.Out);

        var bad = await RunAsync(cluster, "pause-schedule", "no spaces");
        Assert.Equal(TaskVerbs.BadUsage, bad.Code);
        Assert.Contains("'no spaces' is not a schedule name", bad.Err);
        Assert.Contains("Usage: tasks pause-schedule NAME", bad.Err);
        Assert.Contains("a schedule name is needed", (await RunAsync(cluster, "resume-schedule")).Err);
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(DeferredTestCluster cluster, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await TaskVerbs.RunAsync(Operator(cluster), args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Tasks that fail their only attempt, <paramref name="count"/> of them, once the store lists them all as dead.</summary>
    private static async Task<string[]> EnqueueDeadAsync(DeferredTestCluster cluster, int count)
    {
        var ids = await cluster.Client.EnqueueManyAsync(
            Enumerable.Range(0, count).Select(i => new ProbeTask { Behavior = ProbeBehavior.AlwaysFail, Note = $"dead-{i}" }),
            new DeferredEnqueueOptions { MaxAttempts = 1 });
        await Eventually.True(
            async () => (await Operator(cluster).CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == count,
            $"{count} tasks stored as dead");
        return [.. ids];
    }

    /// <summary>A stderr that runs <paramref name="then"/> once a line matching <paramref name="when"/> is written.</summary>
    private sealed class OnLine(Func<string, bool> when, Action then) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && when(value))
            {
                then();
            }
        }
    }

    /// <summary>A task that fails its only attempt.</summary>
    private static async Task<string> EnqueueDeadAsync(DeferredTestCluster cluster, string taskId)
    {
        await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { TaskId = taskId, MaxAttempts = 1 });
        await StoredDeadAsync(cluster, taskId);
        return taskId;
    }

    /// <summary>
    /// Waits until the store lists <paramref name="taskId"/> as dead. The grain reports a new state while its write is
    /// still in flight, so <c>GetAsync</c> can say dead before the catalog (list, stats, bulk actions) does.
    /// </summary>
    private static Task StoredDeadAsync(DeferredTestCluster cluster, string taskId) =>
        Eventually.True(
            async () => (await Operator(cluster).ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Dead }, PageSize = DeferredTaskQuery.MaxPageSize }))
                .Tasks.Any(t => t.TaskId == taskId),
            $"{taskId} to be stored as dead");

    /// <summary>The one stderr line, checked to be one.</summary>
    private static string OneLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        return lines[0].TrimEnd('\r');
    }

    private static DeferredTaskPage Page((int Code, string Out, string Err) result)
    {
        Assert.Equal(TaskVerbs.Done, result.Code);
        Assert.Empty(result.Err);
        return JsonSerializer.Deserialize<DeferredTaskPage>(result.Out, TaskOutput.JsonOptions)!;
    }

    private static JsonDocument Json((int Code, string Out, string Err) result)
    {
        Assert.True(result.Code == TaskVerbs.Done, $"exit code {result.Code}: {result.Err}");
        return JsonDocument.Parse(result.Out);
    }
}
