using System.Collections.Concurrent;
using Deferred.Storage;
using Microsoft.Extensions.Logging;

namespace Deferred.Execution;

/// <summary>
/// The progress reports of the attempts running on this silo (<see cref="DeferredTaskContext.ReportProgressAsync"/>). The
/// latest report of each is kept in memory, where the task's activation answers reads from; it is stored
/// (<see cref="TaskProgressStore"/>) at most once per <see cref="WriteInterval"/> per attempt, the latest one winning,
/// and deleted when the attempt ends. An attempt that reports nothing costs nothing here.
/// </summary>
internal sealed class AttemptProgress(TaskProgressStore store, TimeProvider time, ILogger<AttemptProgress> logger) : IDeferredProgressSink
{
    private readonly TaskProgressStore _store = store;
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;

    /// <summary>The shortest time between two stored reports of one attempt.</summary>
    public static readonly TimeSpan WriteInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Reporter> _running = new(StringComparer.Ordinal);
    private long _writes;

    /// <summary>Reports stored so far (for tests and diagnostics).</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>The latest report of <paramref name="taskId"/>'s running attempt; null when none runs or it reported nothing.</summary>
    public DeferredTaskProgress? Current(string taskId) => _running.TryGetValue(taskId, out var reporter) ? reporter.Latest : null;

    public void Report(DeferredTaskContext context, DeferredTaskProgress progress)
    {
        if (context.ProgressState is not Reporter reporter)
        {
            var made = new Reporter(this, context.TaskId);
            reporter = Interlocked.CompareExchange(ref context.ProgressState, made, null) as Reporter ?? made;
            if (ReferenceEquals(reporter, made))
            {
                _running[context.TaskId] = reporter;
            }
        }

        reporter.Take(progress);
    }

    /// <summary>The attempt <paramref name="context"/> describes has ended: later reports are dropped, its stored report deleted.</summary>
    public void End(DeferredTaskContext context)
    {
        if (context.ProgressState is Reporter reporter)
        {
            _running.TryRemove(new KeyValuePair<string, Reporter>(context.TaskId, reporter));
            reporter.End();
        }
    }

    private sealed class Reporter(AttemptProgress owner, string taskId)
    {
        private readonly object _gate = new();
        private DeferredTaskProgress? _latest;
        private bool _dirty;
        private bool _writing;
        private bool _ended;
        private bool _stored;

        public DeferredTaskProgress? Latest => Volatile.Read(ref _latest);

        public void Take(DeferredTaskProgress progress)
        {
            lock (_gate)
            {
                if (_ended)
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
            lock (_gate)
            {
                _ended = true;
                if (_writing)
                {
                    // The loop deletes the row after its write in flight.
                    return;
                }
            }

            _ = ClearAsync();
        }

        // One loop per attempt while reports keep coming: store the latest, wait the interval, store again if newer.
        private async Task WriteLoopAsync()
        {
            while (true)
            {
                DeferredTaskProgress? progress;
                lock (_gate)
                {
                    if (!_dirty || _ended)
                    {
                        _writing = false;
                        if (_ended)
                        {
                            break;
                        }

                        return;
                    }

                    _dirty = false;
                    progress = _latest;
                }

                try
                {
                    await owner._store.UpsertAsync(taskId, progress!).ConfigureAwait(false);
                    _stored = true;
                    Interlocked.Increment(ref owner._writes);
                }
#pragma warning disable CA1031 // Progress is shown, never decided on: a write that fails is dropped; the next one may land.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Diagnostics.DeferredLog.ProgressNotStored(owner._logger, ex, taskId);
                }

                await Task.Delay(WriteInterval, owner._time).ConfigureAwait(false);
            }

            await ClearAsync().ConfigureAwait(false);
        }

        private async Task ClearAsync()
        {
            if (!Volatile.Read(ref _stored))
            {
                return;
            }

            try
            {
                await owner._store.DeleteAsync(taskId).ConfigureAwait(false);
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
