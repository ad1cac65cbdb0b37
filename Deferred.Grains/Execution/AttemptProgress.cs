using System.Collections.Concurrent;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Logging;

namespace Deferred.Execution;

/// <summary>
/// The progress reports of the attempts running on this silo (<see cref="DeferredTaskContext.ReportProgressAsync"/>). The
/// latest report of each is kept in memory, where the task's activation answers reads from; it is stored
/// (<see cref="TaskProgressStore"/>) at most once per <see cref="WriteInterval"/> per attempt, the latest one winning,
/// and deleted when the attempt ends. An attempt that reports nothing costs nothing here.
/// </summary>
/// <remarks>
/// Progress is shown, never decided on, so its writes give way to the task store's: at most
/// <see cref="MaxWritesInFlight"/> at once per silo (they share the pool with the group commit), none while the store is
/// in an outage (the next report after it is stored), and a write that fails is dropped.
/// </remarks>
internal sealed class AttemptProgress(TaskProgressStore store, StoreResilience resilience, TimeProvider time, ILogger<AttemptProgress> logger) : IDeferredProgressSink, IDisposable
{
    /// <summary>The shortest time between two stored reports of one attempt.</summary>
    public static readonly TimeSpan WriteInterval = TimeSpan.FromSeconds(1);

    /// <summary>Progress writes in flight at once on this silo, at most.</summary>
    public const int MaxWritesInFlight = 4;

    // Put in a context's state when its attempt ended: reports after that (an abandoned handler) are not heard.
    private static readonly object Ended = new();

    private readonly TaskProgressStore _store = store;
    private readonly StoreResilience _resilience = resilience;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;
    private readonly SemaphoreSlim _writes = new(MaxWritesInFlight, MaxWritesInFlight);
    private readonly ConcurrentDictionary<string, Reporter> _running = new(StringComparer.Ordinal);
    private long _stored;

    /// <summary>Reports stored so far (for tests and diagnostics).</summary>
    public long Writes => Interlocked.Read(ref _stored);

    /// <summary>The latest report of <paramref name="taskId"/>'s running attempt; null when none runs or it reported nothing.</summary>
    public DeferredTaskProgress? Current(string taskId) => _running.TryGetValue(taskId, out var reporter) ? reporter.Latest : null;

    public void Report(DeferredTaskContext context, DeferredTaskProgress progress)
    {
        var state = Volatile.Read(ref context.ProgressState);
        if (state is not Reporter reporter)
        {
            if (state is not null)
            {
                return;
            }

            var made = new Reporter(this, context.TaskId);
            state = Interlocked.CompareExchange(ref context.ProgressState, made, null);
            if (state is null)
            {
                reporter = made;
                _running[context.TaskId] = made;
            }
            else if (state is Reporter other)
            {
                reporter = other;
            }
            else
            {
                return;
            }
        }

        reporter.Take(progress);
    }

    /// <summary>The attempt <paramref name="context"/> describes has ended: later reports are dropped, its stored report deleted.</summary>
    public void End(DeferredTaskContext context)
    {
        // Nothing to do for an attempt that never reported, but the mark is set all the same, so that one which reports
        // later (a handler abandoned after its timeout) is not heard.
        if (Interlocked.Exchange(ref context.ProgressState, Ended) is Reporter reporter)
        {
            _running.TryRemove(new KeyValuePair<string, Reporter>(context.TaskId, reporter));
            reporter.End();
        }
    }

    public void Dispose() => _writes.Dispose();

    private sealed class Reporter(AttemptProgress owner, string taskId) : IDisposable
    {
        private readonly object _gate = new();
        private readonly CancellationTokenSource _ended = new();
        private DeferredTaskProgress? _latest;
        private DateTimeOffset? _storedAt;
        private bool _dirty;
        private bool _writing;

        public DeferredTaskProgress? Latest => Volatile.Read(ref _latest);

        public void Take(DeferredTaskProgress progress)
        {
            lock (_gate)
            {
                if (_ended.IsCancellationRequested)
                {
                    return;
                }

                Volatile.Write(ref _latest, progress);
                _dirty = true;
                if (_writing)
                {
                    return;
                }

                _writing = true;
            }

            _ = Task.Run(WriteLoopAsync);
        }

        public void End()
        {
            bool writing;
            lock (_gate)
            {
                _ended.Cancel();
                writing = _writing;
            }

            // A loop in flight clears the row when it stops; otherwise it is cleared here.
            if (!writing)
            {
                _ = ClearAsync();
            }
        }

        // One loop per attempt while reports keep coming: store the latest, wait the interval, store again if newer.
        private async Task WriteLoopAsync()
        {
            while (true)
            {
                DeferredTaskProgress progress;
                lock (_gate)
                {
                    if (!_dirty || _ended.IsCancellationRequested)
                    {
                        _writing = false;
                        if (!_ended.IsCancellationRequested)
                        {
                            return;
                        }

                        break;
                    }

                    _dirty = false;
                    progress = _latest!;
                }

                await StoreAsync(progress).ConfigureAwait(false);
                await Task.Delay(WriteInterval, owner._time, _ended.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await ClearAsync().ConfigureAwait(false);
        }

        private async Task StoreAsync(DeferredTaskProgress progress)
        {
            if (owner._resilience.InOutage)
            {
                return;
            }

            await owner._writes.WaitAsync().ConfigureAwait(false);
            try
            {
                await owner._store.UpsertAsync(taskId, progress).ConfigureAwait(false);
                _storedAt = progress.At;
                Interlocked.Increment(ref owner._stored);
            }
#pragma warning disable CA1031 // Progress is shown, never decided on: a write that fails is dropped; the next one may land.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Diagnostics.DeferredLog.ProgressNotStored(owner._logger, ex, taskId);
            }
            finally
            {
                owner._writes.Release();
            }
        }

        // Once the attempt has ended and no loop runs any more (the last user of the token).
        public void Dispose() => _ended.Dispose();

        private async Task ClearAsync()
        {
            Dispose();
            if (_storedAt is not { } storedAt)
            {
                return;
            }

            try
            {
                // Only what this attempt stored: a later attempt of the task may have stored its own report since.
                await owner._store.DeleteAsync(taskId, storedAt).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A row left behind is tidied by the sweep once stale.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Diagnostics.DeferredLog.ProgressNotStored(owner._logger, ex, taskId);
            }
        }
    }
}
