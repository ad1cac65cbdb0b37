using Orleans.Runtime;

namespace Deferred.Silo.Operator;

/// <summary>
/// What each <c>tasks</c> verb does, given an <see cref="IDeferredTaskOperator"/> (from a connected client, or a test
/// cluster's). Exit codes: 0 done; 1 with one stderr line when the task is not stored, the lifecycle refuses the action,
/// or the cluster or its store cannot be reached (stdout stays empty); 2 with one stderr line ending in the usage when
/// the command line is wrong, including a value the operator refuses (a filter, a page token from another query).
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
        var output = new TaskOutput(stdout, request.Json);
        var verb = new Verb(tasks, request, output, stderr, cancellationToken);
        try
        {
            return request.Verb switch
            {
                "list" => await verb.ListAsync(),
                "show" => await verb.ShowAsync(),
                "retry" => await verb.RetryAsync(),
                "cancel" => await verb.CancelAsync(),
                "delete" => await verb.DeleteAsync(),
                "purge" => await verb.PurgeAsync(),
                "stats" => await verb.StatsAsync(),
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
                var retried = await tasks.RetryDeadAsync(request.Filter with { Status = DeferredTaskStatus.Dead }, cancellationToken);
                Report(new { retried }, $"retried {retried} dead task(s); they are due now");
                return Done;
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
            var purged = await tasks.PurgeDeadAsync(olderThan, cancellationToken);
            Report(new { purged, olderThan }, $"purged {purged} dead task(s) whose last attempt was due before {TaskOutput.Time(olderThan)}");
            return Done;
        }

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
