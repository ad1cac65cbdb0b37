using System.Collections.Frozen;
using Deferred.Storage;
using Microsoft.Extensions.Options;

namespace Deferred.Execution;

/// <summary>
/// The per-type concurrency limits (<see cref="DeferredOptions.ConcurrencyLimits"/>): before an attempt of a limited
/// type takes its start permit, it takes a permit of its type on this silo (<see cref="DeferredConcurrencyLimit.PerSilo"/>,
/// a local semaphore) and then a lease on one of the type's cluster slots (<see cref="DeferredConcurrencyLimit.Cluster"/>,
/// a row in <c>deferred_concurrency_leases</c>); it gives both back when its handler returns. Unlimited types pay one
/// dictionary lookup. The sweep frees the leases of silos that are gone (<see cref="ReleaseGoneAsync"/>).
/// </summary>
internal sealed class ConcurrencyLimits : IDisposable
{
    private readonly FrozenDictionary<string, TypeLimit> _types;

    public ConcurrencyLimits(IOptions<DeferredOptions> options, ConcurrencyLeases store, TimeProvider time)
    {
        _types = options.Value.ConcurrencyLimits
            .Where(static l => l.Value is { PerSilo: > 0 } or { Cluster: > 0 })
            .ToFrozenDictionary(static l => l.Key, l => new TypeLimit(l.Key, l.Value.PerSilo, l.Value.Cluster, store, time), StringComparer.Ordinal);
        Store = store;
    }

    private ConcurrencyLeases Store { get; }

    /// <summary>True when <paramref name="taskType"/> has a limit on this silo.</summary>
    public bool IsLimited(string taskType) => _types.ContainsKey(taskType);

    /// <summary>
    /// Waits until an attempt of <paramref name="taskType"/> may run under the type's limits, and returns what it holds
    /// (dispose it when the handler has returned); null, at once, for a type without limits. Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled first.
    /// </summary>
    public ValueTask<LimitHold?> AcquireAsync(string taskType, string taskId, CancellationToken cancellationToken) =>
        _types.TryGetValue(taskType, out var limit) ? limit.AcquireAsync(taskId, cancellationToken) : ValueTask.FromResult<LimitHold?>(null);

    /// <summary>Attempts of <paramref name="taskType"/> holding their permits on this silo (for tests and diagnostics).</summary>
    public int Running(string taskType) => _types.TryGetValue(taskType, out var limit) ? limit.Running : 0;

    /// <summary>Frees every lease held by a silo that <paramref name="isGone"/> says has gone; returns how many silos.</summary>
    public Task<int> ReleaseGoneAsync(Func<string, bool> isGone, CancellationToken cancellationToken) => Store.ReleaseGoneAsync(isGone, cancellationToken);

    public void Dispose()
    {
        foreach (var limit in _types.Values)
        {
            limit.Dispose();
        }
    }

    internal sealed class TypeLimit(string taskType, int? perSilo, int? cluster, ConcurrencyLeases store, TimeProvider time) : IDisposable
    {
        private readonly SemaphoreSlim? _perSilo = perSilo is { } n ? new SemaphoreSlim(n, n) : null;

        // One attempt of the type at a time asks the database for a slot; the others queue behind it here.
        private readonly SemaphoreSlim _asking = new(1, 1);
        private TaskCompletionSource _freed = NewSignal();
        private int _running;

        public int? Cluster => cluster;

        public int Running => Volatile.Read(ref _running);

        public async ValueTask<LimitHold?> AcquireAsync(string taskId, CancellationToken cancellationToken)
        {
            if (_perSilo is not null)
            {
                await _perSilo.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            int? slot = null;
            try
            {
                if (cluster is { } limit)
                {
                    slot = await TakeSlotAsync(taskId, limit, cancellationToken).ConfigureAwait(false);
                }
            }
            catch
            {
                _perSilo?.Release();
                throw;
            }

            Interlocked.Increment(ref _running);
            return new LimitHold(this, slot, taskId);
        }

        private async Task<int> TakeSlotAsync(string taskId, int limit, CancellationToken cancellationToken)
        {
            await _asking.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                for (var waits = 0; ; waits++)
                {
                    var freed = Volatile.Read(ref _freed).Task;
                    if (await store.TryTakeAsync(taskType, limit, taskId, cancellationToken).ConfigureAwait(false) is { } slot)
                    {
                        return slot;
                    }

                    // Every slot is taken: look again when an attempt of the type ends here, or after a short wait (one
                    // may have ended on another silo).
                    await freed.WaitAsync(OrderingTurns.Backoff(waits), time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
            finally
            {
                _asking.Release();
            }
        }

        public void Release(int? slot, string taskId)
        {
            Interlocked.Decrement(ref _running);
            _perSilo?.Release();
            if (slot is { } taken)
            {
                _ = ReleaseSlotAsync(taken, taskId);
            }
        }

        private async Task ReleaseSlotAsync(int slot, string taskId)
        {
            await store.ReleaseAsync(taskType, slot, taskId).ConfigureAwait(false);
            Freed();
        }

        /// <summary>A slot of the type is free in the store: the attempts waiting here look again now.</summary>
        public void Freed() => Interlocked.Exchange(ref _freed, NewSignal()).TrySetResult();

        private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose()
        {
            _perSilo?.Dispose();
            _asking.Dispose();
        }
    }

    /// <summary>
    /// What an attempt of a limited type holds: its permit on this silo and, for a cluster limit, the slot it leases.
    /// Disposing gives both back, once.
    /// </summary>
    internal sealed class LimitHold : IDisposable
    {
        private readonly TypeLimit _limit;
        private readonly string _taskId;
        private int? _slot;
        private int _released;

        internal LimitHold(TypeLimit limit, int? slot, string taskId)
        {
            _limit = limit;
            _slot = slot;
            _taskId = taskId;
        }

        /// <summary>The cluster slot leased, or null when the type has no cluster limit.</summary>
        public int? Slot => _slot;

        /// <summary>The lease was deleted in the attempt's own transaction (it committed): disposing gives back only the local permit.</summary>
        public void SlotReleasedInStore()
        {
            if (_slot is not null)
            {
                _slot = null;
                _limit.Freed();
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                _limit.Release(_slot, _taskId);
            }
        }
    }
}
