using System.Collections.Concurrent;

namespace Deferred.Tests.Dashboard;

/// <summary>
/// An in-memory <see cref="IDeferredTaskOperator"/> for the dashboard's HTTP tests (mapping of refusals, security), so
/// those run without a cluster. It refuses as the contract says and records every change it makes. The browser tests use
/// the real operator on a real cluster.
/// </summary>
internal sealed class FakeOperator : IDeferredTaskOperator
{
    private readonly ConcurrentDictionary<string, DeferredTaskInfo> _tasks = new();

    /// <summary>Changes applied (action and task id), in order.</summary>
    public ConcurrentQueue<string> Changes { get; } = new();

    /// <summary>Ids whose attempt is running: delete is refused.</summary>
    public HashSet<string> Running { get; } = [];

    public FakeOperator Add(string taskId, DeferredTaskStatus status)
    {
        _tasks[taskId] = new DeferredTaskInfo
        {
            TaskId = taskId,
            TaskType = "fake.task",
            Status = status,
            Attempts = status == DeferredTaskStatus.Pending ? 0 : 1,
            MaxAttempts = 3,
            EnqueuedAt = DateTimeOffset.UtcNow.AddMinutes(-5),
            NextRunAt = status == DeferredTaskStatus.Dead ? null : DateTimeOffset.UtcNow.AddHours(1),
            LastError = status == DeferredTaskStatus.Pending ? null : new DeferredTaskError { Type = "System.TimeoutException", Message = "upstream timeout", Attempt = 1, At = DateTimeOffset.UtcNow },
        };
        return this;
    }

    /// <summary>
    /// When set, every read and action throws what it returns, as the real operator does while the task store is down.
    /// </summary>
    public Func<string, Exception>? StoreFailure { get; set; }

    private void ThrowIfStoreDown(string call)
    {
        if (StoreFailure is { } failure)
        {
            throw failure(call);
        }
    }

    public Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown("list");
        Deferred.Storage.TaskListing.Validate(query.Filter); // the real operator's filter rules (control characters among them)
        if (query.PageToken is { } token && token != "fake-token-" + Describe(query.Filter))
        {
            throw new ArgumentException($"Page token '{token}' belongs to another query; start again without a token.", nameof(query));
        }

        var tasks = _tasks.Values
            .Where(t => query.Filter.Status is null || t.Status == query.Filter.Status)
            .Where(t => query.Filter.TaskType is null || t.TaskType == query.Filter.TaskType)
            .OrderBy(t => t.TaskId, StringComparer.Ordinal)
            .Select(t => new DeferredTaskSummary { TaskId = t.TaskId, TaskType = t.TaskType, Status = t.Status, Attempts = t.Attempts, MaxAttempts = t.MaxAttempts, EnqueuedAt = t.EnqueuedAt, NextRunAt = t.NextRunAt ?? t.EnqueuedAt })
            .Take(query.PageSize)
            .ToList();
        return Task.FromResult(new DeferredTaskPage(tasks, tasks.Count == query.PageSize ? "fake-token-" + Describe(query.Filter) : null));
    }

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown("count");
        return Task.FromResult<IReadOnlyList<DeferredTaskCount>>(
            _tasks.Values.GroupBy(t => (t.Status, t.TaskType)).Select(g => new DeferredTaskCount(g.Key.Status, g.Key.TaskType, g.Count())).ToList());
    }

    public Task<DeferredTaskDetails?> ShowAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown(taskId);
        return Task.FromResult(_tasks.TryGetValue(taskId, out var info)
            ? new DeferredTaskDetails { Info = Running.Contains(taskId) ? info with { Status = DeferredTaskStatus.Running } : info, PayloadBytes = 12, PayloadJson = "{\"note\":\"fake\"}", PayloadType = "Fake.Task" }
            : null);
    }

    public Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown(taskId);
        if (!_tasks.TryGetValue(taskId, out var info))
        {
            return Task.FromResult(DeferredCancelOutcome.NotStored);
        }

        if (info.Status == DeferredTaskStatus.Dead)
        {
            return Task.FromResult(DeferredCancelOutcome.NotLive);
        }

        Changes.Enqueue($"cancel {taskId}");
        _tasks.TryRemove(taskId, out _);
        return Task.FromResult(DeferredCancelOutcome.Cancelled);
    }

    public Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown(taskId);
        if (!_tasks.TryGetValue(taskId, out var info) || info.Status != DeferredTaskStatus.Dead)
        {
            return Task.FromResult(false);
        }

        Changes.Enqueue($"retry {taskId}");
        _tasks[taskId] = info with { Status = DeferredTaskStatus.Pending, Attempts = 0, NextRunAt = DateTimeOffset.UtcNow };
        return Task.FromResult(true);
    }

    public Task<bool> RunNowAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown(taskId);
        if (!_tasks.TryGetValue(taskId, out var info) || info.Status is not (DeferredTaskStatus.Pending or DeferredTaskStatus.Failed) || Running.Contains(taskId))
        {
            return Task.FromResult(false);
        }

        Changes.Enqueue($"run-now {taskId}");
        _tasks[taskId] = info with { NextRunAt = DateTimeOffset.UtcNow };
        return Task.FromResult(true);
    }

    public Task<int> RetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown("retry-dead");
        Changes.Enqueue($"retry-dead {Describe(filter)}");
        return Task.FromResult(0);
    }

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown(taskId);
        if (Running.Contains(taskId))
        {
            throw new InvalidOperationException($"Task '{taskId}' has an attempt running; it cannot be deleted while running.");
        }

        if (!_tasks.TryRemove(taskId, out _))
        {
            return Task.FromResult(false);
        }

        Changes.Enqueue($"delete {taskId}");
        return Task.FromResult(true);
    }

    /// <summary>When set, thrown by the bulk actions (as the cluster's client would throw it).</summary>
    public Exception? BulkFailure { get; set; }

    public Task<int> PurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default)
    {
        if (BulkFailure is { } failure)
        {
            return Task.FromException<int>(failure);
        }

        Changes.Enqueue($"purge {olderThan:O}");
        return Task.FromResult(0);
    }

    private readonly ConcurrentDictionary<string, (DeferredBulkAction Action, string Change)> _bulk = new();

    public Task<DeferredBulkAction> PrepareRetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown("retry dead tasks");
        return Prepare(DeferredBulkActionKind.RetryDead, filter with { Status = DeferredTaskStatus.Dead }, $"retry-dead {Describe(filter with { Status = DeferredTaskStatus.Dead })}");
    }

    public Task<DeferredBulkAction> PreparePurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default)
    {
        ThrowIfStoreDown("purge dead tasks");
        return Prepare(DeferredBulkActionKind.PurgeDead, new DeferredTaskFilter { Status = DeferredTaskStatus.Dead }, $"purge {olderThan:O}");
    }

    /// <summary>Starting a prepared action records its change and completes it at once (touching nothing).</summary>
    public Task<DeferredBulkAction?> StartBulkActionAsync(string actionId, CancellationToken cancellationToken = default)
    {
        if (!_bulk.TryGetValue(actionId, out var bulk))
        {
            return Task.FromResult<DeferredBulkAction?>(null);
        }

        if (bulk.Action.State == DeferredBulkActionState.Prepared)
        {
            Changes.Enqueue(bulk.Change);
            _bulk[actionId] = bulk = (bulk.Action with { State = DeferredBulkActionState.Completed, Skipped = bulk.Action.Total, FinishedAt = DateTimeOffset.UtcNow }, bulk.Change);
        }

        return Task.FromResult<DeferredBulkAction?>(bulk.Action);
    }

    public Task<DeferredBulkAction?> GetBulkActionAsync(string actionId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_bulk.TryGetValue(actionId, out var bulk) ? bulk.Action : null);

    public Task<DeferredBulkAction?> CancelBulkActionAsync(string actionId, CancellationToken cancellationToken = default)
    {
        if (!_bulk.TryGetValue(actionId, out var bulk))
        {
            return Task.FromResult<DeferredBulkAction?>(null);
        }

        if (!bulk.Action.IsFinished)
        {
            _bulk[actionId] = bulk = (bulk.Action with { State = DeferredBulkActionState.Cancelled, FinishedAt = DateTimeOffset.UtcNow }, bulk.Change);
        }

        return Task.FromResult<DeferredBulkAction?>(bulk.Action);
    }

    private Task<DeferredBulkAction> Prepare(DeferredBulkActionKind kind, DeferredTaskFilter filter, string change)
    {
        if (BulkFailure is { } failure)
        {
            return Task.FromException<DeferredBulkAction>(failure);
        }

        var action = new DeferredBulkAction
        {
            Id = Guid.NewGuid().ToString("N"),
            Kind = kind,
            State = DeferredBulkActionState.Prepared,
            Total = _tasks.Values.Count(t => t.Status == DeferredTaskStatus.Dead && (filter.TaskType is null || t.TaskType == filter.TaskType)),
            PreparedAt = DateTimeOffset.UtcNow,
        };
        _bulk[action.Id] = (action, change);
        return Task.FromResult(action);
    }

    // The dashboard does not show schedules; the fake has none.
    public Task<IReadOnlyList<DeferredScheduleInfo>> ListSchedulesAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<DeferredScheduleInfo>>([]);

    public Task<bool> PauseScheduleAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult(false);

    public Task<bool> ResumeScheduleAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult(false);

    public Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult(false);

    private static string Describe(DeferredTaskFilter filter) =>
        $"{filter.Status}|{filter.TaskType}|{filter.DueFrom:O}|{filter.DueBefore:O}|{filter.ErrorContains}";
}
