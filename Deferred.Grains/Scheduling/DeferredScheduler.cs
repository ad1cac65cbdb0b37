using System.Diagnostics;
using Deferred.Cluster;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.Wakeups;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Deferred.Scheduling;

/// <summary>
/// The scheduler: one loop per silo that turns due schedules into tasks. Each pass is one transaction of the schedule
/// store (<see cref="IDeferredScheduleStore.FireDueAsync"/>): claim due rows (locked, so silos passing together take
/// different ones), plan their occurrences with <see cref="MissedOccurrencePolicy"/> on the database's clock, insert the
/// occurrence tasks with deterministic ids (<see cref="ScheduleSpec.OccurrenceId"/>) owned by this silo, advance the
/// rows, commit. The tasks are then woken here at once; a silo that dies first leaves rows the survivors' sweep adopts.
/// The loop sleeps until the earliest next occurrence it can fire, at most <see cref="MaxWait"/>, and wakes at once when
/// a schedule is created or resumed on this silo.
/// </summary>
internal sealed class DeferredScheduler(
    ScheduleStoreSelection stores,
    IEnumerable<ScheduleRegistration> registrations,
    IEnumerable<TaskRegistration> handlers,
    TaskTypeRegistry registry,
    Serializer serializer,
    TaskResumer resumer,
    StoreResilience resilience,
    SiloIdentity silo,
    IServiceProvider services,
    TimeProvider time,
    ILogger<DeferredScheduler> logger) : BackgroundLoop(resilience, time)
{
    /// <summary>The longest the loop sleeps, so schedules created on other silos are found within about a second.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The shortest wait after a pass that claimed nothing although a schedule is due: another silo holds it, and its pass
    /// commits within milliseconds. Keeps the loop from spinning on the database meanwhile.
    /// </summary>
    public static readonly TimeSpan LockedWait = TimeSpan.FromMilliseconds(10);

    /// <summary>Schedules claimed per pass; a full pass is followed by another at once.</summary>
    public const int PassLimit = 100;

    private readonly Dictionary<string, ScheduleRegistration> _code = registrations.ToDictionary(r => r.Name, StringComparer.Ordinal);
    private readonly string[] _taskTypes = handlers.Select(h => h.Name).Distinct(StringComparer.Ordinal).ToArray();
    // An idle silo only asks when the next occurrence is (one cheap read a second); it claims when one is due within
    // the wait, when woken, or after a failed pass.
    private bool _claim = true;

    protected override bool Enabled => stores.Store is not null;

    protected override async Task<TimeSpan> RunOnceAsync(LoopPass pass, CancellationToken stopping)
    {
        var store = stores.Required;
        var claimed = _claim || pass.Woken || pass.AfterFailure ? await PassAsync(store, stopping) : -1;
        if (claimed == PassLimit)
        {
            _claim = true;
            return TimeSpan.Zero;
        }

        var (nextAt, now) = await store.NextDueAsync(_code.Keys, _taskTypes, stopping);
        var wait = nextAt is { } next ? Clamp(next - now) : MaxWait;
        if (wait == TimeSpan.Zero && claimed == 0)
        {
            wait = LockedWait;
        }

        _claim = nextAt is not null && wait < MaxWait;
        return wait;
    }

    protected override void LogFailure(Exception error, TimeSpan retryIn) => DeferredLog.SchedulerFailed(logger, error, retryIn.TotalSeconds);

    /// <summary>One pass; returns how many schedules it claimed.</summary>
    public async Task<int> PassAsync(IDeferredScheduleStore store, CancellationToken cancellationToken)
    {
        var fired = await store.FireDueAsync(_code.Keys, _taskTypes, PassLimit, Plan, cancellationToken);
        var wake = new List<string>();
        foreach (var (schedule, firing, inserted) in fired)
        {
            wake.AddRange(inserted);
            foreach (var _ in inserted)
            {
                DeferredTelemetry.Count(DeferredTelemetry.ScheduleOccurrences, schedule.TaskType);
            }

            if (firing.Tasks.Count > 0)
            {
                DeferredLog.ScheduleFired(logger, schedule.Name, inserted.Count, firing.LastOccurrence, firing.Tasks.Count - inserted.Count, firing.NextAt);
            }

            if (firing.NotRun > 0)
            {
                DeferredLog.ScheduleMissed(logger, schedule.Name, firing.NotRun, Enum.Parse<MissedOccurrences>(schedule.Missed), firing.NextAt);
            }
        }

        if (wake.Count > 0)
        {
            // Committed and owned by this silo: wake them here in the background. A silo that dies first leaves rows
            // the survivors' sweep adopts; one that lives but misses a wake-up has them resumed by its stranded-task audit.
            _ = Task.Run(() => resumer.ResumeAsync(wake, recovery: false, CancellationToken.None), CancellationToken.None);
        }

        return fired.Count;
    }

    /// <summary>What one claimed schedule fires, at the database's <paramref name="now"/>. Never throws: a bad row is paused.</summary>
    private ScheduleFiring Plan(StoredSchedule schedule, DateTimeOffset now)
    {
        ScheduleSpec spec;
        try
        {
            spec = ScheduleSpec.FromStored(schedule.Cron, schedule.IntervalMs, schedule.TimeZone, schedule.Missed);
        }
        catch (FormatException ex)
        {
            DeferredLog.ScheduleUnreadable(logger, schedule.Name, ex.Message);
            return new ScheduleFiring([], schedule.NextAt, null, Pause: true);
        }

        var plan = MissedOccurrencePolicy.Plan(spec, schedule.NextAt, now);
        var tasks = new List<(string TaskId, TaskRecord Record)>(plan.Run.Count);
        foreach (var occurrence in plan.Run)
        {
            if (Payload(schedule, occurrence) is { } payload)
            {
                // A producer span per occurrence (a root: the loop runs in no trace), so its attempts share one trace.
                var taskId = ScheduleSpec.OccurrenceId(schedule.Name, occurrence);
                using var activity = DeferredTelemetry.ActivitySource.StartActivity("deferred.schedule.occurrence", ActivityKind.Producer);
                activity?.SetTag("deferred.schedule.name", schedule.Name);
                activity?.SetTag("deferred.task.id", taskId);
                var task = new NewTask(schedule.TaskType, payload, schedule.MaxAttempts, occurrence) { Trace = TraceContext.Capture(activity) };
                tasks.Add((taskId, NewTaskFactory.Record(task, silo.Owner, now)));
            }
        }

        return new ScheduleFiring(tasks, plan.NextAt, plan.Run.Count > 0 ? plan.Run[^1] : null) { NotRun = plan.NotRun };
    }

    /// <summary>The occurrence's serialized task: the stored one (runtime), or the factory's (code); null when the factory threw.</summary>
    private byte[]? Payload(StoredSchedule schedule, DateTimeOffset occurrence)
    {
        if (schedule.Payload is { } stored)
        {
            return stored;
        }

        var registration = _code[schedule.Name];
        try
        {
            var task = registration.Factory(services) ?? throw new InvalidOperationException("The factory returned null.");
            return registry.Find(registration.TaskType)!.Serialize(serializer, task);
        }
        catch (Exception ex)
        {
            // The occurrence is skipped rather than retried every pass: a factory that throws once usually throws again.
            DeferredLog.ScheduleFactoryFailed(logger, ex, schedule.Name, occurrence);
            return null;
        }
    }

    private static TimeSpan Clamp(TimeSpan wait) => wait <= TimeSpan.Zero ? TimeSpan.Zero : wait < MaxWait ? wait : MaxWait;
}
