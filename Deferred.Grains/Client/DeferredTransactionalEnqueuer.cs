using System.Collections.Concurrent;
using System.Diagnostics;
using Deferred.Diagnostics;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Storage;
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
    private readonly Serializer _serializer;
    private readonly string _serviceId;
    private readonly TimeProvider _time;
    private readonly IServiceProvider _services;

    // Created by DI only (AddDeferredTasks, AddDeferredTasksClient): the host's serializer, cluster options and, on
    // silos, the handler registry. Not public: an app gets the enqueuer from its services.
    internal DeferredTransactionalEnqueuer(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        _services = services;
        _serializer = services.GetRequiredService<Serializer>();
        _serviceId = services.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;
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

        var name = _services.GetService<TaskTypeRegistry>()?.Find(task.GetType())?.Name ?? TaskRegistration.NameOf(task.GetType());
        var now = Timestamps.Microseconds(_time.GetUtcNow());
        var taskId = options?.TaskId ?? DeferredTaskId.NewId();
        var trace = TraceContext.Capture(Activity.Current);
        await using (var insert = Command(SqlQueries.TasksInsertInAppTransaction, connection, transaction))
        {
            insert.Parameters.AddWithValue("service_id", _serviceId);
            insert.Parameters.AddWithValue("task_id", taskId);
            insert.Parameters.AddWithValue("task_type", name);
            insert.Parameters.AddWithValue("max_attempts", options?.MaxAttempts ?? _services.GetService<IOptions<DeferredOptions>>()?.Value.DefaultMaxAttempts ?? new DeferredOptions().DefaultMaxAttempts);
            insert.Parameters.AddWithValue("enqueued_at", now);
            insert.Parameters.AddWithValue("next_run_at", TaskLifecycle.FirstRun(options?.RunAt, options?.Delay, now));
            insert.Parameters.AddWithValue("payload", _serializer.SerializeToArray(task));
            insert.Parameters.Add(new NpgsqlParameter("trace_parent", NpgsqlDbType.Text) { Value = (object?)trace?.TraceParent ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("trace_state", NpgsqlDbType.Text) { Value = (object?)trace?.TraceState ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("baggage", NpgsqlDbType.Text) { Value = (object?)trace?.Baggage ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("ordering_key", NpgsqlDbType.Text) { Value = (object?)options?.OrderingKey ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter("request_context", NpgsqlDbType.Bytea) { Value = (object?)_services.GetService<CarriedRequestContext>()?.Capture() ?? DBNull.Value });
            insert.Parameters.AddWithValue("caller_id", options?.TaskId is not null);
            insert.Parameters.AddWithValue("completed_id_retention", (_services.GetService<IOptions<DeferredOptions>>()?.Value ?? new DeferredOptions()).CompletedIdRetention);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var notify = Command(SqlQueries.TasksNotify, connection, transaction))
        {
            notify.Parameters.AddWithValue("service_id", _serviceId);
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }

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
