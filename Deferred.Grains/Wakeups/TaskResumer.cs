using Deferred.Diagnostics;
using Deferred.Execution;
using Microsoft.Extensions.Options;

namespace Deferred.Wakeups;

/// <summary>
/// Resumes a list of task ids on this silo with bounded parallelism, pausing while the silo's due backlog is
/// full. Shared by the startup scan and the due-time poller, so both feed work in the same paced way.
/// </summary>
internal sealed class TaskResumer(TaskGrainReferences grains, ExecutionGate gate, ResumeRetries retries, IOptions<DeferredOptions> options)
{
    private readonly DeferredOptions _options = options.Value;

    /// <summary>
    /// Resumes <paramref name="ids"/> (with <paramref name="adopted"/>, as tasks adopted from a silo that went away,
    /// whose attempts are watched from now on); returns how many were live, not live, and failed. A failed call is
    /// handed to <see cref="ResumeRetries"/>, which tries it again within a second or so. Only a
    /// <paramref name="recovery"/> (the startup scan, the sweep, the stranded-task audit) counts its live tasks in
    /// <c>deferred.tasks.recovered</c>; the routine wake of rows just written or coming due is not a recovery.
    /// </summary>
    public async Task<(int Resumed, int Skipped, int Errors)> ResumeAsync(IReadOnlyList<string> ids, bool recovery, CancellationToken cancellationToken, bool adopted = false)
    {
        int resumed = 0, skipped = 0, errors = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _options.RecoveryConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(ids, parallel, async (id, ct) =>
        {
            await gate.WaitUntilBelowAsync(_options.RecoveryMaxBacklog, ct);
            try
            {
                var grain = grains.Recoverable(id);
                if (await (adopted ? grain.AdoptAsync() : grain.ResumeAsync()).WaitAsync(ct))
                {
                    Interlocked.Increment(ref resumed);
                }
                else
                {
                    Interlocked.Increment(ref skipped);
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                // The row names a live owner by now (this silo), so no sweep would adopt it again: tried again soon
                // instead of waiting for the stranded-task audit (30 s past due, after a periodic sweep).
                Interlocked.Increment(ref errors);
                retries.Add(id, adopted, recovery, ex);
            }
        });

        if (recovery)
        {
            DeferredTelemetry.Recovered.Add(resumed);
        }

        return (resumed, skipped, errors);
    }
}
