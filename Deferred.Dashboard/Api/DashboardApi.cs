using Deferred.Dashboard.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Deferred.Dashboard.Api;

/// <summary>
/// The JSON API behind the page. Reads go to <see cref="IDeferredTaskOperator"/>; every action is one operator call
/// (a lifecycle transition applied by the task's grain). Refusals are 400 (malformed input), 404 (no such task) or 409
/// (the lifecycle refuses the action), each with one message that names the value and says why; nothing is changed then.
/// </summary>
internal static class DashboardApi
{
    public static Task<IResult> OverviewAsync(HttpContext http) =>
        Refusing(() => OverviewOrLocalAsync(http), $"{StoreDown}, so the stored counts cannot be shown now.");

    private static async Task<IResult> OverviewOrLocalAsync(HttpContext http)
    {
        CountsResult counts;
        try
        {
            counts = await Services<CountsCache>(http).GetAsync(Operator(http)).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreDown(ex))
        {
            // The stored counts are the store's; this process's own rates are not, and are what an operator has left.
            return ApiResults.Ok(
                new OverviewWithoutStore(
                    StatusCodes.Status503ServiceUnavailable,
                    "unavailable",
                    $"{StoreDown}, so the stored counts cannot be shown now; this process's rates and queue wait are current. The page tries again every 5 s.",
                    Services<LocalMetrics>(http).Snapshot()),
                StatusCodes.Status503ServiceUnavailable);
        }

        var types = counts.Counts
            .GroupBy(c => c.TaskType, StringComparer.Ordinal)
            .Select(g => new TypeCounts(g.Key, Of(g, DeferredTaskStatus.Pending), Of(g, DeferredTaskStatus.Failed), Of(g, DeferredTaskStatus.Dead), g.Sum(c => c.Count)))
            .OrderByDescending(t => t.Total)
            .ThenBy(t => t.TaskType, StringComparer.Ordinal)
            .ToList();
        var totals = new StatusTotals(
            Of(counts.Counts, DeferredTaskStatus.Pending),
            Of(counts.Counts, DeferredTaskStatus.Failed),
            Of(counts.Counts, DeferredTaskStatus.Dead),
            counts.Counts.Sum(c => c.Count));
        return ApiResults.Ok(new Overview(counts.CountedAt, Math.Round(counts.Took.TotalMilliseconds, 1), totals, types, Services<LocalMetrics>(http).Snapshot()));
    }

    private static long Of(IEnumerable<DeferredTaskCount> counts, DeferredTaskStatus status) => counts.Where(c => c.Status == status).Sum(c => c.Count);

    public static async Task<IResult> ListAsync(HttpContext http)
    {
        var query = QueryBinding.ListQuery(http.Request.Query);
        if (query.Problem is not null)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, query.Problem);
        }

        return await Refusing(
            async () => ApiResults.Ok(await Operator(http).ListAsync(query.Value!, http.RequestAborted).ConfigureAwait(false)),
            $"{StoreDown}, so tasks cannot be listed now; try again when the database is back.").ConfigureAwait(false);
    }

    public static async Task<IResult> ShowAsync(HttpContext http, string id)
    {
        if (BadId(id) is { } bad)
        {
            return bad;
        }

        return await Refusing(async () =>
            await Operator(http).ShowAsync(id, http.RequestAborted).ConfigureAwait(false) is { } details
                ? ApiResults.Ok(details)
                : ApiResults.Error(StatusCodes.Status404NotFound, $"Task '{id}' is not stored: it completed, was deleted or cancelled, or never existed."),
            $"{StoreDown}, so task '{id}' cannot be read now; try again when the database is back.").ConfigureAwait(false);
    }

    public static async Task<IResult> RetryAsync(HttpContext http, string id)
    {
        if (BadId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations =>
        {
            if (await operations.RetryDeadAsync(id, CancellationToken.None).ConfigureAwait(false))
            {
                return ApiResults.Ok(new ActionResult("retry", "retried", $"Task '{id}' was dead; it is pending again with a fresh set of attempts, due now.", id));
            }

            // Refused: say whether the task is missing or not dead.
            var details = await operations.ShowAsync(id, http.RequestAborted).ConfigureAwait(false);
            return details is null
                ? NotStored(id)
                : ApiResults.Error(StatusCodes.Status409Conflict, $"Task '{id}' is {details.Info.Status}, not Dead; only dead tasks are retried. Nothing was changed.");
        }).ConfigureAwait(false);
    }

    public static async Task<IResult> RunNowAsync(HttpContext http, string id)
    {
        if (BadId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations =>
        {
            if (await operations.RunNowAsync(id, CancellationToken.None).ConfigureAwait(false))
            {
                return ApiResults.Ok(new ActionResult("run-now", "due", $"Task '{id}' is due now: its next attempt starts at once; its attempts are unchanged.", id));
            }

            // Refused: say whether the task is missing, running or dead.
            var details = await operations.ShowAsync(id, http.RequestAborted).ConfigureAwait(false);
            return details is null
                ? NotStored(id)
                : ApiResults.Error(StatusCodes.Status409Conflict, details.Info.Status == DeferredTaskStatus.Dead
                    ? $"Task '{id}' is Dead, not waiting; retry it instead. Nothing was changed."
                    : $"Task '{id}' is {details.Info.Status}, not waiting; only a pending or failed task can be run now. Nothing was changed.");
        }).ConfigureAwait(false);
    }

    public static async Task<IResult> CancelAsync(HttpContext http, string id)
    {
        if (BadId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations => await operations.CancelAsync(id, CancellationToken.None).ConfigureAwait(false) switch
        {
            DeferredCancelOutcome.Cancelled => ApiResults.Ok(new ActionResult("cancel", "cancelled", $"Task '{id}' was waiting; it is cancelled and removed.", id)),
            DeferredCancelOutcome.Signalled => ApiResults.Ok(
                new ActionResult("cancel", "signalled", $"Task '{id}' is running; its cancellation token is signalled and the task is removed when its handler returns.", id),
                StatusCodes.Status202Accepted),
            DeferredCancelOutcome.NotLive => ApiResults.Error(StatusCodes.Status409Conflict, $"Task '{id}' is dead, and a dead task is not cancelled; delete it instead. Nothing was changed."),
            _ => NotStored(id),
        }).ConfigureAwait(false);
    }

    public static async Task<IResult> DeleteAsync(HttpContext http, string id)
    {
        if (BadId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations =>
        {
            try
            {
                return await operations.DeleteAsync(id, CancellationToken.None).ConfigureAwait(false)
                    ? ApiResults.Ok(new ActionResult("delete", "deleted", $"Task '{id}' is deleted.", id))
                    : NotStored(id);
            }
            catch (InvalidOperationException ex) when (ex is not ObjectDisposedException)
            {
                return ApiResults.Error(StatusCodes.Status409Conflict, $"Task '{id}' cannot be deleted now: {ex.Message} Nothing was changed; cancel it instead, or delete it once the attempt ends.");
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Prepares a bulk retry of the dead tasks matching the filter: lists and counts them, changes nothing. The page asks
    /// for confirmation with the count, then starts it (<see cref="StartBulkAsync"/>).
    /// </summary>
    public static async Task<IResult> RetryDeadAsync(HttpContext http)
    {
        var filter = QueryBinding.DeadFilter(http.Request.Query);
        if (filter.Problem is not null)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, filter.Problem);
        }

        return await Refusing(async () =>
        {
            var action = await Operator(http).PrepareRetryDeadAsync(filter.Value!, CancellationToken.None).ConfigureAwait(false);
            return ApiResults.Ok(new BulkResult($"{action.Total} dead task(s) match the filter; nothing is changed until the retry is started.", action));
        }, $"{StoreDown}, so the dead tasks cannot be counted now; nothing was changed.").ConfigureAwait(false);
    }

    /// <summary>Prepares a bulk purge of the dead tasks whose last attempt was due before the date: counts them, changes nothing.</summary>
    public static async Task<IResult> PurgeDeadAsync(HttpContext http)
    {
        var olderThan = QueryBinding.PurgeDate(http.Request.Query);
        if (olderThan.Problem is not null)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, olderThan.Problem);
        }

        return await Refusing(async () =>
        {
            var action = await Operator(http).PreparePurgeDeadAsync(olderThan.Value, CancellationToken.None).ConfigureAwait(false);
            return ApiResults.Ok(new BulkResult($"{action.Total} dead task(s) were last due before {olderThan.Value:O}; nothing is deleted until the purge is started.", action));
        }, $"{StoreDown}, so the dead tasks cannot be counted now; nothing was changed.").ConfigureAwait(false);
    }

    /// <summary>Starts a prepared bulk action; it runs in a silo to its end whether or not the page stays open (202).</summary>
    public static async Task<IResult> StartBulkAsync(HttpContext http, string id)
    {
        if (BadActionId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations =>
            await operations.StartBulkActionAsync(id, CancellationToken.None).ConfigureAwait(false) is { } action
                ? ApiResults.Ok(new BulkResult($"Started: {Progress(action)}.", action), StatusCodes.Status202Accepted)
                : NoAction(id)).ConfigureAwait(false);
    }

    /// <summary>A bulk action's progress.</summary>
    public static async Task<IResult> ShowBulkAsync(HttpContext http, string id)
    {
        if (BadActionId(id) is { } bad)
        {
            return bad;
        }

        return await Refusing(async () =>
            await Operator(http).GetBulkActionAsync(id, http.RequestAborted).ConfigureAwait(false) is { } action
                ? ApiResults.Ok(new BulkResult(Progress(action) + ".", action))
                : NoAction(id), $"{StoreDown}, so the action's progress cannot be read now.").ConfigureAwait(false);
    }

    /// <summary>Cancels a bulk action (prepared or running); what it did so far stays done.</summary>
    public static async Task<IResult> CancelBulkAsync(HttpContext http, string id)
    {
        if (BadActionId(id) is { } bad)
        {
            return bad;
        }

        return await Acting(http, async operations =>
            await operations.CancelBulkActionAsync(id, CancellationToken.None).ConfigureAwait(false) is { } action
                ? ApiResults.Ok(new BulkResult(Progress(action) + ".", action))
                : NoAction(id)).ConfigureAwait(false);
    }

    private static string Progress(DeferredBulkAction action)
    {
        var verb = action.Kind == DeferredBulkActionKind.PurgeDead ? "deleted" : "retried";
        var state = action.State switch
        {
            DeferredBulkActionState.Prepared => "prepared, not started",
            DeferredBulkActionState.Running => "running",
            DeferredBulkActionState.Completed => "completed",
            _ => "cancelled",
        };
        return $"{state}: {action.Total - action.Remaining} of {action.Total} dead task(s) reached, {action.Done} {verb}, {action.Skipped} skipped (no longer dead, or running), {action.Failed} failed"
            + (action.Failed > 0 && action.LastError is { } error ? $" (last: {error})" : "");
    }

    private static IResult? BadActionId(string id) =>
        Guid.TryParseExact(id, "N", out _)
            ? null
            : ApiResults.Error(StatusCodes.Status400BadRequest, $"Bulk action id '{(id.Length > 64 ? id[..64] + "…" : id)}' is malformed: it is 32 hexadecimal digits. Nothing was changed.");

    private static IResult NoAction(string id) =>
        ApiResults.Error(StatusCodes.Status404NotFound, $"No silo holds bulk action '{id}': it finished more than 30 minutes ago, its silo stopped (what it did stays done), or it never existed.");

    /// <summary>
    /// Runs an action. Actions are not cancelled with the request: once sent, a transition is applied or refused,
    /// and the counts are refreshed afterwards either way.
    /// </summary>
    private static async Task<IResult> Acting(HttpContext http, Func<IDeferredTaskOperator, Task<IResult>> action)
    {
        try
        {
            return await Refusing(
                () => action(Operator(http)),
                $"{StoreDown}, so the action was not confirmed and may not have been applied; refresh when the database is back to see where things stand.").ConfigureAwait(false);
        }
        finally
        {
            Services<CountsCache>(http).Invalidate();
        }
    }

    /// <summary>Every schedule of the service, paused ones included.</summary>
    public static Task<IResult> SchedulesAsync(HttpContext http) =>
        Refusing(
            async () => ApiResults.Ok(await Operator(http).ListSchedulesAsync(http.RequestAborted).ConfigureAwait(false)),
            $"{StoreDown}, so the schedules cannot be shown now.");

    public static Task<IResult> PauseScheduleAsync(HttpContext http, string name) => ScheduleActionAsync(http, name, pause: true);

    public static Task<IResult> ResumeScheduleAsync(HttpContext http, string name) => ScheduleActionAsync(http, name, pause: false);

    private static async Task<IResult> ScheduleActionAsync(HttpContext http, string name, bool pause)
    {
        if (DeferredSchedule.ValidateName(name) is { } problem)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, $"Schedule name '{(name.Length > 64 ? name[..64] + "…" : name)}' is malformed: {problem}. Nothing was changed.");
        }

        return await Acting(http, async operations =>
        {
            var applied = pause
                ? await operations.PauseScheduleAsync(name, CancellationToken.None).ConfigureAwait(false)
                : await operations.ResumeScheduleAsync(name, CancellationToken.None).ConfigureAwait(false);
            return applied
                ? ApiResults.Ok(pause
                    ? new ActionResult("pause-schedule", "paused", $"Schedule '{name}' is paused: no occurrence is enqueued until it is resumed.")
                    : new ActionResult("resume-schedule", "resumed", $"Schedule '{name}' is resumed: its next occurrence is enqueued when due."))
                : ApiResults.Error(StatusCodes.Status404NotFound, $"No schedule named '{name}' is stored. Nothing was changed.");
        }).ConfigureAwait(false);
    }

    private const string StoreDown = "Deferred's task store (its database) cannot be reached from the cluster";

    /// <summary>
    /// Turns the operator's refusals of malformed input (<see cref="ArgumentException"/>) into 400s and an unreachable
    /// store into 503 with <paramref name="storeDown"/> (the operator's own message may speak of enqueues).
    /// </summary>
    private static async Task<IResult> Refusing(Func<Task<IResult>> call, string storeDown)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            return ApiResults.Error(StatusCodes.Status400BadRequest, ex.Message);
        }
        catch (Exception ex) when (IsStoreDown(ex))
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, storeDown);
        }
        catch (TimeoutException)
        {
            // Orleans' response timeout: the call may still be carried out on the silo.
            return ApiResults.Error(StatusCodes.Status504GatewayTimeout, "The cluster did not answer in time; an action may still be carried out. Refresh to see where things stand.");
        }
        catch (Exception ex) when (ex is Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException)
        {
            return ApiResults.Error(StatusCodes.Status503ServiceUnavailable, "The Orleans cluster cannot be reached from this process. Try again when its silos are up, and refresh to see whether an action was carried out before the connection was lost.");
        }
    }

    /// <summary>
    /// The store is unreachable: the operator's typed exception, also as Orleans reports it when a task's grain could
    /// not load its row in activation (wrapped).
    /// </summary>
    private static bool IsStoreDown(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is DeferredStoreUnavailableException)
            {
                return true;
            }
        }

        return false;
    }

    private static IResult? BadId(string id) =>
        DeferredTaskId.Validate(id) is { } problem
            ? ApiResults.Error(StatusCodes.Status400BadRequest, $"Task id '{(id.Length <= DeferredTaskId.MaxLength ? id : $"{id[..DeferredTaskId.MaxLength]}…' ({id.Length} characters)")}' is malformed: {problem}. Nothing was changed.")
            : null;

    private static IResult NotStored(string id) =>
        ApiResults.Error(StatusCodes.Status404NotFound, $"Task '{id}' is not stored: it completed, was deleted or cancelled, or never existed. Nothing was changed.");

    private static IDeferredTaskOperator Operator(HttpContext http) => Services<IDeferredTaskOperator>(http);

    private static T Services<T>(HttpContext http)
        where T : notnull => http.RequestServices.GetRequiredService<T>();
}

/// <summary>The overview: stored counts (cluster-wide, from the store) and this process's own rates and queue wait.</summary>
internal sealed record Overview(DateTimeOffset CountedAt, double CountMilliseconds, StatusTotals Totals, IReadOnlyList<TypeCounts> Types, LocalMetricsSnapshot Local);

/// <summary>The overview while the store is unreachable: the refusal (<see cref="ApiError"/>'s fields) and this process's rates.</summary>
internal sealed record OverviewWithoutStore(int Status, string Error, string Message, LocalMetricsSnapshot Local);

/// <summary>Stored tasks by status.</summary>
internal sealed record StatusTotals(long Pending, long Failed, long Dead, long Total);

/// <summary>A bulk action and what it says in a sentence.</summary>
internal sealed record BulkResult(string Message, DeferredBulkAction Bulk);

/// <summary>Stored tasks of one type, by status.</summary>
internal sealed record TypeCounts(string TaskType, long Pending, long Failed, long Dead, long Total);
