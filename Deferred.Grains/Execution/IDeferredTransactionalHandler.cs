using Npgsql;

namespace Deferred;

/// <summary>
/// Runs tasks of type <typeparamref name="TTask"/> inside a database transaction that also ends the task: whatever the
/// handler writes through <c>transaction</c>, and the task's completion (the delete of its row, the release of its
/// ordering key and its cluster concurrency slot), commit together, or not at all. A task whose transaction committed
/// never runs again; one whose transaction did not commit (the handler threw, the commit failed, the silo died first)
/// left nothing behind and runs again. Tasks enqueued through <c>DeferredTransactionalEnqueuer</c> on the same
/// transaction are part of the same commit. Register with <c>AddDeferredTransactionalTaskHandler</c>; only the default
/// store (<c>Postgres</c>) supports it. See docs/semantics.md, "Exactly once for database work".
/// </summary>
/// <remarks>
/// <para>
/// The transaction is on the task store's database, on a connection of the silo's pool, open from before the handler is
/// called until Deferred commits it after the handler returns. Do not commit, roll back or dispose it, and do not end it
/// with SQL text (<c>COMMIT</c>, <c>ROLLBACK</c>): Deferred notices, stores nothing for the task, and makes it dead with
/// the error type <c>Deferred.TransactionEnded</c> (a retry could repeat writes that were committed). Savepoints are yours
/// to use.
/// </para>
/// <para>
/// Only writes through this transaction are exactly once. Anything else the handler does (an HTTP call, a message, a
/// write to another database) is still at least once: it can happen in an attempt whose transaction then fails to
/// commit, and happen again in the next.
/// </para>
/// <para>
/// The attempt timeout cancels <c>cancellationToken</c>; pass it to your commands so a long statement is stopped and the
/// transaction rolled back. Each running attempt holds one pooled connection: keep the pool's <c>Maximum Pool Size</c>
/// above the attempts of transactional types that may run at once (<c>MaxConcurrentTasks</c>, or the type's concurrency
/// limit) plus the store's own connections (<c>StoreMaxBatchesInFlight</c> and a few more).
/// </para>
/// </remarks>
/// <typeparam name="TTask">The task type.</typeparam>
public interface IDeferredTransactionalHandler<in TTask>
{
    /// <summary>Runs one attempt of <paramref name="task"/> in <paramref name="transaction"/>.</summary>
    /// <param name="task">The task.</param>
    /// <param name="context">The attempt: task id, attempt number, the last error.</param>
    /// <param name="transaction">The open transaction to write in; Deferred commits it with the task's completion.</param>
    /// <param name="cancellationToken">Cancelled at the attempt timeout, on shutdown, or by an operator's cancel.</param>
    /// <returns>A task that completes when the handler's work in the transaction is done.</returns>
    Task ExecuteAsync(TTask task, DeferredTaskContext context, NpgsqlTransaction transaction, CancellationToken cancellationToken);
}
