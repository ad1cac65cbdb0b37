using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Serialization;

namespace Deferred.Execution;

/// <summary>
/// The Orleans <c>RequestContext</c> entries that travel with a task (<see cref="DeferredOptions.CarriedRequestContextKeys"/>):
/// read from the enqueuing code's context and stored with the task (Orleans-serialized), set again in the context an
/// attempt runs in, so filters and the handler see them. With no keys configured nothing is read or stored.
/// </summary>
/// <remarks>
/// On an Orleans client (<see cref="ForClient"/>) the silos' keys are not known: a transactional enqueue there stores every
/// entry of the caller's context, as a grain call would send them all, and the silo that runs the task sets again only
/// the entries its own <see cref="DeferredOptions.CarriedRequestContextKeys"/> name.
/// </remarks>
internal sealed class CarriedRequestContext
{
    private readonly string[]? _keys;
    private readonly Serializer serializer;

    /// <summary>A silo's: the configured keys.</summary>
    public CarriedRequestContext(IOptions<DeferredOptions> options, Serializer serializer)
        : this(options.Value.CarriedRequestContextKeys.Where(static k => !string.IsNullOrWhiteSpace(k)).Distinct(StringComparer.Ordinal).ToArray(), serializer)
    {
    }

    private CarriedRequestContext(string[]? keys, Serializer serializer)
    {
        _keys = keys;
        this.serializer = serializer;
    }

    /// <summary>A client's: captures every entry (see the remarks).</summary>
    public static CarriedRequestContext ForClient(Serializer serializer) => new((string[]?)null, serializer);

    /// <summary>The configured entries set in the current RequestContext, serialized; null when none is set (or none configured).</summary>
    public byte[]? Capture()
    {
        if (_keys is { Length: 0 })
        {
            return null;
        }

        Dictionary<string, object>? values = null;
        foreach (var key in _keys ?? RequestContext.Keys.ToArray())
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
            // Only the keys this silo carries: a client's transactional enqueue stores every entry it had.
            if (_keys is null || Array.IndexOf(_keys, key) >= 0)
            {
                RequestContext.Set(key, value);
            }
        }
    }
}
