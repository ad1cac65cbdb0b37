using Deferred.Options;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Serialization;

namespace Deferred.Execution;

/// <summary>
/// The Orleans <c>RequestContext</c> entries that travel with a task (<see cref="DeferredTasksOptions.CarriedRequestContextKeys"/>):
/// read from the enqueuing code's context and stored with the task (Orleans-serialized), set again in the context an
/// attempt runs in, so filters and the handler see them. With no keys configured nothing is read or stored.
/// </summary>
internal sealed class CarriedRequestContext(IOptions<DeferredTasksOptions> options, Serializer serializer)
{
    private readonly string[] _keys = options.Value.CarriedRequestContextKeys.Where(static k => !string.IsNullOrWhiteSpace(k)).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The configured entries set in the current RequestContext, serialized; null when none is set (or none configured).</summary>
    public byte[]? Capture()
    {
        if (_keys.Length == 0)
        {
            return null;
        }

        Dictionary<string, object>? values = null;
        foreach (var key in _keys)
        {
            if (RequestContext.Get(key) is { } value)
            {
                (values ??= new(StringComparer.Ordinal))[key] = value;
            }
        }

        if (values is null)
        {
            return null;
        }

        try
        {
            return serializer.SerializeToArray(values);
        }
        catch (Exception ex)
        {
            var types = string.Join(", ", values.Select(static v => $"'{v.Key}' ({v.Value.GetType().FullName})"));
            throw new ArgumentException($"The RequestContext values carried with the task ({types}) cannot be Orleans-serialized: {ex.Message}", "CarriedRequestContextKeys", ex);
        }
    }

    /// <summary>Sets the carried entries in the current RequestContext (the attempt's own execution flow).</summary>
    public void Restore(byte[]? carried)
    {
        if (carried is null)
        {
            return;
        }

        foreach (var (key, value) in serializer.Deserialize<Dictionary<string, object>>(carried) ?? [])
        {
            RequestContext.Set(key, value);
        }
    }
}
