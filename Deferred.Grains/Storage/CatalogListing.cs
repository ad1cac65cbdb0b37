using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Deferred.Storage;

/// <summary>
/// The operator listing's statement choice, parameters and result shapes, shared by both catalogs: every
/// <c>tasks-list*.sql</c> and <c>stock-list*.sql</c> statement takes the same parameters and returns the same columns,
/// as do the two count statements.
/// </summary>
internal static class CatalogListing
{
    /// <summary>
    /// The list statement for <paramref name="filter"/>'s shape: with an error substring (and maybe a task type), with
    /// a task type only, or neither. Each statement reads the index that fits its shape, whatever plan PostgreSQL makes
    /// of it (a prepared statement may get one plan for any values, where an optional filter cannot pick the index).
    /// </summary>
    public static string Statement(DeferredTaskFilter filter, string plain, string byType, string byError)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return filter.ErrorContains is not null ? byError : filter.TaskType is not null ? byType : plain;
    }

    /// <summary>
    /// Binds a list statement's parameters (each statement uses those its shape needs). Every one is typed, since unset
    /// filters travel as NULL. The listing has one lower bound, the keyset: DueFrom is folded into it
    /// (<see cref="StartAfter"/>). An unset DueBefore travels as infinity rather than NULL, so it stays an index bound.
    /// </summary>
    public static void AddParameters(NpgsqlCommand command, string serviceId, DeferredTaskFilter filter, TaskListKey? after, int limit)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var start = StartAfter(filter, after);
        command.Parameters.Add(Typed("service_id", NpgsqlDbType.Text, serviceId));
        command.Parameters.Add(Typed("status", NpgsqlDbType.Text, filter.Status?.ToString()));
        command.Parameters.Add(Typed("task_type", NpgsqlDbType.Text, filter.TaskType));

        // As text, cast in SQL: as a timestamptz, Npgsql would send a key at DateTimeOffset.MinValue as -infinity.
        command.Parameters.Add(Typed("after_due", NpgsqlDbType.Text, start is { } key
            ? UpToMicrosecond(key.NextRunAt).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)
            : "-infinity"));
        command.Parameters.Add(Typed("after_id", NpgsqlDbType.Text, start?.TaskId ?? ""));
        command.Parameters.Add(Typed("due_before", NpgsqlDbType.TimestampTz, filter.DueBefore is { } before ? UpToMicrosecond(before) : DateTimeOffset.MaxValue));
        command.Parameters.Add(Typed("error", NpgsqlDbType.Text, filter.ErrorContains));
        command.Parameters.Add(Typed("page_size", NpgsqlDbType.Integer, limit));
    }

    /// <summary>
    /// Where a page starts: after <paramref name="after"/>, but never before the filter's DueFrom; null for the very
    /// start. (DueFrom, "") is before every task due at DueFrom, since task ids are never empty.
    /// </summary>
    public static TaskListKey? StartAfter(DeferredTaskFilter filter, TaskListKey? after)
    {
        if (filter.DueFrom is not { } from)
        {
            return after;
        }

        return after is { } key && key.NextRunAt >= from ? key : new TaskListKey(from, "");
    }

    /// <summary>Reads a list statement's rows: task id, type, status, attempts, max attempts, enqueued, next run, error type, error message, owner.</summary>
    public static async Task<IReadOnlyList<DeferredTaskSummary>> ReadSummariesAsync(NpgsqlCommand command, int capacity, CancellationToken cancellationToken)
    {
        var tasks = new List<DeferredTaskSummary>(capacity);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            tasks.Add(new DeferredTaskSummary
            {
                TaskId = reader.GetString(0),
                TaskType = reader.GetString(1),
                Status = Enum.Parse<DeferredTaskStatus>(reader.GetString(2)),
                Attempts = reader.GetInt32(3),
                MaxAttempts = reader.GetInt32(4),
                EnqueuedAt = reader.IsDBNull(5) ? default : reader.GetFieldValue<DateTimeOffset>(5),
                NextRunAt = reader.GetFieldValue<DateTimeOffset>(6),
                LastErrorType = reader.IsDBNull(7) ? null : reader.GetString(7),
                LastErrorMessage = reader.IsDBNull(8) ? null : reader.GetString(8),
                Owner = reader.IsDBNull(9) ? null : reader.GetString(9),
            });
        }

        return tasks;
    }

    /// <summary>Reads a count statement's rows: status, task type, count.</summary>
    public static async Task<IReadOnlyList<DeferredTaskCount>> ReadTypeCountsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var counts = new List<DeferredTaskCount>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts.Add(new DeferredTaskCount(Enum.Parse<DeferredTaskStatus>(reader.GetString(0)), reader.GetString(1), reader.GetInt64(2)));
        }

        return counts;
    }

    /// <summary>
    /// PostgreSQL keeps microseconds. A bound finer than that is rounded up, which keeps "at or after" and "before"
    /// exact (the stored times themselves are whole microseconds), in UTC as Npgsql requires.
    /// </summary>
    private static DateTimeOffset UpToMicrosecond(DateTimeOffset value)
    {
        var ticks = value.UtcTicks;
        var rest = ticks % TimeSpan.TicksPerMicrosecond;
        return rest == 0 || ticks > DateTimeOffset.MaxValue.UtcTicks - TimeSpan.TicksPerMicrosecond
            ? value.ToUniversalTime()
            : new DateTimeOffset(ticks - rest + TimeSpan.TicksPerMicrosecond, TimeSpan.Zero);
    }

    private static NpgsqlParameter Typed(string name, NpgsqlDbType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };
}
