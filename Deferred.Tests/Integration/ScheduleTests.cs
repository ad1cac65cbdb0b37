using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Deferred.Scheduling;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace Deferred.Tests.Integration;

/// <summary>Schedules on the default store: once per cluster across a silo kill, missed policies, runtime schedules and the operator.</summary>
public sealed class ScheduleTests(ITestOutputHelper output) : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    internal static IDeferredTaskOperator Operator(DeferredTestCluster cluster) =>
        cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>();

    internal static DateTimeOffset OccurrenceOf(string taskId) =>
        DateTimeOffset.ParseExact(taskId[(taskId.LastIndexOf(':') + 1)..], "yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    internal static List<ProbeRun> RunsOf(Probe probe, string schedule) =>
        probe.Runs.Where(r => r.TaskId.StartsWith($"schedule:{schedule}:", StringComparison.Ordinal)).ToList();

    private static Task<long> ScheduleRowsAsync(DeferredTestCluster cluster) =>
        cluster.Database.ScalarAsync<long>("SELECT count(*) FROM deferred_schedules WHERE service_id = @s", ("s", cluster.ServiceId));

    [Fact]
    public async Task A_code_schedule_on_three_silos_runs_each_occurrence_once_also_after_a_silo_is_killed()
    {
        await using var cluster = await StartAsync(silos: 3, configureSilo: silo =>
            silo.AddDeferredSchedule("tick", DeferredSchedule.Every(TimeSpan.FromSeconds(1)), _ => new ProbeTask { Note = "tick" }));

        await cluster.Probe.WaitAsync(runs => RunsOf(cluster.Probe, "tick").Count >= 4, "four occurrences of the schedule");
        var before = RunsOf(cluster.Probe, "tick");
        var victim = before[^1].Silo;
        var victimIndex = cluster.Cluster.Silos.ToList().FindIndex(s => s.SiloAddress == victim);
        var delays = before.Select(r => (r.StartedAt - OccurrenceOf(r.TaskId)).TotalMilliseconds).Order().ToArray();
        output.WriteLine($"occurrence -> handler start, ms: min {delays[0]:0}, median {delays[delays.Length / 2]:0}, max {delays[^1]:0} over {delays.Length}");

        await cluster.KillSiloAsync(victimIndex);
        var killedAt = DateTimeOffset.UtcNow;

        await cluster.Probe.WaitAsync(
            runs => RunsOf(cluster.Probe, "tick").Select(r => r.TaskId).Distinct().Count(id => OccurrenceOf(id) > killedAt) >= 3,
            "three occurrences after the kill",
            TimeSpan.FromSeconds(60));
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every stored occurrence to complete");

        var runs = RunsOf(cluster.Probe, "tick");
        foreach (var group in runs.GroupBy(r => r.TaskId))
        {
            // Every occurrence runs exactly once in the cluster, except one that was running on the victim when it was
            // killed: that one runs again on a survivor (docs/semantics.md, point 5), and only there.
            Assert.True(group.Count(r => r.Silo != victim) <= 1, $"{group.Key} ran {group.Count()} times");
            Assert.True(group.Count(r => r.Silo == victim) <= 1, $"{group.Key} ran {group.Count()} times");
        }

        Assert.All(runs.Where(r => OccurrenceOf(r.TaskId) > killedAt.AddSeconds(1)), r => Assert.NotEqual(victim, r.Silo));

        // The occurrences are the interval's grid, whole seconds, and the schedule's row says which ran last.
        Assert.All(runs, r => Assert.Equal(0, OccurrenceOf(r.TaskId).Millisecond));
        var listed = Assert.Single(await Operator(cluster).ListSchedulesAsync());
        Assert.Equal(("tick", DeferredScheduleSource.Code, "every 00:00:01", "deferred.tests.probe"), (listed.Name, listed.Source, listed.Spec, listed.TaskType));
        Assert.True(listed.LastOccurrence >= runs.Max(r => OccurrenceOf(r.TaskId)));
    }

    [Fact]
    public async Task A_runtime_schedule_from_a_client_is_listed_paused_resumed_and_removed_and_a_pause_survives_restarts()
    {
        await using var cluster = await StartAsync(configureSilo: silo =>
            silo.AddDeferredSchedule("code-hourly", DeferredSchedule.Every(TimeSpan.FromHours(1)) with { MaxAttempts = 3 }, _ => new ProbeTask { Note = "hourly" }));
        var operations = Operator(cluster);

        await cluster.Client.ScheduleAsync("rt-tick", new ProbeTask { Note = "rt" }, DeferredSchedule.Every(TimeSpan.FromSeconds(1)));
        await cluster.Probe.WaitAsync(_ => RunsOf(cluster.Probe, "rt-tick").Count >= 2, "two occurrences of the runtime schedule");
        Assert.All(RunsOf(cluster.Probe, "rt-tick"), r => Assert.Equal("rt", r.Note));

        var listed = await operations.ListSchedulesAsync();
        Assert.Equal(["code-hourly", "rt-tick"], listed.Select(s => s.Name));
        Assert.Equal((DeferredScheduleSource.Code, "every 01:00:00", 3, false), (listed[0].Source, listed[0].Spec, listed[0].MaxAttempts, listed[0].Paused));
        Assert.Equal((DeferredScheduleSource.Runtime, "every 00:00:01", "UTC", false), (listed[1].Source, listed[1].Spec, listed[1].TimeZone, listed[1].Paused));
        Assert.NotNull(listed[1].LastOccurrence);

        // A name held by a code schedule cannot be taken at run time.
        var taken = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.Client.ScheduleAsync("code-hourly", new ProbeTask(), DeferredSchedule.Every(TimeSpan.FromSeconds(5))));
        Assert.Contains("code-hourly", taken.Message, StringComparison.Ordinal);

        Assert.True(await operations.PauseScheduleAsync("rt-tick"));
        Assert.True((await operations.ListSchedulesAsync()).Single(s => s.Name == "rt-tick").Paused);

        // Occurrences stored before the pause still run; then nothing more is stored.
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "occurrences stored before the pause to complete");
        var whilePaused = RunsOf(cluster.Probe, "rt-tick").Count;

        // Paused and due (its next occurrence set an hour back): a scheduler pass claims nothing and stores nothing.
        await cluster.Database.ExecuteAsync("UPDATE deferred_schedules SET next_at = now() - interval '1 hour' WHERE service_id = @s AND name = 'rt-tick'", ("s", cluster.ServiceId));
        var silo = cluster.Cluster.Silos[0].ServiceProvider;
        var claimed = await silo.GetRequiredService<DeferredScheduler>().PassAsync(silo.GetRequiredService<ScheduleStoreSelection>().Store!, CancellationToken.None);
        Assert.Equal(0, claimed);
        Assert.Equal(whilePaused, RunsOf(cluster.Probe, "rt-tick").Count);
        Assert.Equal(0, await cluster.CountRowsAsync());

        // A resumed schedule starts at its next occurrence after now: the ones it missed while paused are skipped.
        var resumedAt = DateTimeOffset.UtcNow;
        Assert.True(await operations.ResumeScheduleAsync("rt-tick"));
        await cluster.Probe.WaitAsync(_ => RunsOf(cluster.Probe, "rt-tick").Count > whilePaused, "an occurrence after the resume");
        Assert.All(RunsOf(cluster.Probe, "rt-tick").Skip(whilePaused), r => Assert.True(OccurrenceOf(r.TaskId) > resumedAt.AddSeconds(-1), r.TaskId));

        Assert.True(await cluster.Client.UnscheduleAsync("rt-tick"));
        Assert.False(await operations.RemoveScheduleAsync("rt-tick"));
        Assert.False(await operations.PauseScheduleAsync("no-such-schedule"));
        Assert.False(await operations.ResumeScheduleAsync("no-such-schedule"));
        Assert.Equal(["code-hourly"], (await operations.ListSchedulesAsync()).Select(s => s.Name));

        // An operator's pause of a code schedule is kept when silos start again and rewrite it.
        Assert.True(await operations.PauseScheduleAsync("code-hourly"));
        await cluster.RestartAsync();
        var afterRestart = Assert.Single(await Operator(cluster).ListSchedulesAsync());
        Assert.Equal(("code-hourly", true), (afterRestart.Name, afterRestart.Paused));
    }

    [Fact]
    public async Task A_silo_start_keeps_the_next_occurrence_and_the_pause_unless_the_timing_changed()
    {
        var serviceId = "t-" + Guid.NewGuid().ToString("N")[..12];
        Action<ISiloBuilder> Registering(DeferredSchedule schedule) => silo => silo.AddDeferredSchedule("def", schedule, _ => new ProbeTask());
        var marker = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

        await using (var first = await StartAsync(configureSilo: Registering(DeferredSchedule.Every(TimeSpan.FromHours(1))), serviceId: serviceId))
        {
            var (nextAt, paused, attempts) = await ReadDefAsync(first);
            Assert.Equal((false, 21), (paused, attempts));
            Assert.Equal(0, nextAt.Minute + nextAt.Second);
            await first.Database.ExecuteAsync("UPDATE deferred_schedules SET next_at = @at, paused = true WHERE service_id = @s", ("at", marker), ("s", serviceId));
        }

        // Same timing, other attempts: the definition is replaced, the next occurrence and the pause are kept.
        await using (var second = await StartAsync(configureSilo: Registering(DeferredSchedule.Every(TimeSpan.FromHours(1)) with { MaxAttempts = 5 }), serviceId: serviceId))
        {
            Assert.Equal((marker, true, 5), await ReadDefAsync(second));
        }

        // Another timing: the next occurrence is recomputed (the next even hour); the pause is still kept.
        await using (var third = await StartAsync(configureSilo: Registering(DeferredSchedule.Every(TimeSpan.FromHours(2))), serviceId: serviceId))
        {
            var (nextAt, paused, _) = await ReadDefAsync(third);
            Assert.True(paused);
            Assert.True(nextAt < marker && nextAt > DateTimeOffset.UtcNow && nextAt.Hour % 2 == 0 && nextAt.Minute == 0, $"{nextAt:O}");
        }
    }

    private static async Task<(DateTimeOffset NextAt, bool Paused, int MaxAttempts)> ReadDefAsync(DeferredTestCluster cluster)
    {
        await using var command = cluster.Database.DataSource.CreateCommand("SELECT next_at, paused, max_attempts FROM deferred_schedules WHERE service_id = @s AND name = 'def'");
        command.Parameters.AddWithValue("s", cluster.ServiceId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetFieldValue<DateTimeOffset>(0), reader.GetBoolean(1), reader.GetInt32(2));
    }

    [Fact]
    public async Task An_occurrence_is_counted_and_its_attempts_run_in_the_trace_of_its_producer_span()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Deferred",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var counted = new ConcurrentQueue<string?>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Deferred" && instrument.Name == "deferred.schedule.occurrences")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "deferred.task.type")
                {
                    counted.Enqueue(tag.Value as string);
                }
            }
        });
        meters.Start();

        await using var cluster = await StartAsync();
        await cluster.Client.ScheduleAsync("traced", new ProbeTask(), DeferredSchedule.Every(TimeSpan.FromSeconds(1)));
        await cluster.Probe.WaitAsync(_ => RunsOf(cluster.Probe, "traced").Count >= 1, "an occurrence");
        var run = RunsOf(cluster.Probe, "traced")[0];

        var producer = Assert.Single(spans, s => s.OperationName == "deferred.schedule.occurrence" && Equals(s.GetTagItem("deferred.task.id"), run.TaskId));
        Assert.Equal((ActivityKind.Producer, "traced"), (producer.Kind, producer.GetTagItem("deferred.schedule.name")));
        Assert.Equal(producer.TraceId.ToHexString(), run.TraceId);
        Assert.Contains("deferred.tests.probe", counted);
    }

    [Fact]
    public async Task Bad_schedules_are_refused_naming_the_value_and_store_nothing()
    {
        await using var cluster = await StartAsync();
        var task = new ProbeTask();

        var cron = await Assert.ThrowsAnyAsync<ArgumentException>(() => cluster.Client.ScheduleAsync("bad-cron", task, DeferredSchedule.Cron("61 * * * *")));
        Assert.Contains("61 * * * *", cron.Message, StringComparison.Ordinal);
        var onSilo = await Assert.ThrowsAnyAsync<ArgumentException>(() => cluster.OnSilo(0).ScheduleAsync("bad-cron", task, DeferredSchedule.Cron("0 0 * * * * *")));
        Assert.Contains("0 0 * * * * *", onSilo.Message, StringComparison.Ordinal);
        var zone = Assert.Throws<ArgumentException>(() => DeferredSchedule.Cron("0 * * * *", "Mars/Olympus_Mons"));
        Assert.Contains("Mars/Olympus_Mons", zone.Message, StringComparison.Ordinal);
        var interval = Assert.Throws<ArgumentOutOfRangeException>(() => DeferredSchedule.Every(TimeSpan.Zero));
        Assert.Contains("00:00:00", interval.Message, StringComparison.Ordinal);
        var name = await Assert.ThrowsAsync<ArgumentException>(() => cluster.Client.ScheduleAsync("no spaces", task, DeferredSchedule.Every(TimeSpan.FromMinutes(1))));
        Assert.Contains("'no spaces'", name.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentNullException>(() => cluster.Client.ScheduleAsync<ProbeTask>("null-task", null!, DeferredSchedule.Every(TimeSpan.FromMinutes(1))));
        await Assert.ThrowsAsync<DeferredTaskTypeNotRegisteredException>(() => cluster.Client.ScheduleAsync("unhandled", new UnhandledTask(1), DeferredSchedule.Every(TimeSpan.FromMinutes(1))));

        Assert.Equal(0, await ScheduleRowsAsync(cluster));
    }

    [Fact]
    public async Task A_silo_does_not_start_with_a_schedule_whose_task_type_has_no_handler()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(configureSilo: silo =>
            silo.AddDeferredSchedule("orphan", DeferredSchedule.Every(TimeSpan.FromMinutes(1)), _ => new UnhandledTask(1))));
        var message = ExceptionText.Flatten(error);
        Assert.Contains("orphan", message, StringComparison.Ordinal);
        Assert.Contains(typeof(UnhandledTask).FullName!, message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_schedule_with_a_bad_cron_expression_cannot_be_registered()
    {
        var error = Assert.Throws<ArgumentException>(() => DeferredSchedule.Cron("  "));
        Assert.Equal("expression", error.ParamName);
        var services = new ServiceCollection();
        var cron = Assert.Throws<ArgumentException>(() => new TestSiloBuilder(services).AddDeferredSchedule("nightly", DeferredSchedule.Cron("0 25 * * *"), _ => new ProbeTask()));
        Assert.Contains("0 25 * * *", cron.Message, StringComparison.Ordinal);
        Assert.Contains("nightly", cron.Message, StringComparison.Ordinal);
        Assert.Empty(services);
    }
}

/// <summary>The stock store cannot insert occurrences in the schedule's transaction and says so.</summary>
public sealed class ScheduleOnStockAdoNetTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;

    [Fact]
    public async Task The_stock_store_refuses_a_runtime_schedule_and_a_silo_with_a_code_schedule()
    {
        await using (var cluster = await StartAsync())
        {
            var error = await Assert.ThrowsAsync<NotSupportedException>(() => cluster.Client.ScheduleAsync("stock", new ProbeTask(), DeferredSchedule.Every(TimeSpan.FromMinutes(1))));
            Assert.Contains("OrleansAdoNet", error.Message, StringComparison.Ordinal);
            Assert.Contains("Deferred:Store = Postgres", error.Message, StringComparison.Ordinal);
            Assert.Empty(await cluster.Cluster.Client.ServiceProvider.GetRequiredService<IDeferredTaskOperator>().ListSchedulesAsync());
            Assert.Equal(0, await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM deferred_schedules WHERE service_id = @s", ("s", cluster.ServiceId)));
        }

        var start = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(configureSilo: silo =>
            silo.AddDeferredSchedule("stock-code", DeferredSchedule.Every(TimeSpan.FromMinutes(1)), _ => new ProbeTask())));
        var message = ExceptionText.Flatten(start);
        Assert.Contains("OrleansAdoNet", message, StringComparison.Ordinal);
        Assert.Contains("stock-code", message, StringComparison.Ordinal);
    }
}

/// <summary>
/// Runs alone (after the parallel tests): its occurrences are years overdue, and the telemetry tests' process-wide
/// listeners would see their queue waits.
/// </summary>
[CollectionDefinition(nameof(MissedScheduleTests), DisableParallelization = true)]
public sealed class MissedScheduleTestsRunAlone;

/// <summary>The missed-occurrence policies on a real cluster, from a next occurrence set years in the past.</summary>
[Collection(nameof(MissedScheduleTests))]
public sealed class MissedScheduleTests : StoreConformance
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    private static List<ProbeRun> RunsOf(Probe probe, string schedule) => ScheduleTests.RunsOf(probe, schedule);

    private static IDeferredTaskOperator Operator(DeferredTestCluster cluster) => ScheduleTests.Operator(cluster);

    private static string ScheduleId(string name, DateTimeOffset at) => Scheduling.ScheduleSpec.OccurrenceId(name, at);

    [Fact]
    public async Task Missed_occurrences_run_once_all_or_not_at_all_by_policy()
    {
        await using var cluster = await StartAsync();
        var yearly = DeferredSchedule.Cron("0 0 1 1 *");
        await cluster.Client.ScheduleAsync("missed-once", new ProbeTask { Note = "once" }, yearly);
        await cluster.Client.ScheduleAsync("missed-all", new ProbeTask { Note = "all" }, yearly with { Missed = MissedOccurrences.RunAll });
        await cluster.Client.ScheduleAsync("missed-skip", new ProbeTask { Note = "skip" }, yearly with { Missed = MissedOccurrences.Skip });

        // As if the cluster had been down since before New Year 2023: every 1 January since then was missed.
        var lastFired = new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero);
        await cluster.Database.ExecuteAsync("UPDATE deferred_schedules SET next_at = @at WHERE service_id = @s", ("at", lastFired), ("s", cluster.ServiceId));
        var now = DateTimeOffset.UtcNow;
        var missed = Enumerable.Range(2023, now.Year - 2023 + 1).Select(y => new DateTimeOffset(y, 1, 1, 0, 0, 0, TimeSpan.Zero)).ToList();

        await cluster.Probe.WaitAsync(_ => RunsOf(cluster.Probe, "missed-all").Count >= missed.Count && RunsOf(cluster.Probe, "missed-once").Count >= 1, "the missed occurrences to run");
        await Eventually.True(
            async () => await cluster.Database.ScalarAsync<long>("SELECT count(*) FROM deferred_schedules WHERE service_id = @s AND next_at > now()", ("s", cluster.ServiceId)) == 3,
            "every schedule to move past now");
        await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "every stored occurrence to complete");

        Assert.Equal([ScheduleId("missed-once", missed[^1])], RunsOf(cluster.Probe, "missed-once").Select(r => r.TaskId));
        Assert.Equal(missed.Select(m => ScheduleId("missed-all", m)), RunsOf(cluster.Probe, "missed-all").Select(r => r.TaskId).Order(StringComparer.Ordinal));
        Assert.Empty(RunsOf(cluster.Probe, "missed-skip"));

        var next = new DateTimeOffset(now.Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.All(await Operator(cluster).ListSchedulesAsync(), s => Assert.Equal(next, s.NextOccurrence));
    }
}
