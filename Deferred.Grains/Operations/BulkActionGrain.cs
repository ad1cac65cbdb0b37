using Deferred.Storage;

namespace Deferred.Operations;

/// <summary>
/// A bulk action held by one activation. <see cref="PrepareAsync"/> lists the ids of the tasks matching the filter
/// (keyset pages, each id once) and keeps them; <see cref="StartAsync"/> walks that list and nothing else, so a task that
/// leaves the filter and comes back (a retried task that dies again) is not met a second time. Each change is the task
/// grain's own operator edge (retry or purge of a dead task, decided under its lock), as for a single task.
/// The walk runs on this activation's scheduler, not inside a request, so it goes on when the caller hangs up; the
/// activation is kept alive while it runs and for <see cref="KeepFinished"/> after.
/// </summary>
internal sealed class BulkActionGrain(IDeferredTaskCatalog catalog, IGrainFactory grains, Storage.Resilience.StoreResilience resilience, TimeProvider time) : Grain, IBulkActionGrain, IDisposable
{
    private const int ListPage = 1000;
    private const int Parallelism = 16;

    // How long a prepared or finished action stays to be started or read, without calls (a running one stays while it runs).
    private static readonly TimeSpan KeepFinished = TimeSpan.FromMinutes(30);

    // Renewed as the walk goes on; long enough for a pause of the walk (a store outage) not to lose the activation.
    private static readonly TimeSpan KeepRunning = TimeSpan.FromMinutes(30);

    private DeferredBulkAction? _action;
    private List<string>? _ids;
    private CancellationTokenSource? _cancel;
    private Task? _walk;
    private int _done;
    private int _skipped;
    private int _failed;
    private string? _lastError;

    public async Task<DeferredBulkAction> PrepareAsync(DeferredBulkActionKind kind, DeferredTaskFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a bulk action kind.");
        }

        if (filter.Status != DeferredTaskStatus.Dead)
        {
            throw new ArgumentException("A bulk action covers dead tasks only: Filter.Status must be Dead.", nameof(filter));
        }

        TaskListing.Validate(filter);
        if (_action is not null)
        {
            throw new InvalidOperationException($"Bulk action '{this.GetPrimaryKeyString()}' is already prepared.");
        }

        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        TaskListKey? after = null;
        while (true)
        {
            var from = after;
            var page = await resilience.OperatorReadAsync("list the dead tasks for the bulk action", () => catalog.ListAsync(filter, from, ListPage, CancellationToken.None));
            foreach (var task in page)
            {
                // A task whose due time changed while it was listed (retried and dead again) may appear twice; it is covered once.
                if (seen.Add(task.TaskId))
                {
                    ids.Add(task.TaskId);
                }
            }

            if (page.Count < ListPage)
            {
                break;
            }

            after = TaskListKey.Of(page[^1]);
        }

        _ids = ids;
        _action = new DeferredBulkAction
        {
            Id = this.GetPrimaryKeyString(),
            Kind = kind,
            State = DeferredBulkActionState.Prepared,
            Total = ids.Count,
            PreparedAt = time.GetUtcNow(),
        };
        DelayDeactivation(KeepFinished);
        return _action;
    }

    public Task<DeferredBulkAction?> StartAsync()
    {
        if (_action is { State: DeferredBulkActionState.Prepared } prepared)
        {
            _action = prepared with { State = DeferredBulkActionState.Running };
            _cancel = new CancellationTokenSource();
            DelayDeactivation(KeepRunning);

            // Not awaited: the walk is this activation's, not the request's. Its continuations run on the activation's
            // scheduler (TaskScheduler.Current here), one at a time, so the counters need no locks.
            _walk = WalkAsync(_ids!, prepared.Kind, _cancel.Token);
        }

        return Task.FromResult(Snapshot());
    }

    public Task<DeferredBulkAction?> GetAsync() => Task.FromResult(Snapshot());

    public async Task<DeferredBulkAction?> CancelAsync()
    {
        switch (_action?.State)
        {
            case DeferredBulkActionState.Prepared:
                Finish(DeferredBulkActionState.Cancelled);
                break;
            case DeferredBulkActionState.Running:
                await _cancel!.CancelAsync();

                // The changes already sent complete; then the walk ends, and the counts it reports are final.
                await _walk!;
                break;
        }

        return Snapshot();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Only when its silo stops (the activation is kept alive while it runs): stop where it is.
        if (_cancel is not null && _walk is not null)
        {
            await _cancel.CancelAsync();
            await _walk.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    }

    private async Task WalkAsync(List<string> ids, DeferredBulkActionKind kind, CancellationToken cancellationToken)
    {
        var options = new ParallelOptions
        {
            MaxDegreeOfParallelism = Parallelism,
            CancellationToken = cancellationToken,
            TaskScheduler = TaskScheduler.Current,
        };
        var reached = 0;
        try
        {
            await Parallel.ForEachAsync(ids, options, async (id, _) =>
            {
                try
                {
                    if (await Apply(kind, id))
                    {
                        _done++;
                    }
                    else
                    {
                        _skipped++;
                    }
                }
                catch (Exception ex)
                {
                    _failed++;
                    _lastError = $"{ex.GetType().Name}: {ex.Message}";
                }

                if (++reached % ListPage == 0)
                {
                    DelayDeactivation(KeepRunning);
                }
            });
            Finish(DeferredBulkActionState.Completed);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Finish(DeferredBulkActionState.Cancelled);
        }
    }

    public void Dispose() => _cancel?.Dispose();

    private Task<bool> Apply(DeferredBulkActionKind kind, string id) => kind switch
    {
        DeferredBulkActionKind.RetryDead => grains.GetGrain<IDeferredTaskGrain>(id).RetryDeadAsync(),

        // The grain deletes the task only if it is still dead, so a purge never removes a task an operator brought back.
        _ => grains.GetGrain<TaskGrain.IPurgeableTask>(id).PurgeIfDeadAsync(),
    };

    private void Finish(DeferredBulkActionState state)
    {
        _action = Snapshot()! with { State = state, FinishedAt = time.GetUtcNow() };
        _ids = null;
        DelayDeactivation(KeepFinished);
    }

    private DeferredBulkAction? Snapshot() => _action is null || _action.IsFinished
        ? _action
        : _action with { Done = _done, Skipped = _skipped, Failed = _failed, LastError = _lastError };
}
