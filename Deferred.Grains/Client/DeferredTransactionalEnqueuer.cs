using System.Collections.Concurrent;
using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
using Deferred.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Deferred;

/// <summary>
/// Enqueues inside app code's own PostgreSQL transaction: the task is stored if and only if that transaction commits,
/// and runs shortly after (a notification in the same transaction wakes the silos' sweep at once; the periodic sweep
/// covers a lost notification). For the default store (<c>deferred_tasks</c>) in the same database as the app's data.
/// From DI on silos and on clients with <c>AddDeferredTasksClient</c>.
/// </summary>
/// <remarks>
/// The task type is stored by its Orleans <c>[Alias]</c> or full name (on a silo, by the name its handler was
/// registered under). A <see cref="DeferredEnqueueOptions.TaskId"/> that is already stored stores nothing (idempotent).
/// </remarks>
public sealed class DeferredTransactionalEnqueuer
{
    private static readonly ConcurrentDictionary<string, bool> CheckedDatabases = new(StringComparer.Ordinal);
    private readonly NewTaskFactory _factory;
    private readonly string _serviceId;
    private readonly TimeSpan _completedIdRetention;
    private readonly TimeProvider _time;

    // Created by DI only (AddDeferredTasks, AddDeferredTasksClient): the new-task factory (with the handler registry on
    // silos), cluster options and the completed-id retention. Not public: an app gets the enqueuer from its services.
    internal DeferredTransactionalEnqueuer(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        _factory = services.GetRequiredService<NewTaskFactory>();
        _serviceId = services.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;
        _completedIdRetention = (services.GetService<IOptions<DeferredOptions>>()?.Value ?? new DeferredOptions()).CompletedIdRetention;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
    }

    /// <summary>
    /// Stores <paramref name="task"/> as part of <paramref name="transaction"/>; returns its id. Nothing is stored unless
    /// the transaction commits.
    /// </summary>
    /// <typeparam name="TTask">The task type; a handler for it must be registered on the silos.</typeparam>
    /// <param name="transaction">The app's open transaction, on the database Deferred uses.</param>
    /// <param name="task">The task.</param>
    /// <param name="options">Delay, run time, attempts, id; null for defaults.</param>
    /// <param name="cancellationToken">Cancels the statements.</param>
    /// <exception cref="ArgumentException">The transaction is finished, or an option is bad.</exception>
    /// <exception cref="InvalidOperationException">The transaction's database has no <c>deferred_tasks</c> table.</exception>
    public async Task<string> EnqueueAsync<TTask>(NpgsqlTransaction transaction, TTask task, DeferredEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (task is null)
        {
            throw new ArgumentNullException(nameof(task), "The task to enqueue is null.");
        }

        var connection = transaction.Connection ?? throw Finished();
        DeferredEnqueueOptionsValidation.ThrowIfInvalid(options);
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureTaskTableAsync(connection, transaction, cancellationToken);

        // The same record, and the same insert statement, as a silo's batch (tasks-insert.sql, one row), with no owner:
        // a silo's sweep adopts the task once this transaction commits; the notification in the same transaction wakes
        // the sweeps at once. One round trip.
        var now = Timestamps.Microseconds(_time.GetUtcNow());
        var taskId = options?.TaskId ?? DeferredTaskId.NewId();
        var record = NewTaskFactory.Record(_factory.Create(task, options, TraceContext.Capture(Activity.Current), now), owner: null, now);
        await using var batch = Batch(connection, transaction);
        batch.BatchCommands.Add(TaskRowStatements.Insert(_serviceId, [new TaskRow(taskId, record, 0)], _completedIdRetention));
        var notify = new NpgsqlBatchCommand(SqlQueries.TasksNotify);
        notify.Parameters.AddWithValue("service_id", _serviceId);
        batch.BatchCommands.Add(notify);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return taskId;
    }

    private static NpgsqlCommand Command(string sql, NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        try
        {
            return new NpgsqlCommand(sql, connection, transaction);
        }
        catch (InvalidOperationException)
        {
            // Npgsql refuses a finished transaction here.
            throw Finished();
        }
    }

    private static NpgsqlBatch Batch(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        try
        {
            return new NpgsqlBatch(connection, transaction);
        }
        catch (InvalidOperationException)
        {
            // Npgsql refuses a finished transaction here.
            throw Finished();
        }
    }

    private static ArgumentException Finished() =>
        new("The transaction is already committed or rolled back; enqueue inside an open transaction.", "transaction");

    private static async Task EnsureTaskTableAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var key = $"{connection.Host}:{connection.Port}/{connection.Database}";
        if (CheckedDatabases.ContainsKey(key))
        {
            return;
        }

        await using var check = Command(SqlQueries.TasksTableExists, connection, transaction);
        if (await check.ExecuteScalarAsync(cancellationToken) is not true)
        {
            throw new InvalidOperationException(
                $"The transaction's database '{connection.Database}' has no deferred_tasks table: enqueue in a transaction on the database Deferred uses, migrated (DeferredSchema.MigrateAsync).");
        }

        CheckedDatabases[key] = true;
    }
}
