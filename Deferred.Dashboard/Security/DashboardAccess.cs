using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace Deferred.Dashboard.Security;

/// <summary>
/// Who may use the dashboard. With authorization added by the host (<c>.RequireAuthorization(...)</c> on the route
/// group: <see cref="IAuthorizeData"/> on the endpoint), the host's policy decides and this check lets every request
/// through. Without it, only requests from a loopback address are served, so a dashboard mapped with no further
/// thought is not open to the network; and only requests addressed to a loopback name (<c>localhost</c>, 127.0.0.0/8,
/// <c>[::1]</c>), so a web page that re-points its own name at 127.0.0.1 (DNS rebinding) cannot use an operator's browser
/// to read or act. Behind a reverse proxy on the same machine every request comes from loopback: configure forwarded
/// headers (<c>UseForwardedHeaders</c>) or add authorization.
/// </summary>
internal static class DashboardAccess
{
    /// <summary>Null when the request may proceed; otherwise why it may not.</summary>
    public static string? Refusal(HttpContext context)
    {
        if (HasHostAuthorization(context.GetEndpoint()))
        {
            return null;
        }

        var remote = context.Connection.RemoteIpAddress;
        if (remote is null || !IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
        {
            var from = remote is null ? "an unknown address" : $"{remote}";
            return $"The Deferred dashboard has no authorization configured, so it serves requests from loopback addresses only; this request came from {from}. " +
                   "To serve other clients, add authorization to the route group: app.MapDeferredDashboard(\"/deferred\").RequireAuthorization(\"YourPolicy\").";
        }

        // DNS rebinding: a page on attacker.example whose name now resolves to 127.0.0.1 reaches this loopback-only
        // dashboard from the operator's own browser, with its own name as Host and a matching Origin. A request
        // addressed to a loopback name cannot come from such a page.
        var host = context.Request.Host;
        if (!IsLoopbackName(host.Host))
        {
            var shown = host.HasValue ? $"'{Shorten(host.Value)}'" : "no host name (no Host header)";
            return $"The Deferred dashboard has no authorization configured, so it serves requests addressed to a loopback name only (localhost, 127.0.0.1, [::1]); " +
                   $"this request was addressed to {shown}, as a page on another site that re-pointed its name at this machine (DNS rebinding) would send. " +
                   "Open the dashboard at http://localhost:<port>/…, or add authorization to the route group to serve it under other names: " +
                   "app.MapDeferredDashboard(\"/deferred\").RequireAuthorization(\"YourPolicy\").";
        }

        return null;
    }

    /// <summary>
    /// Whether <paramref name="host"/> (the Host header without its port) names this machine's loopback interface:
    /// <c>localhost</c>, an address in 127.0.0.0/8, or <c>[::1]</c>. Other names, <c>*.localhost</c> included, may be
    /// resolved through DNS by some clients, and so may be re-pointed by whoever controls that DNS.
    /// </summary>
    internal static bool IsLoopbackName(string? host)
    {
        if (string.IsNullOrEmpty(host))
        {
            return false;
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return (literal.Contains(':', StringComparison.Ordinal) || IsDottedQuad(literal))
               && IPAddress.TryParse(literal, out var address)
               && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    // IPAddress.TryParse also reads "127.1" or "2130706433"; a browser reads those the same way, but a Host header
    // spelled so comes from no ordinary link: only the four-part form counts.
    private static bool IsDottedQuad(string text) =>
        text.Split('.') is { Length: 4 } parts && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));

    private static string Shorten(string value) => value.Length <= 100 ? value : $"{value[..100]}… ({value.Length} characters)";

    /// <summary>
    /// Whether the host put authorization on the endpoint. An endpoint that also allows anonymous access is treated as
    /// having none: the authorization middleware would let anyone in.
    /// </summary>
    public static bool HasHostAuthorization(Endpoint? endpoint) =>
        endpoint?.Metadata.GetMetadata<IAuthorizeData>() is not null &&
        endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null;
}
