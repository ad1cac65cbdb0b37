using Microsoft.AspNetCore.Http;

namespace Deferred.Dashboard.Security;

/// <summary>
/// Keeps other sites from making a signed-in operator's browser perform actions. Every action is a POST that must
/// carry <see cref="HeaderName"/>: a page on another origin cannot add a custom header without a CORS preflight, which
/// the dashboard never answers. On top of that, a request is refused when the browser says it is not same-origin
/// (<c>Sec-Fetch-Site</c>) or when its <c>Origin</c> is not this host. Cookies alone therefore never authorize an action.
/// </summary>
internal static class CrossSiteGuard
{
    public const string HeaderName = "X-Deferred-Action";

    /// <summary>Null when the action may proceed; otherwise why it may not.</summary>
    public static string? Refusal(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(HeaderName, out var marker) || string.IsNullOrWhiteSpace(marker))
        {
            return $"Dashboard actions must send the header '{HeaderName}: 1' (the dashboard page does); this request has none, so it may come from another site. Nothing was changed.";
        }

        var fetchSite = request.Headers["Sec-Fetch-Site"].ToString();
        if (fetchSite.Length > 0 && !string.Equals(fetchSite, "same-origin", StringComparison.OrdinalIgnoreCase))
        {
            return $"The browser marked this request Sec-Fetch-Site '{fetchSite}'; dashboard actions are accepted from the dashboard's own origin only. Nothing was changed.";
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0)
        {
            var expected = $"{request.Scheme}://{request.Host}";
            if (!string.Equals(origin, expected, StringComparison.OrdinalIgnoreCase))
            {
                return $"The request's Origin '{origin}' is not this dashboard's origin '{expected}'; dashboard actions are accepted from the dashboard's own origin only. Nothing was changed.";
            }
        }

        return null;
    }
}
