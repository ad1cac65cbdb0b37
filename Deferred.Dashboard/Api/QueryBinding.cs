using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Deferred.Dashboard.Api;

/// <summary>
/// Reads filters, page sizes and dates from query strings. Strict on purpose: an unknown parameter or a value that
/// does not parse is refused with a message naming it, rather than ignored, because an ignored filter on a bulk
/// action would widen it to every dead task.
/// </summary>
internal static partial class QueryBinding
{
    public const string Status = "status";
    public const string Type = "type";
    public const string DueFrom = "dueFrom";
    public const string DueBefore = "dueBefore";
    public const string Error = "error";
    public const string PageSize = "pageSize";
    public const string PageToken = "pageToken";
    public const string OlderThan = "olderThan";

    private static readonly string[] FilterParameters = [Status, Type, DueFrom, DueBefore, Error];

    /// <summary>A list request from <c>status, type, dueFrom, dueBefore, error, pageSize, pageToken</c>.</summary>
    public static Bound<DeferredTaskQuery> ListQuery(IQueryCollection query)
    {
        if (Unknown(query, [.. FilterParameters, PageSize, PageToken]) is { } unknown)
        {
            return unknown;
        }

        var filter = Filter(query);
        if (filter.Problem is not null)
        {
            return filter.Problem;
        }

        var size = 50;
        if (Value(query, PageSize) is { } sizeText)
        {
            if (!int.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1 || size > DeferredTaskQuery.MaxPageSize)
            {
                return Bound<DeferredTaskQuery>.Refused($"pageSize '{sizeText}' is not a whole number from 1 to {DeferredTaskQuery.MaxPageSize}.");
            }
        }

        return Bound<DeferredTaskQuery>.Of(new DeferredTaskQuery { Filter = filter.Value!, PageSize = size, PageToken = Value(query, PageToken) });
    }

    /// <summary>The filter of a bulk retry: the list filter without paging; the status, if given, must be Dead.</summary>
    public static Bound<DeferredTaskFilter> DeadFilter(IQueryCollection query)
    {
        if (Unknown(query, FilterParameters) is { } unknown)
        {
            return unknown;
        }

        var filter = Filter(query);
        if (filter.Problem is not null)
        {
            return filter;
        }

        if (filter.Value!.Status is { } status && status != DeferredTaskStatus.Dead)
        {
            return $"status '{Value(query, Status)}' cannot be retried in bulk: only dead tasks are retried. Leave status out or set it to Dead.";
        }

        return Bound<DeferredTaskFilter>.Of(filter.Value with { Status = DeferredTaskStatus.Dead });
    }

    /// <summary>The required <c>olderThan</c> date of a purge.</summary>
    public static Bound<DateTimeOffset> PurgeDate(IQueryCollection query)
    {
        if (Unknown(query, [OlderThan]) is { } unknown)
        {
            return unknown;
        }

        if (Value(query, OlderThan) is not { } text)
        {
            return $"olderThan is missing; say which dead tasks to purge with a date such as ?olderThan={DateTimeOffset.UtcNow.AddDays(-7):yyyy-MM-ddTHH:mm:ssZ}.";
        }

        return Date(OlderThan, text);
    }

    private static Bound<DeferredTaskFilter> Filter(IQueryCollection query)
    {
        DeferredTaskStatus? status = null;
        if (Value(query, Status) is { } statusText)
        {
            if (statusText.Equals(nameof(DeferredTaskStatus.Running), StringComparison.OrdinalIgnoreCase))
            {
                return $"status '{statusText}' is not a filter: Running is never stored (a running task keeps its stored status). Use Pending, Failed or Dead.";
            }

            if (!Enum.TryParse<DeferredTaskStatus>(statusText, ignoreCase: true, out var parsed) || !char.IsAsciiLetter(statusText[0]))
            {
                return $"status '{statusText}' is not one of Pending, Failed, Dead.";
            }

            status = parsed;
        }

        DateTimeOffset? from = null, before = null;
        if (Value(query, DueFrom) is { } fromText)
        {
            var parsed = Date(DueFrom, fromText);
            if (parsed.Problem is not null)
            {
                return parsed.Problem;
            }

            from = parsed.Value;
        }

        if (Value(query, DueBefore) is { } beforeText)
        {
            var parsed = Date(DueBefore, beforeText);
            if (parsed.Problem is not null)
            {
                return parsed.Problem;
            }

            before = parsed.Value;
        }

        if (from is not null && before is not null && from >= before)
        {
            return $"dueFrom '{Value(query, DueFrom)}' is not before dueBefore '{Value(query, DueBefore)}', so no task can match.";
        }

        return Bound<DeferredTaskFilter>.Of(new DeferredTaskFilter
        {
            Status = status,
            TaskType = Value(query, Type),
            DueFrom = from,
            DueBefore = before,
            ErrorContains = Value(query, Error),
        });
    }

    /// <summary>An ISO 8601 date and time with an explicit offset: a date without one would mean a different instant on every server.</summary>
    private static Bound<DateTimeOffset> Date(string name, string text)
    {
        if (!IsoWithOffset().IsMatch(text) ||
            !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var value))
        {
            return $"{name} '{text}' is not a date and time with a time zone; use ISO 8601 such as 2026-01-31T12:00:00Z or 2026-01-31T12:00:00+02:00.";
        }

        return Bound<DateTimeOffset>.Of(value);
    }

    private static string? Value(IQueryCollection query, string name) =>
        query.TryGetValue(name, out var values) && values.ToString().Trim() is { Length: > 0 } text ? text : null;

    private static string? Unknown(IQueryCollection query, string[] known)
    {
        foreach (var (key, values) in query)
        {
            if (!known.Contains(key, StringComparer.Ordinal))
            {
                return $"query parameter '{key}' is not known here; use {string.Join(", ", known)}.";
            }

            if (values.Count > 1)
            {
                return $"query parameter '{key}' is given {values.Count} times; give it once.";
            }
        }

        return null;
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoWithOffset();
}

/// <summary>A value read from a request, or why it could not be.</summary>
internal readonly record struct Bound<T>(T? Value, string? Problem)
{
    public static Bound<T> Of(T value) => new(value, null);

    public static Bound<T> Refused(string problem) => new(default, problem);

    public static implicit operator Bound<T>(string problem) => Refused(problem);
}
