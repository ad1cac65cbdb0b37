using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Deferred.Silo.Operator;

/// <summary>
/// How the <c>tasks</c> verbs print: aligned tables for people, or with <c>--json</c> one JSON document (camelCase,
/// enums as camelCase strings, times in ISO 8601) for scripts. Both go to stdout; errors go to stderr.
/// </summary>
internal sealed class TaskOutput(TextWriter stdout, bool json)
{
    /// <summary>The JSON settings of every document the verbs print; tests read the output back with them.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private const int ErrorColumnWidth = 60;

    public bool Json => json;

    /// <summary><paramref name="text"/> on one line: newlines become spaces, so every message stays one stderr line.</summary>
    public static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.', ' ');

    public void Write<T>(T document) => stdout.WriteLine(JsonSerializer.Serialize(document, JsonOptions));

    public void Line(string text) => stdout.WriteLine(text);

    public void Page(DeferredTaskPage page)
    {
        if (json)
        {
            Write(page);
            return;
        }

        if (page.Tasks.Count == 0)
        {
            stdout.WriteLine("no tasks match");
        }
        else
        {
            Table(
                ["ID", "TYPE", "STATUS", "ATTEMPTS", "NEXT RUN", "OWNER", "LAST ERROR"],
                page.Tasks.Select(t => new[]
                {
                    t.TaskId,
                    t.TaskType,
                    Name(t.Status),
                    $"{t.Attempts}/{t.MaxAttempts}",
                    Time(t.NextRunAt),
                    t.Owner ?? "-",
                    t.LastErrorType is null ? "-" : Shorten($"{t.LastErrorType}: {t.LastErrorMessage}", ErrorColumnWidth),
                }));
        }

        if (page.NextPageToken is not null)
        {
            stdout.WriteLine($"more: --page-token {page.NextPageToken}");
        }
    }

    public void Details(DeferredTaskDetails details)
    {
        var info = details.Info;
        if (json)
        {
            Write(new DetailsDocument(
                info.TaskId, info.TaskType, info.Status, info.Attempts, info.MaxAttempts, info.EnqueuedAt, info.NextRunAt,
                info.Interruptions, info.LastError, details.Owner, details.RunningSince, details.PayloadType, details.PayloadBytes,
                Payload(details.PayloadJson), details.OrderingKey));
            return;
        }

        var rows = new List<(string, string)>
        {
            ("id", info.TaskId),
            ("type", info.TaskType),
            ("status", Name(info.Status)),
            ("attempts", $"{info.Attempts} of {info.MaxAttempts}"),
            ("enqueued", Time(info.EnqueuedAt)),
            ("next run", info.NextRunAt is { } next ? Time(next) : "-"),
            ("owner", details.Owner ?? "- (released)"),
            ("running since", details.RunningSince is { } since ? Time(since) : "-"),
            ("interruptions", info.Interruptions.ToString(CultureInfo.InvariantCulture)),
            ("ordering key", details.OrderingKey ?? "-"),
            ("payload type", details.PayloadType ?? "- (no handler on the silo)"),
            ("payload bytes", details.PayloadBytes.ToString(CultureInfo.InvariantCulture)),
        };
        if (info.LastError is { } error)
        {
            rows.Add(("last error", $"{error.Type}: {OneLine(error.Message)}"));
            rows.Add(("failed", $"attempt {error.Attempt} at {Time(error.At)}"));
        }

        var width = rows.Max(r => r.Item1.Length) + 1;
        foreach (var (label, value) in rows)
        {
            stdout.WriteLine($"{(label + ":").PadRight(width)} {value}");
        }

        if (info.LastError?.StackTrace is { Length: > 0 } stack)
        {
            stdout.WriteLine("stack trace:");
            stdout.WriteLine(stack);
        }

        stdout.WriteLine("payload:");
        stdout.WriteLine(Payload(details.PayloadJson)?.ToJsonString(JsonOptions) ?? details.PayloadJson ?? "- (not renderable)");
    }

    public void Counts(IReadOnlyList<DeferredTaskCount> counts)
    {
        var byStatus = new[] { DeferredTaskStatus.Pending, DeferredTaskStatus.Failed, DeferredTaskStatus.Dead }
            .ToDictionary(Name, s => counts.Where(c => c.Status == s).Sum(c => c.Count));
        var total = counts.Sum(c => c.Count);
        var ordered = counts.OrderBy(c => c.Status).ThenBy(c => c.TaskType, StringComparer.Ordinal).ToArray();
        if (json)
        {
            Write(new CountsDocument(total, byStatus, ordered));
            return;
        }

        if (ordered.Length == 0)
        {
            stdout.WriteLine("no tasks stored");
            return;
        }

        Table(["STATUS", "TYPE", "COUNT"], ordered.Select(c => new[] { Name(c.Status), c.TaskType, c.Count.ToString(CultureInfo.InvariantCulture) }), rightAligned: 2);
        stdout.WriteLine($"total {total}: {string.Join(", ", byStatus.Select(s => $"{s.Key} {s.Value}"))}");
    }

    /// <summary>A status as the command line spells it (and <c>--status</c> takes it): pending, running, failed, dead.</summary>
    public static string Name(DeferredTaskStatus status) => JsonNamingPolicy.CamelCase.ConvertName(status.ToString());

    /// <summary>A time as the command line prints it: UTC, to the second.</summary>
    public static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Shorten(string text, int width)
    {
        text = OneLine(text);
        return text.Length <= width ? text : string.Concat(text.AsSpan(0, width - 1), "…");
    }

    // The payload as a JSON value in the document, not a string inside it, so `jq .payload.field` works.
    private static JsonNode? Payload(string? payloadJson)
    {
        if (payloadJson is null)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(payloadJson);
        }
        catch (JsonException)
        {
            return JsonValue.Create(payloadJson);
        }
    }

    private void Table(string[] header, IEnumerable<string[]> rows, int rightAligned = -1)
    {
        var all = rows.Prepend(header).ToArray();
        var widths = Enumerable.Range(0, header.Length).Select(i => all.Max(r => r[i].Length)).ToArray();
        var line = new StringBuilder();
        foreach (var row in all)
        {
            line.Clear();
            for (var i = 0; i < row.Length; i++)
            {
                var last = i == row.Length - 1;
                line.Append(i == rightAligned ? row[i].PadLeft(widths[i]) : last ? row[i] : row[i].PadRight(widths[i]));
                if (!last)
                {
                    line.Append("  ");
                }
            }

            stdout.WriteLine(line.ToString());
        }
    }

    /// <summary><c>show --json</c>: the task's fields flat, with the payload as JSON.</summary>
    private sealed record DetailsDocument(
        string TaskId,
        string TaskType,
        DeferredTaskStatus Status,
        int Attempts,
        int MaxAttempts,
        DateTimeOffset EnqueuedAt,
        DateTimeOffset? NextRunAt,
        int Interruptions,
        DeferredTaskError? LastError,
        string? Owner,
        DateTimeOffset? RunningSince,
        string? PayloadType,
        int PayloadBytes,
        JsonNode? Payload,
        string? OrderingKey);

    /// <summary><c>stats --json</c>.</summary>
    private sealed record CountsDocument(long Total, IReadOnlyDictionary<string, long> ByStatus, IReadOnlyList<DeferredTaskCount> Counts);
}
