using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class OperatorTestsOnPostgresStore : OperatorTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class OperatorTestsOnStockAdoNet : OperatorTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary><see cref="IDeferredTaskOperator"/> from an Orleans client: reads through a silo, changes through the task grains.</summary>
public abstract class OperatorTests : StoreConformance
{
    [Fact]
    public async Task An_operator_lists_counts_and_pages_through_tasks_by_filter()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        var later = new DeferredEnqueueOptions { Delay = TimeSpan.FromHours(1) };
        var ids = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add(await cluster.Client.EnqueueAsync(new ProbeTask { Note = $"n{i}" }, later with { TaskId = $"op-list-{i}" }));
        }

        var seen = new List<string>();
        string? token = null;
        do
        {
            var page = await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Pending }, PageSize = 3, PageToken = token });
            Assert.InRange(page.Tasks.Count, 1, 3);
            seen.AddRange(page.Tasks.Select(t => t.TaskId));
            token = page.NextPageToken;
        }
        while (token is not null);

        Assert.Equal(ids.Order(), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
        var counts = await ops.CountAsync();
        Assert.Equal(7, counts.Single(c => c.Status == DeferredTaskStatus.Pending && c.TaskType == "deferred.tests.probe").Count);

        // A page token belongs to its query.
        var first = await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Pending }, PageSize = 2 });
        var wrong = await Assert.ThrowsAsync<ArgumentException>(() =>
            ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Dead }, PageSize = 2, PageToken = first.NextPageToken }));
        Assert.Equal("PageToken", wrong.ParamName);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => ops.ListAsync(new DeferredTaskQuery { PageSize = 0 }));

        // A NUL or another control character in a filter is refused naming the field, before any SQL (it reached
        // PostgreSQL as 22021 and left a pooled connection out of step); a bulk action's filter too. Afterwards,
        // ordinary listings keep working.
        var nul = await Assert.ThrowsAsync<ArgumentException>(() => ops.ListAsync(new DeferredTaskQuery { Filter = new() { TaskType = "a\0b" } }));
        Assert.Equal("Filter.TaskType", nul.ParamName);
        var escape = await Assert.ThrowsAsync<ArgumentException>(() => ops.ListAsync(new DeferredTaskQuery { Filter = new() { ErrorContains = "x\u001b[2J" } }));
        Assert.Equal("Filter.ErrorContains", escape.ParamName);
        var bulk = await Assert.ThrowsAsync<ArgumentException>(() => ops.PrepareRetryDeadAsync(new DeferredTaskFilter { ErrorContains = "a\0b" }));
        Assert.Equal("Filter.ErrorContains", bulk.ParamName);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(7, (await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Pending } })).Tasks.Count);
        }
    }

    [Fact]
    public async Task Bulk_retry_revives_every_matching_dead_task_and_purge_deletes_old_dead_ones_through_their_grains()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        var dead = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            dead.Add(await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailFirstRun }, new DeferredEnqueueOptions { MaxAttempts = 1 }));
        }

        var doomed = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1 });
        await Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == 5, "five dead tasks");

        // Every dead task of the type is retried; the four that fail only on their first run then complete.
        Assert.Equal(5, await ops.RetryDeadAsync(new DeferredTaskFilter { TaskType = "deferred.tests.probe" }));
        foreach (var id in dead)
        {
            await cluster.Probe.WaitForRunsAsync(id, 2);
        }

        await Eventually.True(async () => await cluster.Client.GetAsync(doomed) is { Status: DeferredTaskStatus.Dead, Attempts: 1 }, "the always-failing task to die again");
        Assert.Equal(0, await ops.PurgeDeadAsync(DateTimeOffset.UtcNow.AddDays(-1)));
        Assert.Equal(1, await ops.PurgeDeadAsync(DateTimeOffset.UtcNow.AddMinutes(1)));
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every row to be gone");
    }

    [Fact]
    public async Task A_bulk_retry_of_dead_tasks_that_die_again_retries_each_once_and_ends()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);

        // More than one page of the bulk walk (200), so a walk that asks for "dead" again meets the tasks that died again.
        const int count = 450;
        var ids = await EnqueueDeadAsync(cluster, count);
        await Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == count, "every task dead");

        // Bounded by what matched when it started: each dead task is retried once, however soon it dies again.
        var retried = await ops.RetryDeadAsync(new DeferredTaskFilter { TaskType = "deferred.tests.probe" }).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(count, retried);
        await cluster.Probe.WaitAsync(runs => runs.GroupBy(r => r.TaskId).Count(g => g.Count() >= 2) == count, "each task's run after the retry");
        var runs = cluster.Probe.Runs.GroupBy(r => r.TaskId).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(ids.Order(), runs.Keys.Order());
        Assert.All(runs, r => Assert.Equal(2, r.Value));
    }

    [Fact]
    public async Task A_bulk_action_says_how_many_tasks_it_covers_before_it_acts_runs_without_its_caller_and_can_be_cancelled()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        const int count = 1000;
        await EnqueueDeadAsync(cluster, count);
        await Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == count, "every task dead");

        // Prepared: counted, nothing changed until started.
        var retry = await ops.PrepareRetryDeadAsync(new DeferredTaskFilter { TaskType = "deferred.tests.probe" });
        Assert.Equal((DeferredBulkActionState.Prepared, DeferredBulkActionKind.RetryDead, count, 0, count), (retry.State, retry.Kind, retry.Total, retry.Done, retry.Remaining));
        Assert.Equal(count, (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count));
        Assert.Equal(count, cluster.Probe.Runs.Count);

        // Started and cancelled at once: it stops where it is, and its counts are final.
        var started = await ops.StartBulkActionAsync(retry.Id);
        Assert.Equal(DeferredBulkActionState.Running, started!.State);
        var cancelled = await ops.CancelBulkActionAsync(retry.Id);
        Assert.Equal(DeferredBulkActionState.Cancelled, cancelled!.State);
        Assert.InRange(cancelled.Done, 0, count - 1);
        Assert.Equal(count, cancelled.Done + cancelled.Skipped + cancelled.Failed + cancelled.Remaining);
        Assert.Equal(cancelled, await ops.GetBulkActionAsync(retry.Id));
        Assert.Equal(cancelled, await ops.StartBulkActionAsync(retry.Id));

        // A fresh action covers what is dead now; started by one call and watched by another (no caller waits on it).
        var again = await ops.PrepareRetryDeadAsync(new DeferredTaskFilter());
        Assert.InRange(again.Total, count - cancelled.Done, count);
        await ops.StartBulkActionAsync(again.Id);
        var finished = await Eventually.Until(() => ops.GetBulkActionAsync(again.Id), a => a!.IsFinished, "the second action to finish");
        Assert.Equal((DeferredBulkActionState.Completed, 0, 0), (finished!.State, finished.Remaining, finished.Failed));
        Assert.Equal(again.Total, finished.Done + finished.Skipped);
        Assert.NotNull(finished.FinishedAt);

        // Unknown and malformed ids.
        Assert.Null(await ops.GetBulkActionAsync(Guid.NewGuid().ToString("N")));
        Assert.Null(await ops.StartBulkActionAsync(Guid.NewGuid().ToString("N")));
        var bad = await Assert.ThrowsAsync<ArgumentException>(() => ops.GetBulkActionAsync("../../etc"));
        Assert.Equal("actionId", bad.ParamName);

        // A purge prepared is counted too, and deletes only when started.
        await Eventually.True(async () => (await ops.CountAsync()).Where(c => c.Status == DeferredTaskStatus.Dead).Sum(c => c.Count) == count, "every task dead again");
        var purge = await ops.PreparePurgeDeadAsync(DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal((DeferredBulkActionKind.PurgeDead, count), (purge.Kind, purge.Total));
        Assert.Equal(count, await cluster.CountRowsAsync());
        await ops.StartBulkActionAsync(purge.Id);
        var purged = await Eventually.Until(() => ops.GetBulkActionAsync(purge.Id), a => a!.IsFinished, "the purge to finish");
        Assert.Equal(count, purged!.Done);
        Assert.Equal(0, await cluster.CountRowsAsync());
    }

    [Fact]
    public async Task Per_task_actions_answer_for_unknown_ids_and_refuse_what_the_lifecycle_refuses()
    {
        await using var cluster = await StartAsync();
        var ops = Operator(cluster);
        Assert.Null(await ops.ShowAsync("no-such-task"));
        Assert.False(await ops.RetryDeadAsync("no-such-task"));
        Assert.False(await ops.DeleteAsync("no-such-task"));
        Assert.Equal(DeferredCancelOutcome.NotStored, await ops.CancelAsync("no-such-task"));
        await Assert.ThrowsAsync<ArgumentException>(() => ops.ShowAsync("bad id with spaces"));

        var running = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.WaitForRelease });
        await cluster.Probe.WaitForRunsAsync(running, 1);
        Assert.Equal(DeferredTaskStatus.Running, (await ops.ShowAsync(running))!.Info.Status);
        await Assert.ThrowsAsync<InvalidOperationException>(() => ops.DeleteAsync(running));
        Assert.False(await ops.RetryDeadAsync(running));
        cluster.Probe.Release.TrySetResult();
        await Eventually.True(async () => await ops.ShowAsync(running) is null, "the running task to complete");
    }

    /// <summary>Enqueues <paramref name="count"/> tasks that fail every run with one attempt each (16 enqueues at a time; the stock store has no batch enqueue).</summary>
    private static async Task<string[]> EnqueueDeadAsync(DeferredTestCluster cluster, int count)
    {
        var ids = new string[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            ids[i] = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail, Note = $"dead-{i}" }, new DeferredEnqueueOptions { MaxAttempts = 1 }, ct));
        return ids;
    }

    [Fact]
    public async Task Run_now_starts_a_failed_tasks_retry_at_once_without_using_up_an_attempt()
    {
        // The first attempt fails and the retry is an hour away; the second succeeds.
        await using var cluster = await StartAsync(o => o.RetryBackoff = _ => TimeSpan.FromHours(1));
        var ops = Operator(cluster);
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.FailUntilAttempt, SucceedOnAttempt = 2 }, new DeferredEnqueueOptions { MaxAttempts = 3 });
        var failed = await Eventually.Until(() => cluster.Client.GetAsync(taskId), t => t?.Status == DeferredTaskStatus.Failed, "the first attempt to fail");
        Assert.Equal(1, failed!.Attempts);
        Assert.True(failed.NextRunAt > DateTimeOffset.UtcNow.AddMinutes(50));

        var asked = DateTimeOffset.UtcNow;
        Assert.True(await ops.RunNowAsync(taskId));

        // The edge itself used up nothing: right after it the task still counts one attempt, due now.
        var due = await ops.ShowAsync(taskId);
        if (due is not null && due.Info.Status == DeferredTaskStatus.Failed)
        {
            Assert.Equal(1, due.Info.Attempts);
            Assert.True(due.Info.NextRunAt <= DateTimeOffset.UtcNow, $"next run {due.Info.NextRunAt:O}");
        }

        await cluster.Probe.WaitForRunsAsync(taskId, 2, TimeSpan.FromSeconds(30));
        var runs = cluster.Probe.RunsOf(taskId);
        Assert.Equal(2, runs[1].Attempt);
        Assert.InRange(runs[1].StartedAt, asked.AddSeconds(-1), asked.AddSeconds(30));
        await Eventually.True(async () => await cluster.Client.GetAsync(taskId) is null, "the task to complete");

        // Gone, dead or running: nothing to run now.
        Assert.False(await ops.RunNowAsync(taskId));
        var dead = await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { MaxAttempts = 1 });
        await Eventually.True(async () => (await cluster.Client.GetAsync(dead))?.Status == DeferredTaskStatus.Dead, "the other task to die");
        Assert.False(await ops.RunNowAsync(dead));
        Assert.Equal(DeferredTaskStatus.Dead, (await cluster.Client.GetAsync(dead))!.Status);
    }

    [Fact]
    public async Task Run_now_starts_a_delayed_task_at_once()
    {
        await using var cluster = await StartAsync();
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { Delay = TimeSpan.FromDays(2) });

        Assert.True(await Operator(cluster).RunNowAsync(taskId));

        await cluster.Probe.WaitForRunsAsync(taskId, 1, TimeSpan.FromSeconds(30));
        Assert.Equal(1, cluster.Probe.RunsOf(taskId)[0].Attempt);
    }

    private static IDeferredTaskOperator Operator(DeferredTestCluster cluster) =>
        cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
}
