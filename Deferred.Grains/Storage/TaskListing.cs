using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Deferred.Storage;

// The exceptions name the request field (e.g. "PageToken", "Filter.Status"), which tells the caller more than
// "query" or "token" would; as DeferredEnqueueOptionsValidation does for options.
#pragma warning disable CA2208

/// <summary>
/// The operator listing's request rules and page tokens. A page token is opaque to callers: base64url of a format
/// version, a fingerprint of the filter it was issued for, and the keyset (<see cref="TaskListKey"/>) of the page's
/// last task. The fingerprint catches a token passed with another filter; it is not a signature (a token only moves
/// a cursor through what the filter may list anyway).
/// </summary>
internal static class TaskListing
{
    /// <summary>The longest <see cref="DeferredTaskFilter.TaskType"/> or <see cref="DeferredTaskFilter.ErrorContains"/>.</summary>
    public const int MaxFilterTextLength = 200;

    private const byte TokenVersion = 1;
    private const int FingerprintLength = 8;
    private const int HeaderLength = 1 + FingerprintLength + sizeof(long);

    // A task id is at most DeferredTaskId.MaxLength (100) characters of ASCII; generous headroom for hand-made rows.
    private const int MaxTokenLength = 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The token for the page after <paramref name="key"/> of the listing of <paramref name="filter"/>.</summary>
    public static string Encode(DeferredTaskFilter filter, TaskListKey key)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentException.ThrowIfNullOrEmpty(key.TaskId, nameof(key));
        var id = StrictUtf8.GetBytes(key.TaskId);
        var token = new byte[HeaderLength + id.Length];
        token[0] = TokenVersion;
        Fingerprint(filter, token.AsSpan(1, FingerprintLength));
        BinaryPrimitives.WriteInt64BigEndian(token.AsSpan(1 + FingerprintLength), key.NextRunAt.UtcTicks);
        id.CopyTo(token.AsSpan(HeaderLength));
        return Base64Url.EncodeToString(token);
    }

    /// <summary>
    /// The key a page token carries; null for no token (null or empty: the first page).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The token is malformed, or was issued for another filter (<see cref="ArgumentException.ParamName"/> is "PageToken").
    /// </exception>
    public static TaskListKey? Decode(DeferredTaskFilter filter, string? token)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        if (token.Length > MaxTokenLength)
        {
            throw Malformed(token);
        }

        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(token);
        }
        catch (FormatException)
        {
            throw Malformed(token);
        }

        if (bytes.Length <= HeaderLength || bytes[0] != TokenVersion)
        {
            throw Malformed(token);
        }

        Span<byte> expected = stackalloc byte[FingerprintLength];
        Fingerprint(filter, expected);
        if (!expected.SequenceEqual(bytes.AsSpan(1, FingerprintLength)))
        {
            throw new ArgumentException(
                $"PageToken '{Shown(token)}' belongs to another query: it was returned for a different filter. Pass a token only with the filter of the query that returned it, or no token to start from the first page.",
                "PageToken");
        }

        var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(1 + FingerprintLength));
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            throw Malformed(token);
        }

        string taskId;
        try
        {
            taskId = StrictUtf8.GetString(bytes.AsSpan(HeaderLength));
        }
        catch (DecoderFallbackException)
        {
            throw Malformed(token);
        }

        if (IndexOfControl(taskId) >= 0)
        {
            // Task ids are never stored with control characters; one here was made by hand (and a NUL would fail in SQL).
            throw Malformed(token);
        }

        return new TaskListKey(new DateTimeOffset(ticks, TimeSpan.Zero), taskId);
    }

    /// <summary>
    /// One page of the operator listing: the query checked (<see cref="Validate(DeferredTaskQuery)"/>,
    /// <see cref="Decode"/>), the page read, and the token of the next page when the page is full. What the operator
    /// grain answers on a silo and what the command line reads from the database when no silo answers.
    /// </summary>
    /// <param name="query">The request.</param>
    /// <param name="list">Reads a page: <see cref="IDeferredTaskCatalog.ListAsync"/>'s filter, keyset and limit.</param>
    /// <exception cref="ArgumentException">The query is malformed (see <see cref="Validate(DeferredTaskQuery)"/> and <see cref="Decode"/>).</exception>
    public static async Task<DeferredTaskPage> PageAsync(DeferredTaskQuery query, Func<DeferredTaskFilter, TaskListKey?, int, Task<IReadOnlyList<DeferredTaskSummary>>> list)
    {
        ArgumentNullException.ThrowIfNull(query);
        Validate(query);
        var after = Decode(query.Filter, query.PageToken);
        var rows = await list(query.Filter, after, query.PageSize);
        var next = rows.Count == query.PageSize ? Encode(query.Filter, new TaskListKey(rows[^1].NextRunAt, rows[^1].TaskId)) : null;
        return new DeferredTaskPage(rows, next);
    }

    /// <summary>
    /// Checks a list request: page size 1 to <see cref="DeferredTaskQuery.MaxPageSize"/>, and the filter (see
    /// <see cref="Validate(DeferredTaskFilter)"/>). The page token is checked by <see cref="Decode"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The page size is out of range (ParamName "PageSize").</exception>
    /// <exception cref="ArgumentException">A filter field is malformed (ParamName names it, e.g. "Filter.Status").</exception>
    public static void Validate(DeferredTaskQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > DeferredTaskQuery.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(
                "PageSize", query.PageSize, $"PageSize is {query.PageSize}; it must be 1 to {DeferredTaskQuery.MaxPageSize}.");
        }

        if (query.Filter is null)
        {
            throw new ArgumentException("Filter is null; pass an empty filter (new DeferredTaskFilter()) to list every task.", "Filter");
        }

        Validate(query.Filter);
    }

    /// <summary>
    /// Checks a filter: Status, when set, is Pending, Failed or Dead (Running is never stored); DueFrom is before
    /// DueBefore when both are set; TaskType and ErrorContains, when set, are not blank and at most
    /// <see cref="MaxFilterTextLength"/> characters.
    /// </summary>
    /// <exception cref="ArgumentException">A field is malformed; ParamName names it ("Filter.Status", "Filter.DueFrom", …).</exception>
    public static void Validate(DeferredTaskFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Status is { } status && !Enum.IsDefined(status))
        {
            throw new ArgumentOutOfRangeException("Filter.Status", status, $"Filter.Status is {(int)status}, which is not a task status; use Pending, Failed or Dead, or leave it null.");
        }

        if (filter.Status == DeferredTaskStatus.Running)
        {
            throw new ArgumentException(
                "Filter.Status is Running, which is never stored (a running task keeps its stored status); filter by Pending, Failed or Dead, or leave it null.",
                "Filter.Status");
        }

        if (filter.DueFrom is { } from && filter.DueBefore is { } before && from >= before)
        {
            throw new ArgumentException(
                $"Filter.DueFrom ({from:O}) is not before Filter.DueBefore ({before:O}), so no task could match; DueFrom is inclusive and DueBefore exclusive.",
                "Filter.DueFrom");
        }

        CheckText(filter.TaskType, "Filter.TaskType");
        CheckText(filter.ErrorContains, "Filter.ErrorContains");
    }

    private static void CheckText(string? value, string field)
    {
        if (value is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"{field} is blank; leave it null to leave it out of the filter.", field);
        }

        if (value.Length > MaxFilterTextLength)
        {
            throw new ArgumentException($"{field} is {value.Length} characters long; the limit is {MaxFilterTextLength}.", field);
        }

        if (IndexOfControl(value) is var at and >= 0)
        {
            throw new ArgumentException(
                $"{field} holds a control character (U+{(int)value[at]:X4} at position {at}); task types and error texts are matched as plain text without control characters.",
                field);
        }
    }

    /// <summary>
    /// Where <paramref name="value"/> holds a control character (C0, DEL, C1) or half of a surrogate pair, or -1. PostgreSQL
    /// refuses a NUL in text, and such characters have no place in a filter that is matched as plain text.
    /// </summary>
    public static int IndexOfControl(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c))
            {
                return i;
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The first bytes of SHA-256 over the filter's fields, each written with a presence flag and strings with their
    /// length, so no two filters share an encoding. Times are compared as instants (UTC ticks). Stable across
    /// processes and builds: a token issued by one silo is accepted by every other.
    /// </summary>
    private static void Fingerprint(DeferredTaskFilter filter, Span<byte> destination)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(TokenVersion);
            Write(writer, filter.Status is { } status ? (long)status : null);
            Write(writer, filter.TaskType);
            Write(writer, filter.DueFrom?.UtcTicks);
            Write(writer, filter.DueBefore?.UtcTicks);
            Write(writer, filter.ErrorContains);
        }

        SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length))[..FingerprintLength].CopyTo(destination);
    }

    private static void Write(BinaryWriter writer, long? value)
    {
        writer.Write(value.HasValue);
        if (value is { } v)
        {
            writer.Write(v);
        }
    }

    private static void Write(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    private static ArgumentException Malformed(string token) => new(
        $"PageToken '{Shown(token)}' is malformed: it is not a page token of this listing. Pass the NextPageToken of the previous page unchanged, or no token to start from the first page.",
        "PageToken");

    /// <summary>The token as an error message shows it: whole when short, else its start.</summary>
    private static string Shown(string token) => token.Length <= 64 ? token : string.Concat(token.AsSpan(0, 64), "…");
}
