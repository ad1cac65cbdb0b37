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
/// <remarks>
/// What people read carries third-party text (error messages, stack traces, payloads, ordering keys), so no control
/// character reaches the terminal raw: each is written visibly (<see cref="Escape"/>), before any column is cut, so a cut
/// can never leave half an escape sequence that swallows the rest of the output. JSON output is escaped as JSON is.
/// <para>
/// <paramref name="fromDatabase"/>: the verb read the database, not a silo (<see cref="DatabaseTaskOperator"/>); <c>show</c>
/// then says what only a silo knows: whether an attempt is running, and the payload of a type this program lacks.
/// </para>
/// </remarks>
internal sealed class TaskOutput(TextWriter stdout, bool json, bool fromDatabase = false)
{
    /// <summary>The JSON settings of every document the verbs print; tests read the output back with them.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private const int ErrorColumnWidth = 60;

    public bool Json => json;

    /// <summary>
    /// <paramref name="text"/> on one line: newlines become spaces, so every message stays one stderr line, and any other
    /// control character is escaped (<see cref="Escape"/>).
    /// </summary>
    public static string OneLine(string text) => Escape(string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.', ' '));

    /// <summary>
    /// <paramref name="text"/> with every control character written visibly: <c>\r</c>, <c>\n</c>, <c>\t</c>, and
    /// <c>\xNN</c> for the rest of C0 (ESC is <c>\x1b</c>), DEL and C1 (U+0080 to U+009F). A terminal then shows the text
    /// instead of obeying it (clearing the screen, setting the window title, overwriting a line).
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Any(char.IsControl))
        {
            return text ?? "";
        }

        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            escaped.Append(Visible(c));
        }

        return escaped.ToString();
    }

    private static string Visible(char c) => c switch
    {
        '\r' => "\\r",
        '\n' => "\\n",
        '\t' => "\\t",
        _ when char.IsControl(c) => $"\\x{(int)c:x2}",
        _ => c.ToString(),
    };

    public void Write<T>(T document) => stdout.WriteLine(JsonSerializer.Serialize(document, JsonOptions));

    public void Line(string text) => stdout.WriteLine(Escape(text));

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
                    Escape(t.TaskId),
                    Escape(t.TaskType),
                    Name(t.Status),
                    $"{t.Attempts}/{t.MaxAttempts}",
                    Time(t.NextRunAt),
                    Escape(t.Owner ?? "-"),
                    t.LastErrorType is null ? "-" : Shorten($"{t.LastErrorType}: {t.LastErrorMessage}", ErrorColumnWidth),
                }));
        }

        if (page.NextPageToken is not null)
        {
            stdout.WriteLine($"more: --page-token {Escape(page.NextPageToken)}");
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
                Payload(details.PayloadJson), details.OrderingKey, info.Snoozes, info.Progress));
            return;
        }

        var rows = new List<(string, string)>
        {
            ("id", info.TaskId),
            ("type", info.TaskType),
            ("status", fromDatabase ? $"{Name(info.Status)} (as stored; only a silo knows whether an attempt is running now)" : Name(info.Status)),
            ("attempts", $"{info.Attempts} of {info.MaxAttempts}"),
            ("enqueued", Time(info.EnqueuedAt)),
            ("next run", info.NextRunAt is { } next ? Time(next) : "-"),
            ("owner", details.Owner ?? "- (released)"),
            ("running since", details.RunningSince is { } since ? Time(since) : "-"),
            ("interruptions", info.Interruptions.ToString(CultureInfo.InvariantCulture)),
            ("snoozes", info.Snoozes.ToString(CultureInfo.InvariantCulture)),
            ("progress", info.Progress is { } progress
                ? $"{progress.Fraction.ToString("P0", CultureInfo.InvariantCulture)}{(progress.Message is { } said ? " " + said : "")} (at {Time(progress.At)})"
                : "-"),
            ("ordering key", details.OrderingKey ?? "-"),
            ("payload type", details.PayloadType ?? (fromDatabase ? "- (not known here)" : "- (no handler on the silo)")),
            ("payload bytes", details.PayloadBytes.ToString(CultureInfo.InvariantCulture)),
        };
        if (info.LastError is { } error)
        {
            rows.Add(("last error", $"{error.Type}: {error.Message}"));
            rows.Add(("failed", $"attempt {error.Attempt} at {Time(error.At)}"));
        }

        var width = rows.Max(r => r.Item1.Length) + 1;
        foreach (var (label, value) in rows)
        {
            stdout.WriteLine($"{(label + ":").PadRight(width)} {Escape(value)}");
        }

        if (info.LastError?.StackTrace is { Length: > 0 } stack)
        {
            // The trace's own lines stay lines; anything else in them is escaped.
            stdout.WriteLine("stack trace:");
            foreach (var line in stack.Split('\n'))
            {
                stdout.WriteLine(Escape(line.TrimEnd('\r')));
            }
        }

        // The payload as JSON escapes control characters itself (\u001B); a payload that is not JSON is escaped here.
        stdout.WriteLine("payload:");
        stdout.WriteLine(Payload(details.PayloadJson)?.ToJsonString(JsonOptions) ?? Escape(details.PayloadJson ?? (fromDatabase
            ? $"- (Orleans-serialized; decoding it needs a silo with task type '{info.TaskType}': run show again when one is up)"
            : "- (not renderable)")));
    }

    /// <summary><c>schedules</c>: every schedule, paused ones marked.</summary>
    public void Schedules(IReadOnlyList<DeferredScheduleInfo> schedules)
    {
        if (json)
        {
            Write(schedules.Select(s => new ScheduleDocument(
                s.Name, s.TaskType, s.Spec, s.TimeZone, s.Missed, s.Paused, s.NextOccurrence, s.LastOccurrence, s.Source, s.MaxAttempts)).ToArray());
            return;
        }

        if (schedules.Count == 0)
        {
            stdout.WriteLine("no schedules");
            return;
        }

        Table(
            ["NAME", "TYPE", "SCHEDULE", "STATE", "NEXT", "LAST", "SOURCE"],
            schedules.Select(s => new[]
            {
                Escape(s.Name),
                Escape(s.TaskType),
                Escape(s.Spec + (s.TimeZone is "UTC" or "" ? "" : " " + s.TimeZone)),
                s.Paused ? "paused" : "active",
                s.Paused ? "-" : Time(s.NextOccurrence),
                s.LastOccurrence is { } last ? Time(last) : "-",
                s.Source.ToString().ToLowerInvariant(),
            }));
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

        Table(["STATUS", "TYPE", "COUNT"], ordered.Select(c => new[] { Name(c.Status), Escape(c.TaskType), c.Count.ToString(CultureInfo.InvariantCulture) }), rightAligned: 2);
        stdout.WriteLine($"total {total}: {string.Join(", ", byStatus.Select(s => $"{s.Key} {s.Value}"))}");
    }

    /// <summary>A status as the command line spells it (and <c>--status</c> takes it): pending, running, failed, dead.</summary>
    public static string Name(DeferredTaskStatus status) => JsonNamingPolicy.CamelCase.ConvertName(status.ToString());

    /// <summary>A time as the command line prints it: UTC, to the second.</summary>
    public static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// <paramref name="text"/> escaped, then cut to <paramref name="width"/> with "…": escaped first, so the cut counts
    /// what is shown and never splits a control sequence or one of its escapes (nor a surrogate pair).
    /// </summary>
    private static string Shorten(string text, int width)
    {
        var escaped = Escape(text);
        if (escaped.Length <= width)
        {
            return escaped;
        }

        var cut = new StringBuilder(width);
        for (var i = 0; i < text.Length; i++)
        {
            var piece = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                ? text.Substring(i++, 2)
                : Visible(text[i]);
            if (cut.Length + piece.Length > width - 1)
            {
                break;
            }

            cut.Append(piece);
        }

        return cut.Append('…').ToString();
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

    /// <summary><c>schedules --json</c>: one object per schedule.</summary>
    private sealed record ScheduleDocument(
        string Name,
        string TaskType,
        string Spec,
        string TimeZone,
        MissedOccurrences Missed,
        bool Paused,
        DateTimeOffset NextOccurrence,
        DateTimeOffset? LastOccurrence,
        DeferredScheduleSource Source,
        int MaxAttempts);

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
        string? OrderingKey,
        int Snoozes,
        DeferredTaskProgress? Progress);

    /// <summary><c>stats --json</c>.</summary>
    private sealed record CountsDocument(long Total, IReadOnlyDictionary<string, long> ByStatus, IReadOnlyList<DeferredTaskCount> Counts);
}
