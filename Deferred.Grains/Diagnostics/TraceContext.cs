using System.Diagnostics;
using System.Text;
using Deferred.Lifecycle;

namespace Deferred.Diagnostics;

/// <summary>
/// Carries the W3C trace context (and baggage) of an enqueue into the task's attempts, as text that is stored with
/// the task: <c>traceparent</c>, <c>tracestate</c> and a <c>baggage</c> header value.
/// </summary>
internal static class TraceContext
{
    /// <summary>The context of <paramref name="activity"/> (a W3C id), or null when there is none.</summary>
    public static TraceCarrier? Capture(Activity? activity)
    {
        if (activity is null || activity.IdFormat != ActivityIdFormat.W3C || activity.Id is not { } id)
        {
            return null;
        }

        return new TraceCarrier(id, activity.TraceStateString, EncodeBaggage(activity.Baggage));
    }

    /// <summary>
    /// Starts the consumer span of an attempt as a child of the stored context. With no listener on the source, a
    /// plain activity still carries the stored context and baggage to the handler (only for tasks enqueued in a trace).
    /// </summary>
    public static Activity? StartAttempt(string name, string? traceParent, string? traceState, string? baggage)
    {
        var parent = default(ActivityContext);
        var hasParent = traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
        var activity = DeferredTelemetry.ActivitySource.StartActivity(name, ActivityKind.Consumer, parent);
        if (activity is null && (hasParent || baggage is not null))
        {
            activity = new Activity(name);
            if (hasParent)
            {
                activity.SetParentId(parent.TraceId, parent.SpanId, parent.TraceFlags);
                activity.TraceStateString = parent.TraceState;
            }

            activity.Start();
        }

        if (activity is not null && baggage is not null)
        {
            // Added in reverse so that enumeration (newest first) yields the enqueuer's order.
            foreach (var (key, value) in ParseBaggage(baggage).Reverse())
            {
                activity.SetBaggage(key, value);
            }
        }

        return activity;
    }

    /// <summary>A W3C baggage header value (percent-encoded <c>key=value</c> pairs, comma-separated); null when empty.</summary>
    public static string? EncodeBaggage(IEnumerable<KeyValuePair<string, string?>> baggage)
    {
        StringBuilder? text = null;
        foreach (var (key, value) in baggage)
        {
            text = text is null ? new StringBuilder() : text.Append(',');
            text.Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value ?? ""));
        }

        return text?.ToString();
    }

    /// <summary>The pairs of a W3C baggage header value; malformed members are skipped.</summary>
    public static IReadOnlyList<KeyValuePair<string, string?>> ParseBaggage(string header)
    {
        var pairs = new List<KeyValuePair<string, string?>>();
        foreach (var member in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Properties after ';' are not carried.
            var pair = member.Split(';', 2)[0];
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                pairs.Add(new(Uri.UnescapeDataString(pair[..equals].Trim()), Uri.UnescapeDataString(pair[(equals + 1)..].Trim())));
            }
        }

        return pairs;
    }
}
