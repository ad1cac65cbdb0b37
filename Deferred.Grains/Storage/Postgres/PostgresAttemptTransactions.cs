using System.Data.Common;
using Deferred.Cluster;
using Deferred.Storage.Resilience;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

namespace Deferred.Storage.Postgres;

/// <summary>
/// The default store's transactions for transactional handlers. An attempt's transaction holds one connection of the
/// silo's pool from before the handler runs until its commit. Its first statement marks the transaction with a token
/// of the attempt, a transaction-local setting (<c>attempt-begin.sql</c>); the completion (<c>attempt-complete.sql</c>)
/// deletes the task's row, conditional on the version the attempt ran from and on that mark (the transaction the
/// attempt began is still the one open), gives back the ordering key and the lease,
/// and commits. The delete does not go through the group commit (<see cref="TaskBatcher"/>): it has to be in the
/// handler's transaction.
/// </summary>
/// <remarks>
/// When the connection breaks during the commit, the answer is lost but the commit may have landed: the row is looked
/// up at its version on another connection (<c>attempt-row-exists.sql</c>, under the outcome window). Gone means
/// committed, since nothing else deletes a row while its attempt runs; still there means not committed.
/// </remarks>
internal sealed class PostgresAttemptTransactions(
    DeferredDatabase database,
    PostgresGrainStorage storage,
    SiloIdentity silo,
    StoreResilience resilience,
    IOptions<ClusterOptions> cluster,
    IOptions<DeferredOptions> options) : IAttemptTransactions
{
    private readonly string _serviceId = cluster.Value.ServiceId;
    private readonly bool _rememberCompleted = options.Value.CompletedIdRetention > TimeSpan.Zero;

    public async Task<IAttemptTransaction> BeginAsync(CancellationToken cancellationToken)
    {
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var token = Guid.NewGuid().ToString("N");
            await using var command = new NpgsqlCommand(SqlQueries.AttemptBegin, connection, transaction);
            command.Parameters.AddWithValue("token", token);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return new Attempt(this, connection, transaction, token);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<AttemptCommit> CompleteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string token, AttemptEnd end)
    {
        var version = int.Parse(end.Version, System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            bool deleted;
            bool sameTransaction;
            await using (var command = new NpgsqlCommand(SqlQueries.AttemptComplete, connection, transaction))
            {
                command.Parameters.AddWithValue("service_id", _serviceId);
                command.Parameters.AddWithValue("task_id", end.TaskId);
                command.Parameters.AddWithValue("version", version);
                command.Parameters.AddWithValue("token", token);
                command.Parameters.AddWithValue("remember_completed", _rememberCompleted);
                command.Parameters.AddWithValue("task_type", end.TaskType);
                command.Parameters.Add(new NpgsqlParameter<int?>("slot", NpgsqlTypes.NpgsqlDbType.Integer) { TypedValue = end.LeaseSlot });
                command.Parameters.AddWithValue("holder", silo.Owner);
                await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
                await reader.ReadAsync().ConfigureAwait(false);
                deleted = !reader.IsDBNull(0);
                sameTransaction = reader.GetBoolean(1);
            }

            if (!sameTransaction)
            {
                return new(AttemptCommitResult.Ended);
            }

            if (!deleted)
            {
                await transaction.RollbackAsync().ConfigureAwait(false);
                return new(AttemptCommitResult.Superseded);
            }
        }
        catch (InvalidOperationException ex) when (ex is ObjectDisposedException || IsCompleted(ex))
        {
            // Npgsql refuses a command on a transaction the handler committed, rolled back or disposed (the filter reads
            // nothing of the transaction: its properties throw once it is disposed).
            return new(AttemptCommitResult.Ended);
        }
        catch (Exception ex)
        {
            // Not committed: the handler's writes and the delete are rolled back together (or lost with the connection).
            return new(AttemptCommitResult.Failed, ex);
        }

        try
        {
            await transaction.CommitAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (StoreFailures.IsUnavailable(ex))
        {
            // The answer to COMMIT was lost: it may have landed.
            return await CommittedAfterAllAsync(end, version).ConfigureAwait(false) ? Committed(end) : new(AttemptCommitResult.Failed, ex);
        }
        catch (Exception ex)
        {
            // Refused by the database (a deferred constraint of the handler's writes, a serialization failure): rolled back.
            return new(AttemptCommitResult.Failed, ex);
        }

        return Committed(end);
    }

    private AttemptCommit Committed(AttemptEnd end)
    {
        storage.NoteDeletedInAttempt(end.TaskId, end.Version);
        return new(AttemptCommitResult.Committed);
    }

    private async Task<bool> CommittedAfterAllAsync(AttemptEnd end, int version)
    {
        var exists = true;
        var result = await resilience.RunAsync(StoreWindow.Outcome, end.TaskId, "commit check", async () =>
        {
            await using var command = database.DataSource.CreateCommand(SqlQueries.AttemptRowExists);
            command.Parameters.AddWithValue("service_id", _serviceId);
            command.Parameters.AddWithValue("task_id", end.TaskId);
            command.Parameters.AddWithValue("version", version);
            exists = (bool)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
        }).ConfigureAwait(false);

        // Unknown (still unreachable): reported as not committed. The failure's write is conditional on the same version,
        // so if the commit did land, that write finds the row gone and the task is not run again.
        return result.Applied && !exists;
    }

    private static bool IsCompleted(InvalidOperationException ex) => ex.Message.Contains("completed", StringComparison.OrdinalIgnoreCase);

    private sealed class Attempt(PostgresAttemptTransactions owner, NpgsqlConnection connection, NpgsqlTransaction transaction, string token) : IAttemptTransaction
    {
        public DbTransaction Transaction => transaction;

        public Task<AttemptCommit> CompleteAsync(AttemptEnd end) => owner.CompleteAsync(connection, transaction, token, end);

        public async ValueTask DisposeAsync()
        {
            // Rolls back whatever did not commit, and returns the connection to the pool.
            try
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A broken connection: disposing it below is all that is left to do.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
