using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage.Resilience;

namespace Deferred.TaskGrain;

/// <summary>
/// The steps of one attempt once the decider has taken its <c>start</c> edge, in the order that holds what other attempts
/// need for the shortest time: the type's concurrency limit, a start permit, the in-flight marker (written through the
/// row), an execution slot, the handler. A step that ends the attempt early says why (<see cref="AttemptResult.Cancelled"/>,
/// <see cref="AttemptResult.Stopping"/>, <see cref="AttemptResult.MarkerNotStored"/>); what the outcome does to the row
/// is the decider's (<see cref="TaskLifecycle.Record"/>). It owns <c>cancel</c> and the reservation, and gives both back.
/// </summary>
internal static class TaskAttempt
{
    public static async Task<AttemptOutcome> RunAsync(
        TaskGrainContext c,
        string taskId,
        StoredTask row,
        Transition start,
        PreparedAttempt prepared,
        ExecutionGate.Reservation reservation,
        CancellationTokenSource cancel,
        CancellationToken stopping)
    {
        ConcurrencyLimits.LimitHold? limit = null;
        try
        {
            if (c.Limits.IsLimited(start.Before!.TaskType))
            {
                // Before the start permit: an attempt waiting for its type's limit holds nothing other types need.
                using var waitEnds = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancel.Token, c.Gate.NoNewStarts);
                limit = await c.Limits.AcquireAsync(start.Before.TaskType, taskId, waitEnds.Token);
            }

            await reservation.StartAsync(stopping);

            // Stored holding a start permit, not a slot: the marker's round trip overlaps running attempts. A cancel that
            // came while the attempt waited (for the permit, the marker or the slot) ends it here, before the handler.
            if (cancel.IsCancellationRequested)
            {
                return AttemptOutcome.Cancelled;
            }

            if (!(await row.ApplyAsync(start, StoreWindow.Start, OnFailure.Revert)).Applied)
            {
                return AttemptOutcome.MarkerNotStored;
            }

            await reservation.EnterAsync(stopping);
            if (cancel.IsCancellationRequested)
            {
                return AttemptOutcome.Cancelled;
            }

            return await c.Runner.RunAsync(taskId, row.Record!, row.Version, prepared, limit, stopping, cancel.Token);
        }
        catch (OperationCanceledException) when (!reservation.HoldsSlot)
        {
            return cancel.IsCancellationRequested ? AttemptOutcome.Cancelled : AttemptOutcome.Stopping;
        }
        finally
        {
            limit?.Dispose();
            reservation.Dispose();
            cancel.Dispose();
        }
    }
}
