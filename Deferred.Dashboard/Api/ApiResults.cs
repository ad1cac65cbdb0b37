using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Deferred.Dashboard.Api;

/// <summary>The dashboard's JSON: its own serializer settings (camelCase, enums by name), whatever the host configured.</summary>
internal static class ApiResults
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static IResult Ok<T>(T value, int status = StatusCodes.Status200OK) => Results.Json(value, Json, statusCode: status);

    /// <summary>A refusal: the status code and one message that names the value and says why. Nothing was changed.</summary>
    public static IResult Error(int status, string message) =>
        Results.Json(new ApiError(status, ErrorCode(status), message), Json, statusCode: status);

    private static string ErrorCode(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "bad_request",
        StatusCodes.Status403Forbidden => "forbidden",
        StatusCodes.Status404NotFound => "not_found",
        StatusCodes.Status409Conflict => "conflict",
        StatusCodes.Status503ServiceUnavailable => "unavailable",
        StatusCodes.Status504GatewayTimeout => "timeout",
        _ => "error",
    };
}

/// <summary>The body of every refused request.</summary>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Error">A stable code: bad_request, forbidden, not_found, conflict, unavailable, timeout.</param>
/// <param name="Message">What was refused, naming the value, and why.</param>
internal sealed record ApiError(int Status, string Error, string Message);

/// <summary>The body of an action that was carried out.</summary>
/// <param name="Action">retry, cancel, delete, retry-dead, purge-dead.</param>
/// <param name="Result">What happened: retried, cancelled, signalled, deleted, or a count for bulk actions.</param>
/// <param name="Message">The same in a sentence.</param>
/// <param name="TaskId">The task, for single-task actions.</param>
/// <param name="Count">How many tasks, for bulk actions.</param>
internal sealed record ActionResult(string Action, string Result, string Message, string? TaskId = null, int? Count = null);
