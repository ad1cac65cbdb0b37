using System.Net;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace Deferred.Dashboard.Security;

/// <summary>
/// Who may use the dashboard. With authorization added by the host (<c>.RequireAuthorization(...)</c> on the route
/// group: <see cref="IAuthorizeData"/> on the endpoint), the host's policy decides and this check lets every request
/// through. Without it, only requests from a loopback address are served, so a dashboard mapped with no further
/// thought is not open to the network. Behind a reverse proxy on the same machine every request comes from loopback:
/// configure forwarded headers (<c>UseForwardedHeaders</c>) or add authorization.
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
        if (remote is not null && IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote))
        {
            return null;
        }

        var from = remote is null ? "an unknown address" : $"{remote}";
        return $"The Deferred dashboard has no authorization configured, so it serves requests from loopback addresses only; this request came from {from}. " +
               "To serve other clients, add authorization to the route group: app.MapDeferredDashboard(\"/deferred\").RequireAuthorization(\"YourPolicy\").";
    }

    /// <summary>
    /// Whether the host put authorization on the endpoint. An endpoint that also allows anonymous access is treated as
    /// having none: the authorization middleware would let anyone in.
    /// </summary>
    public static bool HasHostAuthorization(Endpoint? endpoint) =>
        endpoint?.Metadata.GetMetadata<IAuthorizeData>() is not null &&
        endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null;
}
