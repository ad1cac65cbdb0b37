using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Deferred.Dashboard.Hosting;

/// <summary>
/// The page, its script and its style sheet, embedded in this assembly and read once. Served with an ETag and
/// <c>no-cache</c> (revalidated on every load, so an upgraded host never serves a stale script) and a strict content
/// security policy: only this origin's script, style and connections, no inline script, no framing.
/// </summary>
internal sealed class DashboardAssets
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private readonly Dictionary<string, Asset> _assets = new(StringComparer.Ordinal);

    public DashboardAssets()
    {
        Add("index.html", "text/html; charset=utf-8");
        Add("app.js", "text/javascript; charset=utf-8");
        Add("app.css", "text/css; charset=utf-8");
    }

    public IResult Serve(HttpContext http, string name)
    {
        if (!_assets.TryGetValue(name, out var asset))
        {
            return Api.ApiResults.Error(StatusCodes.Status404NotFound, $"The dashboard has no asset '{name}'.");
        }

        var headers = http.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers["Referrer-Policy"] = "no-referrer";
        if (http.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private void Add(string name, string contentType)
    {
        var resource = $"Deferred.Dashboard.Assets.{name}";
        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The dashboard asset '{resource}' is missing from {typeof(DashboardAssets).Assembly.GetName().Name}; the assembly was built without its Assets folder.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var content = copy.ToArray();
        var etag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"").ToString();
        _assets[name] = new Asset(content, contentType, etag);
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
