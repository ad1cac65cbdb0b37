using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Deferred.Silo.Demo;
using Deferred.Silo.Operator;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class OfflineCliTestsOnPostgresStore : OfflineCliTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;
}

public sealed class OfflineCliTestsOnStockAdoNet : OfflineCliTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>
/// The <c>tasks</c> command when no silo runs (issue 23, item 11): the whole command (<see cref="TasksCommand"/>: the
/// client connection, then the verb) against a cluster whose silos were all stopped. The read verbs answer from the
/// database with what the cluster answered before, and say so on stderr; a change is refused with exit 1, saying it
/// needs a silo; nothing is changed.
/// </summary>
public abstract class OfflineCliTests : StoreConformance
{
    private static readonly DeferredEnqueueOptions Later = new() { Delay = TimeSpan.FromHours(1) };

    [Fact]
    public async Task With_every_silo_stopped_stats_list_and_show_read_the_database_and_a_change_is_refused()
    {
        // The sample's task type too: the command decodes the payloads of the types it has itself.
        await using var cluster = await StartAsync(
            o => o.RetryBackoff = _ => TimeSpan.FromMilliseconds(50),
            configureSilo: silo => silo.Services.AddDeferredTaskHandler<DemoTask, IdleDemoHandler>());
        await cluster.Client.EnqueueAsync(new DemoTask { RunId = "run-offline\u001b[2J" }, Later with { TaskId = "off-demo" });
        foreach (var id in new[] { "off-a", "off-b", "off-c" })
        {
            await cluster.Client.EnqueueAsync(new ProbeTask { Note = "note-" + id }, Later with { TaskId = id });
        }

        const string dead = "off-dead";
        await cluster.Client.EnqueueAsync(new ProbeTask { Behavior = ProbeBehavior.AlwaysFail }, new DeferredEnqueueOptions { TaskId = dead, MaxAttempts = 1 });
        var ops = cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();
        await Eventually.True(
            async () => (await ops.ListAsync(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Dead } })).Tasks.Any(t => t.TaskId == dead),
            "the failing task to be stored as dead");

        // What the cluster answers, to compare with: the listing, a first page with its token, the counts.
        var online = await ops.ListAsync(new DeferredTaskQuery());
        var onlineFirst = await ops.ListAsync(new DeferredTaskQuery { PageSize = 3 });
        var onlineCounts = await ops.CountAsync();
        Assert.Equal(5, online.Tasks.Count);
        Assert.NotNull(onlineFirst.NextPageToken);

        await cluster.StopAsync();
        var connection = new TasksConnection
        {
            GatewayPort = UnusedPort(),
            ClusterId = cluster.ServiceId,
            ServiceId = cluster.ServiceId,
            ConnectionString = cluster.Database.ConnectionString,
            Store = Store,
        };
        var table = Store == DeferredStore.Postgres ? "table deferred_tasks" : "table orleansstorage";
        var fellBack = $"no silo answered, so this was read from the database (ServiceId '{cluster.ServiceId}', {table}): cannot connect to the cluster (Localhost clustering, gateway 127.0.0.1:{connection.GatewayPort}";

        // stats: the counts the cluster gave, and a note on stderr that says where they came from.
        var stats = await RunAsync(connection, "stats");
        Assert.Equal(TaskVerbs.Done, stats.Code);
        Assert.StartsWith($"tasks stats: {fellBack}", OneLine(stats.Err));
        Assert.Contains("deferred.tests.probe", stats.Out);
        Assert.Contains("deferred.demo.task", stats.Out);
        Assert.Contains("total 5: pending 4, failed 0, dead 1", stats.Out);
        using (var counts = Json(await RunAsync(connection, "stats", "--from-database", "--json")))
        {
            var rows = counts.RootElement.GetProperty("counts").Deserialize<DeferredTaskCount[]>(TaskOutput.JsonOptions)!;
            Assert.Equal(onlineCounts.OrderBy(c => c.Status).ThenBy(c => c.TaskType), rows.OrderBy(c => c.Status).ThenBy(c => c.TaskType));
        }

        // list: the same tasks, in the same order, with their errors; filters and page tokens as through a silo.
        var list = await RunAsync(connection, "list");
        Assert.Equal(TaskVerbs.Done, list.Code);
        Assert.StartsWith($"tasks list: {fellBack}", OneLine(list.Err));
        Assert.StartsWith("ID ", list.Out);
        Assert.All(new[] { "off-a", "off-b", "off-c", dead }, id => Assert.Contains(id, list.Out));
        Assert.Contains("System.InvalidOperationException: probe failure on attempt 1", list.Out);
        var all = Page(await RunAsync(connection, "list", "--from-database", "--json"));
        Assert.Equal(online.Tasks.Select(t => (t.TaskId, t.Status, t.Attempts, t.LastErrorMessage)), all.Tasks.Select(t => (t.TaskId, t.Status, t.Attempts, t.LastErrorMessage)));
        Assert.Equal(dead, Assert.Single(Page(await RunAsync(connection, "list", "--status", "dead", "--from-database", "--json")).Tasks).TaskId);
        Assert.Equal(dead, Assert.Single(Page(await RunAsync(connection, "list", "--error", "PROBE FAILURE", "--from-database", "--json")).Tasks).TaskId);
        var rest = Page(await RunAsync(connection, "list", "--page-size", "3", "--page-token", onlineFirst.NextPageToken, "--from-database", "--json"));
        Assert.Equal(online.Tasks.Skip(3).Select(t => t.TaskId), rest.Tasks.Select(t => t.TaskId));

        // A filter is checked before it reaches SQL, as on a silo: bad usage, nothing printed on stdout.
        var nul = await RunAsync(connection, "list", "--error", "a\0b", "--from-database");
        Assert.Equal(TaskVerbs.BadUsage, nul.Code);
        Assert.Contains("Filter.ErrorContains holds a control character", nul.Err);
        Assert.Empty(nul.Out);

        // show: everything the row holds; the payload of a type this program does not have is left undecoded, saying why.
        var show = await RunAsync(connection, "show", "off-a");
        Assert.Equal(TaskVerbs.Done, show.Code);
        Assert.StartsWith($"tasks show: {fellBack}", OneLine(show.Err));
        Assert.Contains("type:", show.Out);
        Assert.Contains("deferred.tests.probe", show.Out);
        Assert.Contains("pending (as stored; only a silo knows whether an attempt is running now)", show.Out);
        Assert.Contains("decoding it needs a silo with task type 'deferred.tests.probe'", show.Out);
        using (var details = Json(await RunAsync(connection, "show", dead, "--from-database", "--json")))
        {
            var root = details.RootElement;
            Assert.Equal(dead, root.GetProperty("taskId").GetString());
            Assert.Equal("dead", root.GetProperty("status").GetString());
            Assert.Equal(1, root.GetProperty("attempts").GetInt32());
            Assert.Equal("probe failure on attempt 1", root.GetProperty("lastError").GetProperty("message").GetString());
            Assert.Contains(nameof(ProbeHandler), root.GetProperty("lastError").GetProperty("stackTrace").GetString());
            Assert.True(root.GetProperty("payloadBytes").GetInt32() > 0);
            Assert.Equal(JsonValueKind.Null, root.GetProperty("payload").ValueKind);
        }

        // A payload of a type the command has is decoded, as a silo would (control characters escaped as JSON does).
        var demo = await RunAsync(connection, "show", "off-demo", "--from-database");
        Assert.Equal(TaskVerbs.Done, demo.Code);
        Assert.Contains(typeof(DemoTask).FullName!, demo.Out);
        Assert.Contains("\"RunId\": \"run-offline\\u001B[2J\"", demo.Out);
        Assert.False(demo.Out.Contains('\u001b', StringComparison.Ordinal), "a raw ESC reached the terminal");

        var missing = await RunAsync(connection, "show", "off-missing", "--from-database");
        Assert.Equal(TaskVerbs.Refused, missing.Code);
        Assert.Contains("tasks show: task 'off-missing' is not stored", missing.Err);
        Assert.Empty(missing.Out);

        // A change needs the task's grain: refused, saying so, and the task stays as it was.
        var retry = await RunAsync(connection, "retry", dead);
        Assert.Equal(TaskVerbs.Refused, retry.Code);
        var refusal = OneLine(retry.Err);
        Assert.StartsWith($"tasks retry: cannot connect to the cluster (Localhost clustering, gateway 127.0.0.1:{connection.GatewayPort}", refusal);
        Assert.EndsWith("nothing was done: retry changes tasks through their grains, so it needs a running silo (list, show and stats read the database without one)", refusal);
        Assert.Empty(retry.Out);
        Assert.Equal(DeferredTaskStatus.Dead, Assert.Single(Page(await RunAsync(connection, "list", "--status", "dead", "--from-database", "--json")).Tasks).Status);

        // --from-cluster: no silo, no answer.
        var clusterOnly = await RunAsync(connection, "stats", "--from-cluster");
        Assert.Equal(TaskVerbs.Refused, clusterOnly.Code);
        Assert.EndsWith("(--from-cluster: the database was not read)", OneLine(clusterOnly.Err));
        Assert.Empty(clusterOnly.Out);

        // Neither a silo nor the database: exit 1, one line each, no stack trace.
        var nowhere = connection with
        {
            ConnectionString = new NpgsqlConnectionStringBuilder(cluster.Database.ConnectionString) { Port = UnusedPort(), Timeout = 5 }.ConnectionString,
        };
        var down = await RunAsync(nowhere, "stats", "--from-database");
        Assert.Equal(TaskVerbs.Refused, down.Code);
        Assert.Contains("tasks stats: the task store is unreachable: reading the database failed", down.Err);
        Assert.Empty(down.Out);
    }

    private sealed class IdleDemoHandler : IDeferredTaskHandler<DemoTask>
    {
        public Task ExecuteAsync(DemoTask task, DeferredTaskContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(TasksConnection connection, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var request = TasksRequest.Parse(args, stderr);
        var code = request is null ? TaskVerbs.BadUsage : await TasksCommand.RunAsync(request, connection, stdout, stderr).WaitAsync(TimeSpan.FromMinutes(1));
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A local port nothing listens on (taken from the system, then released).</summary>
    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>The first stderr line (the note or the refusal), checked to be the only one.</summary>
    private static string OneLine(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        return lines[0].TrimEnd('\r');
    }

    private static DeferredTaskPage Page((int Code, string Out, string Err) result)
    {
        Assert.True(result.Code == TaskVerbs.Done, $"exit code {result.Code}: {result.Err}");
        return JsonSerializer.Deserialize<DeferredTaskPage>(result.Out, TaskOutput.JsonOptions)!;
    }

    private static JsonDocument Json((int Code, string Out, string Err) result)
    {
        Assert.True(result.Code == TaskVerbs.Done, $"exit code {result.Code}: {result.Err}");
        return JsonDocument.Parse(result.Out);
    }
}
