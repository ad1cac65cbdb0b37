using Orleans.Runtime;

namespace Deferred.Silo.Operator;

/// <summary>
/// What each <c>tasks</c> verb does, given an <see cref="IDeferredTaskOperator"/> (from a connected client, or a test
/// cluster's). Exit codes: 0 done; 1 with one stderr line when the task is not stored, the lifecycle refuses the action,
/// or the cluster or its store cannot be reached (stdout stays empty); 2 with one stderr line ending in the usage when
/// the command line is wrong, including a value the operator refuses (a filter, a page token from another query).
/// Bulk verbs (retry --all-dead, purge) say on stderr how many tasks they cover before they start, then report progress
/// there; they exit 1 when cancelled (Ctrl+C cancels the action in the silo) or when some tasks failed, after the report.
/// </summary>
internal static class TaskVerbs
{
    public const int Done = 0;
    public const int Refused = 1;
    public const int BadUsage = 2;

    /// <summary>Parses <paramref name="args"/> (verb first) and runs the verb.</summary>
    public static async Task<int> RunAsync(IDeferredTaskOperator tasks, string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default) =>
        TasksRequest.Parse(args, stderr) is { } request
            ? await RunAsync(tasks, request, stdout, stderr, cancellationToken)
            : BadUsage;

    public static async Task<int> RunAsync(IDeferredTaskOperator tasks, TasksRequest request, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var output = new TaskOutput(stdout, request.Json, fromDatabase: tasks is DatabaseTaskOperator);
        var verb = new Verb(tasks, request, output, stderr, cancellationToken);
        try
        {
            return request.Verb switch
            {
                "list" => await verb.ListAsync(),
                "show" => await verb.ShowAsync(),
                "retry" => await verb.RetryAsync(),
                "run-now" => await verb.RunNowAsync(),
                "cancel" => await verb.CancelAsync(),
                "delete" => await verb.DeleteAsync(),
                "purge" => await verb.PurgeAsync(),
                "stats" => await verb.StatsAsync(),
                "action" => await verb.ActionAsync(),
                "schedules" => await verb.SchedulesAsync(),
                "pause-schedule" => await verb.PauseScheduleAsync(),
                "resume-schedule" => await verb.ResumeScheduleAsync(),
                "remove-schedule" => await verb.RemoveScheduleAsync(),
                _ => throw new ArgumentException($"unknown verb '{request.Verb}'"),
            };
        }
        catch (ArgumentException ex)
        {
            // The operator names the value it refuses (a malformed filter, a token of another query).
            var reason = ex.ParamName is { } name && ex.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
                ? ex.Message[..^$" (Parameter '{name}')".Length]
                : ex.Message;
            stderr.WriteLine($"tasks {request.Verb}: {TaskOutput.OneLine(reason)}. {request.Usage}");
            return BadUsage;
        }
        catch (DeferredStoreUnavailableException ex)
        {
            stderr.WriteLine($"tasks {request.Verb}: the task store is unreachable: {TaskOutput.OneLine(ex.Message)}");
            return Refused;
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            stderr.WriteLine($"tasks {request.Verb}: the cluster did not answer: {TaskOutput.OneLine(ex.Message)}");
            return Refused;
        }
    }

    private sealed class Verb(IDeferredTaskOperator tasks, TasksRequest request, TaskOutput output, TextWriter stderr, CancellationToken cancellationToken)
    {
        private string Id => request.TaskId!;

        private string ScheduleName => request.ScheduleName!;

        public async Task<int> SchedulesAsync()
        {
            output.Schedules(await tasks.ListSchedulesAsync(cancellationToken));
            return Done;
        }

        public async Task<int> PauseScheduleAsync()
        {
            if (!await tasks.PauseScheduleAsync(ScheduleName, cancellationToken))
            {
                return NoSchedule();
            }

            Report(new { schedule = ScheduleName, paused = true }, $"paused schedule {ScheduleName}: no occurrence is enqueued until it is resumed");
            return Done;
        }

        public async Task<int> ResumeScheduleAsync()
        {
            if (!await tasks.ResumeScheduleAsync(ScheduleName, cancellationToken))
            {
                return NoSchedule();
            }

            Report(new { schedule = ScheduleName, paused = false }, $"resumed schedule {ScheduleName}: its next occurrence is enqueued when due");
            return Done;
        }

        public async Task<int> RemoveScheduleAsync()
        {
            if (!await tasks.RemoveScheduleAsync(ScheduleName, cancellationToken))
            {
                return NoSchedule();
            }

            Report(new { schedule = ScheduleName, removed = true }, $"removed schedule {ScheduleName} (a schedule registered in a silo's code comes back when that silo starts; pause it to stop it for good)");
            return Done;
        }

        private int NoSchedule() => Fail($"no schedule named '{ScheduleName}' is stored");

        public async Task<int> ListAsync()
        {
            var page = await tasks.ListAsync(new DeferredTaskQuery { Filter = request.Filter, PageSize = request.PageSize, PageToken = request.PageToken }, cancellationToken);
            output.Page(page);
            return Done;
        }

        public async Task<int> ShowAsync()
        {
            if (await tasks.ShowAsync(Id, cancellationToken) is not { } details)
            {
                return NotStored();
            }

            output.Details(details);
            return Done;
        }

        public async Task<int> RetryAsync()
        {
            if (request.AllDead)
            {
                var prepared = await tasks.PrepareRetryDeadAsync(request.Filter with { Status = DeferredTaskStatus.Dead }, cancellationToken);
                return await BulkAsync(prepared, "retry", "retried", end =>
                    Report(new { retried = end.Done, total = end.Total, skipped = end.Skipped, failed = end.Failed, actionId = end.Id }, $"retried {end.Done} dead task(s); they are due now{Rest(end)}"));
            }

            if (await tasks.RetryDeadAsync(Id, cancellationToken))
            {
                Report(new { taskId = Id, retried = true }, $"retried {Id}: a fresh set of attempts, due now");
                return Done;
            }

            // False covers both "not stored" and "not dead"; say which.
            return await tasks.ShowAsync(Id, cancellationToken) is { } details
                ? Fail($"task '{Id}' is {TaskOutput.Name(details.Info.Status)}, not dead; only a dead task can be retried")
                : NotStored();
        }

        public async Task<int> RunNowAsync()
        {
            if (await tasks.RunNowAsync(Id, cancellationToken))
            {
                Report(new { taskId = Id, due = true }, $"{Id} is due now: its next attempt starts at once, its attempts unchanged");
                return Done;
            }

            // False covers "not stored", "running" and "dead"; say which.
            return await tasks.ShowAsync(Id, cancellationToken) is not { } details ? NotStored()
                : details.Info.Status == DeferredTaskStatus.Dead ? Fail($"task '{Id}' is dead, not waiting; retry it instead")
                : Fail($"task '{Id}' is {TaskOutput.Name(details.Info.Status)}, not waiting; only a pending or failed task can be run now");
        }

        public async Task<int> CancelAsync()
        {
            var outcome = await tasks.CancelAsync(Id, cancellationToken);
            return outcome switch
            {
                DeferredCancelOutcome.Cancelled => Report(new { taskId = Id, outcome }, $"cancelled {Id}: it was waiting and is removed"),
                DeferredCancelOutcome.Signalled => Report(
                    new { taskId = Id, outcome },
                    $"signalled {Id}: its running attempt's token is cancelled; the task is removed when the handler returns"),
                DeferredCancelOutcome.NotLive => Fail($"task '{Id}' is dead, not cancelled; delete it instead"),
                _ => NotStored(),
            };
        }

        public async Task<int> DeleteAsync()
        {
            bool deleted;
            try
            {
                deleted = await tasks.DeleteAsync(Id, cancellationToken);
            }
            catch (InvalidOperationException ex)
            {
                return Fail($"task '{Id}' was not deleted: {TaskOutput.OneLine(ex.Message)}");
            }

            return deleted ? Report(new { taskId = Id, deleted }, $"deleted {Id}") : NotStored();
        }

        public async Task<int> PurgeAsync()
        {
            var olderThan = request.OlderThan!.Value;
            var prepared = await tasks.PreparePurgeDeadAsync(olderThan, cancellationToken);
            return await BulkAsync(prepared, "purge", "purged", end =>
                Report(
                    new { purged = end.Done, olderThan, total = end.Total, skipped = end.Skipped, failed = end.Failed, actionId = end.Id },
                    $"purged {end.Done} dead task(s) whose last attempt was due before {TaskOutput.Time(olderThan)}{Rest(end)}"));
        }

        public async Task<int> ActionAsync()
        {
            var id = request.ActionId!;
            var action = request.CancelAction
                ? await tasks.CancelBulkActionAsync(id, cancellationToken)
                : await tasks.GetBulkActionAsync(id, cancellationToken);
            if (action is null)
            {
                return Fail($"no silo holds bulk action '{id}' (it finished more than 30 minutes ago, its silo stopped, or it never existed)");
            }

            return Report(action, $"bulk action {action.Id}: {Progress(action)}");
        }

        /// <summary>
        /// Says how many tasks a prepared action covers, starts it and, unless detached, watches it to its end with a
        /// progress line on stderr about every second. The caller's cancellation (Ctrl+C) cancels the action; if this
        /// process dies instead, the action runs to its end in the silo.
        /// </summary>
        private async Task<int> BulkAsync(DeferredBulkAction prepared, string what, string done, Func<DeferredBulkAction, int> report)
        {
            stderr.WriteLine(request.Detach
                ? $"tasks {request.Verb}: bulk action {prepared.Id} will {what} {prepared.Total} dead task(s); see it with: tasks action {prepared.Id}"
                : $"tasks {request.Verb}: bulk action {prepared.Id} will {what} {prepared.Total} dead task(s); Ctrl+C cancels it");
            if (await tasks.StartBulkActionAsync(prepared.Id, CancellationToken.None) is not { } action)
            {
                return Lost(prepared.Id);
            }

            if (request.Detach)
            {
                return Report(action, $"started bulk action {action.Id}: {Progress(action)}");
            }

            var poll = TimeSpan.FromMilliseconds(50);
            var lastLine = DateTimeOffset.UtcNow;
            try
            {
                while (!action.IsFinished)
                {
                    await Task.Delay(poll, cancellationToken);
                    poll = TimeSpan.FromTicks(Math.Min(poll.Ticks * 2, TimeSpan.TicksPerSecond));
                    if (await tasks.GetBulkActionAsync(prepared.Id, cancellationToken) is not { } now)
                    {
                        return Lost(prepared.Id);
                    }

                    action = now;
                    if (!action.IsFinished && DateTimeOffset.UtcNow - lastLine >= TimeSpan.FromSeconds(1))
                    {
                        stderr.WriteLine($"tasks {request.Verb}: {Progress(action)}");
                        lastLine = DateTimeOffset.UtcNow;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var end = await tasks.CancelBulkActionAsync(prepared.Id, bounded.Token);
                return Fail(end is null
                    ? $"interrupted; bulk action {prepared.Id} could not be found to cancel it"
                    : $"cancelled: {done} {end.Done} of {end.Total} task(s) before it stopped ({Progress(end)})");
            }

            report(action);
            return action.Failed == 0 ? Done : Fail($"{action.Failed} of {action.Total} task(s) failed; the last: {TaskOutput.OneLine(action.LastError ?? "")}");
        }

        private static string Progress(DeferredBulkAction action) =>
            $"{action.State.ToString().ToLowerInvariant()}, {action.Total - action.Remaining} of {action.Total} reached: {action.Done} done, {action.Skipped} skipped (no longer dead, or running), {action.Failed} failed";

        private static string Rest(DeferredBulkAction end) =>
            (end.Skipped > 0 ? $"; {end.Skipped} skipped (no longer dead, or running)" : "") + (end.Failed > 0 ? $"; {end.Failed} failed" : "");

        private int Lost(string id) => Fail($"no silo holds bulk action {id} any more (its silo stopped); the tasks it reached stay changed");

        public async Task<int> StatsAsync()
        {
            output.Counts(await tasks.CountAsync(cancellationToken));
            return Done;
        }

        private int Report<T>(T document, string text)
        {
            if (output.Json)
            {
                output.Write(document);
            }
            else
            {
                output.Line(text);
            }

            return Done;
        }

        private int NotStored() => Fail($"task '{Id}' is not stored (it completed, was deleted, or never existed)");

        private int Fail(string message)
        {
            stderr.WriteLine($"tasks {request.Verb}: {message}");
            return Refused;
        }
    }
}
