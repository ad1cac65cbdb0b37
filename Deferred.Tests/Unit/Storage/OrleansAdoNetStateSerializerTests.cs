using System.Text;
using Deferred.Lifecycle;
using Deferred.Storage.OrleansAdoNet;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The stock store's row format: <see cref="OrleansAdoNetStateSerializer"/>.</summary>
public sealed class OrleansAdoNetStateSerializerTests
{
    private readonly OrleansAdoNetStateSerializer _serializer = new();

    [Fact]
    public void State_rows_round_trip_as_readable_json()
    {
        var state = new TaskRecord
        {
            TaskType = "orders.ship",
            Payload = [1, 2, 3],
            Status = DeferredTaskStatus.Failed,
            Attempts = 2,
            MaxAttempts = 21,
            NextRunAt = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero),
            LastError = new DeferredTaskError { Type = "System.TimeoutException", Message = "slow", Attempt = 2 },
        };

        var bytes = _serializer.Serialize(state);
        var json = Encoding.UTF8.GetString(bytes.ToArray());
        Assert.Contains("\"status\":\"Failed\"", json);
        Assert.Contains("\"taskType\":\"orders.ship\"", json);
        Assert.DoesNotContain("$type", json);

        var back = _serializer.Deserialize<TaskRecord>(bytes)!;
        Assert.Equal(state.TaskType, back.TaskType);
        Assert.Equal(state.Payload, back.Payload);
        Assert.Equal(state.Status, back.Status);
        Assert.Equal(state.NextRunAt, back.NextRunAt);
        Assert.Equal("slow", back.LastError!.Message);
    }

    [Fact]
    public void Rows_from_other_builds_read_with_unknown_fields_ignored_and_missing_ones_defaulted()
    {
        var json = """{"taskType":"t","payload":"AQI=","status":"Pending","maxAttempts":5,"addedNextYear":{"x":1}}""";
        var state = _serializer.Deserialize<TaskRecord>(new BinaryData(Encoding.UTF8.GetBytes(json)))!;
        Assert.Equal("t", state.TaskType);
        Assert.Equal(0, state.Attempts);
        Assert.False(state.HasReminder);
        Assert.Null(state.ReadFailure);
    }

    [Fact]
    public void An_unreadable_row_becomes_a_dead_state_that_keeps_the_raw_text()
    {
        var state = _serializer.Deserialize<TaskRecord>(new BinaryData(Encoding.UTF8.GetBytes("{not json")))!;
        Assert.Equal(DeferredTaskStatus.Dead, state.Status);
        Assert.Equal(DeferredErrorTypes.CorruptRow, state.ReadFailure!.Type);
        Assert.Contains(Convert.ToHexString(Encoding.UTF8.GetBytes("{not json")), state.ReadFailure.Message);
    }

    [Fact]
    public void The_store_refuses_any_other_type() =>
        Assert.Throws<NotSupportedException>(() => _serializer.Serialize("a string"));
}
