using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Deferred.Tests.Infrastructure;

/// <summary>What a <see cref="ProbeTask"/> does when it runs.</summary>
public enum ProbeBehavior
{
    Succeed,
    FailUntilAttempt,
    AlwaysFail,
    WaitForRelease,

    /// <summary>A short real database round trip (pg_sleep 5 ms), so concurrent attempts overlap.</summary>
    Work,

    /// <summary>Waits for the release and ignores its cancellation token (a handler that hangs).</summary>
    Hang,

    /// <summary>Fails the first run of the task id and succeeds on any later one (whatever the attempt number).</summary>
    FailFirstRun,

    /// <summary>Always fails, with the task's <see cref="ProbeTask.Note"/> as the exception's message.</summary>
    FailWithNote,
}

/// <summary>The test task type.</summary>
[GenerateSerializer, Alias("deferred.tests.probe")]
public sealed record ProbeTask
{
    [Id(0)] public ProbeBehavior Behavior { get; init; }

    /// <summary>With FailUntilAttempt: the first attempt that succeeds.</summary>
    [Id(1)] public int SucceedOnAttempt { get; init; }

    [Id(2)] public string Note { get; init; } = "";
}

/// <summary>A task type no silo has a handler for.</summary>
[GenerateSerializer]
public sealed record UnhandledTask([property: Id(0)] int Value);

/// <summary>One handler call, as the probe saw it.</summary>
public sealed record ProbeRun(string TaskId, int Attempt, SiloAddress Silo, DateTimeOffset StartedAt, string Note, int MaxAttempts)
{
    /// <summary>The trace the handler ran in (<c>Activity.Current</c>), if any.</summary>
    public string? TraceId { get; init; }

    /// <summary>The culture the handler ran in.</summary>
    public string Culture { get; init; } = "";

    /// <summary>The baggage the handler saw.</summary>
    public IReadOnlyDictionary<string, string?> Baggage { get; init; } = new Dictionary<string, string?>();
}

/// <summary>
/// Records every handler call of one test (keyed by the test's ServiceId, so parallel tests do not mix) and lets
/// the test await them instead of sleeping.
/// </summary>
public sealed class Probe
{
    private static readonly ConcurrentDictionary<string, Probe> ByService = new();
    private readonly ConcurrentQueue<ProbeRun> _runs = new();
    private readonly object _signalLock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;
    private int _maxRunning;
    private int _cancelled;

    public static Probe For(string serviceId) => ByService.GetOrAdd(serviceId, _ => new Probe());

    /// <summary>Released by the test to let WaitForRelease tasks finish.</summary>
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<ProbeRun> Runs => _runs.ToArray();

    public int MaxConcurrent => Volatile.Read(ref _maxRunning);

    /// <summary>Attempts running right now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Attempts that ended because their cancellation token was cancelled.</summary>
    public int Cancelled => Volatile.Read(ref _cancelled);

    internal void NoteCancelled()
    {
        Interlocked.Increment(ref _cancelled);
        Signal();
    }

    public IReadOnlyList<ProbeRun> RunsOf(string taskId) => _runs.Where(r => r.TaskId == taskId).ToArray();

    internal int Enter(ProbeRun run)
    {
        var now = Interlocked.Increment(ref _running);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxRunning)) && Interlocked.CompareExchange(ref _maxRunning, now, seen) != seen)
        {
        }

        _runs.Enqueue(run);
        Signal();
        return now;
    }

    internal void Exit()
    {
        Interlocked.Decrement(ref _running);
        Signal();
    }

    /// <summary>Waits until <paramref name="condition"/> holds over the recorded runs.</summary>
    public async Task WaitAsync(Func<IReadOnlyList<ProbeRun>, bool> condition, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Eventually.DefaultTimeout);
        while (true)
        {
            Task changed;
            lock (_signalLock)
            {
                changed = _changed.Task;
            }

            if (condition(Runs))
            {
                return;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out waiting for {what}; runs so far: {Runs.Count}");
            }
        }
    }

    public Task WaitForRunsAsync(string taskId, int count, TimeSpan? timeout = null) =>
        WaitAsync(runs => runs.Count(r => r.TaskId == taskId) >= count, $"{count} run(s) of {taskId}", timeout);

    private void Signal()
    {
        TaskCompletionSource old;
        lock (_signalLock)
        {
            old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }
}

/// <summary>The handler for <see cref="ProbeTask"/>; reports to the probe of its silo's ServiceId.</summary>
internal sealed class ProbeHandler(IOptions<ClusterOptions> cluster, ILocalSiloDetails silo, TimeProvider time, Deferred.Storage.DeferredDatabase database) : IDeferredTaskHandler<ProbeTask>
{
    public async Task ExecuteAsync(ProbeTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        var probe = Probe.For(cluster.Value.ServiceId);
        var activity = System.Diagnostics.Activity.Current;
        probe.Enter(new ProbeRun(context.TaskId, context.Attempt, silo.SiloAddress, time.GetUtcNow(), task.Note, context.MaxAttempts)
        {
            TraceId = activity?.TraceId.ToHexString(),
            Culture = System.Globalization.CultureInfo.CurrentCulture.Name,
            Baggage = activity?.Baggage.ToDictionary(b => b.Key, b => b.Value) ?? new Dictionary<string, string?>(),
        });
        try
        {
            switch (task.Behavior)
            {
                case ProbeBehavior.FailWithNote:
                    throw new InvalidOperationException(task.Note);
                case ProbeBehavior.AlwaysFail:
                    throw new InvalidOperationException($"probe failure on attempt {context.Attempt}");
                case ProbeBehavior.FailFirstRun when probe.RunsOf(context.TaskId).Count == 1:
                    throw new InvalidOperationException("probe failure on the first run");
                case ProbeBehavior.FailUntilAttempt when context.Attempt < task.SucceedOnAttempt:
                    throw new InvalidOperationException($"probe failure on attempt {context.Attempt}");
                case ProbeBehavior.WaitForRelease:
                    try
                    {
                        await probe.Release.Task.WaitAsync(cancellationToken);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        probe.NoteCancelled();
                        throw;
                    }

                    break;
                case ProbeBehavior.Hang:
                    await probe.Release.Task;
                    break;
                case ProbeBehavior.Work:
                    await using (var command = database.DataSource.CreateCommand("SELECT pg_sleep(0.005)"))
                    {
                        await command.ExecuteNonQueryAsync(cancellationToken);
                    }

                    break;
                default:
                    // Yield so concurrent attempts overlap and the concurrency bound is observable.
                    await Task.Yield();
                    break;
            }
        }
        finally
        {
            probe.Exit();
        }
    }
}
