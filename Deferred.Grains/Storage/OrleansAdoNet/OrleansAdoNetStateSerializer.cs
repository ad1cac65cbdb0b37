using System.Text.Json;
using System.Text.Json.Serialization;
using Deferred.Lifecycle;
using System.Text;
using Orleans.Storage;

namespace Deferred.Storage.OrleansAdoNet;

/// <summary>
/// The stock store keeps task rows as camelCase JSON. Unknown fields are ignored on read and missing ones take their defaults,
/// so a row written by today's build reads in tomorrow's. Only <see cref="TaskRecord"/> is accepted:
/// no type names are written or read, so a row can never make the silo instantiate an arbitrary type.
/// </summary>
internal sealed class OrleansAdoNetStateSerializer : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? input)
    {
        if (input is not TaskRecord state)
        {
            throw new NotSupportedException($"The Deferred task store only stores {nameof(TaskRecord)}, not {typeof(T)}.");
        }

        return new BinaryData(JsonSerializer.SerializeToUtf8Bytes(state, DeferredStateJsonContext.Default.TaskRecord));
    }

    public T? Deserialize<T>(BinaryData input)
    {
        if (typeof(T) != typeof(TaskRecord))
        {
            throw new NotSupportedException($"The Deferred task store only reads {nameof(TaskRecord)}, not {typeof(T)}.");
        }

        try
        {
            return (T?)(object?)JsonSerializer.Deserialize(input.ToMemory().Span, DeferredStateJsonContext.Default.TaskRecord);
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException or NotSupportedException)
        {
            // A row that cannot be read becomes a dead task instead of a grain that can never activate.
            // The raw bytes (hex, truncated) go into the error so an operator can still see what was there;
            // hex because the bytes may not be text at all, and PostgreSQL's jsonb rejects \u0000.
            var raw = input.ToMemory().Span;
            return (T)(object)new TaskRecord
            {
                Status = DeferredTaskStatus.Dead,
                ReadFailure = new DeferredTaskError
                {
                    Type = DeferredErrorTypes.CorruptRow,
                    Message = $"The stored row could not be read ({ex.Message}). Row bytes ({raw.Length}, hex): {Convert.ToHexString(raw[..Math.Min(raw.Length, 1000)])}",
                },
            };
        }
    }
}
