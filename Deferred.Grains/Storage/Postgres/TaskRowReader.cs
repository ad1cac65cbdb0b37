using Deferred.Lifecycle;
using Npgsql;

namespace Deferred.Storage.Postgres;

/// <summary>
/// Reads <c>deferred_tasks</c> rows by column name. The ordinals are looked up once, when a result set starts, and
/// every row of it is then read by them, so a row costs what reading by ordinal costs. The statements whose rows come
/// through here (<c>tasks-read.sql</c>, <c>tasks-claim.sql</c>, <c>tasks-claim-unowned.sql</c>) each return
/// <see cref="Columns"/>, in any order; <c>Deferred.Tests/Unit/Storage/TaskRowReaderTests.cs</c> parses their SQL
/// and holds them to it.
/// </summary>
internal readonly struct TaskRowReader
{
    private const string TaskId = "task_id";
    private const string TaskType = "task_type";
    private const string Status = "status";
    private const string Attempts = "attempts";
    private const string MaxAttempts = "max_attempts";
    private const string EnqueuedAt = "enqueued_at";
    private const string NextRunAt = "next_run_at";
    private const string HasReminder = "has_reminder";
    private const string Payload = "payload";
    private const string LastError = "last_error";
    private const string Version = "version";
    private const string Owner = "owner";
    private const string RunningSince = "running_since";
    private const string Interruptions = "interruptions";
    private const string TraceParent = "trace_parent";
    private const string TraceState = "trace_state";
    private const string Baggage = "baggage";
    private const string OrderingKey = "ordering_key";
    private const string RequestContext = "request_context";
    private const string CallerId = "caller_id";
    private const string Snoozes = "snoozes";

    private readonly NpgsqlDataReader _reader;
    private readonly int _taskId;
    private readonly int _taskType;
    private readonly int _status;
    private readonly int _attempts;
    private readonly int _maxAttempts;
    private readonly int _enqueuedAt;
    private readonly int _nextRunAt;
    private readonly int _hasReminder;
    private readonly int _payload;
    private readonly int _lastError;
    private readonly int _version;
    private readonly int _owner;
    private readonly int _runningSince;
    private readonly int _interruptions;
    private readonly int _snoozes;
    private readonly int _traceParent;
    private readonly int _traceState;
    private readonly int _baggage;
    private readonly int _orderingKey;
    private readonly int _requestContext;
    private readonly int _callerId;

    /// <summary>Looks up the columns in <paramref name="reader"/>'s current result set; throws when one is missing.</summary>
    public TaskRowReader(NpgsqlDataReader reader)
    {
        _reader = reader;
        _taskId = reader.GetOrdinal(TaskId);
        _taskType = reader.GetOrdinal(TaskType);
        _status = reader.GetOrdinal(Status);
        _attempts = reader.GetOrdinal(Attempts);
        _maxAttempts = reader.GetOrdinal(MaxAttempts);
        _enqueuedAt = reader.GetOrdinal(EnqueuedAt);
        _nextRunAt = reader.GetOrdinal(NextRunAt);
        _hasReminder = reader.GetOrdinal(HasReminder);
        _payload = reader.GetOrdinal(Payload);
        _lastError = reader.GetOrdinal(LastError);
        _version = reader.GetOrdinal(Version);
        _owner = reader.GetOrdinal(Owner);
        _runningSince = reader.GetOrdinal(RunningSince);
        _interruptions = reader.GetOrdinal(Interruptions);
        _snoozes = reader.GetOrdinal(Snoozes);
        _traceParent = reader.GetOrdinal(TraceParent);
        _traceState = reader.GetOrdinal(TraceState);
        _baggage = reader.GetOrdinal(Baggage);
        _orderingKey = reader.GetOrdinal(OrderingKey);
        _requestContext = reader.GetOrdinal(RequestContext);
        _callerId = reader.GetOrdinal(CallerId);
    }

    /// <summary>The columns a task row is read from, as the statements name them.</summary>
    public static IReadOnlyList<string> Columns { get; } =
    [
        TaskId, TaskType, Status, Attempts, MaxAttempts, EnqueuedAt, NextRunAt, HasReminder, Payload, LastError, Version,
        Owner, RunningSince, Interruptions, TraceParent, TraceState, Baggage, OrderingKey, RequestContext, CallerId, Snoozes,
    ];

    /// <summary>The row the reader is on.</summary>
    public TaskRow Read()
    {
        var reader = _reader;
        var state = new TaskRecord
        {
            TaskType = reader.GetString(_taskType),
            Status = Enum.TryParse<DeferredTaskStatus>(reader.GetString(_status), out var status) ? status : DeferredTaskStatus.Dead,
            Attempts = reader.GetInt32(_attempts),
            MaxAttempts = reader.GetInt32(_maxAttempts),
            EnqueuedAt = reader.GetFieldValue<DateTimeOffset>(_enqueuedAt),
            NextRunAt = reader.GetFieldValue<DateTimeOffset>(_nextRunAt),
            HasReminder = reader.GetBoolean(_hasReminder),
            Payload = reader.GetFieldValue<byte[]>(_payload),
            LastError = reader.IsDBNull(_lastError) ? null : TaskRow.ParseError(reader.GetString(_lastError)),
            Owner = reader.IsDBNull(_owner) ? null : reader.GetString(_owner),
            RunningSince = reader.IsDBNull(_runningSince) ? null : reader.GetFieldValue<DateTimeOffset>(_runningSince),
            Interruptions = reader.GetInt32(_interruptions),
            Snoozes = reader.GetInt32(_snoozes),
            TraceParent = reader.IsDBNull(_traceParent) ? null : reader.GetString(_traceParent),
            TraceState = reader.IsDBNull(_traceState) ? null : reader.GetString(_traceState),
            Baggage = reader.IsDBNull(_baggage) ? null : reader.GetString(_baggage),
            OrderingKey = reader.IsDBNull(_orderingKey) ? null : reader.GetString(_orderingKey),
            RequestContext = reader.IsDBNull(_requestContext) ? null : reader.GetFieldValue<byte[]>(_requestContext),
            CallerChosenId = reader.GetBoolean(_callerId),
        };
        return new TaskRow(reader.GetString(_taskId), state, reader.GetInt32(_version));
    }
}
