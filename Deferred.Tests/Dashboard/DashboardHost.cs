using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Deferred.Tests.Dashboard;

/// <summary>
/// The dashboard hosted as an app would host it: a Kestrel <see cref="WebApplication"/> on 127.0.0.1 with a free port,
/// <c>AddDeferredDashboard</c> and <c>MapDeferredDashboard("/deferred")</c>, over the given operator.
/// </summary>
internal sealed class DashboardHost : IAsyncDisposable
{
    private DashboardHost(WebApplication app, Uri root)
    {
        App = app;
        Root = root;
        Client = new HttpClient { BaseAddress = root };
    }

    public WebApplication App { get; }

    /// <summary>The server's root, such as http://127.0.0.1:41234/.</summary>
    public Uri Root { get; }

    /// <summary>The dashboard page: Root + deferred/.</summary>
    public Uri Page => new(Root, "deferred/");

    /// <summary>A client on <see cref="Root"/>; requests come from 127.0.0.1.</summary>
    public HttpClient Client { get; }

    public static async Task<DashboardHost> StartAsync(
        IDeferredTaskOperator operations,
        Action<WebApplicationBuilder>? configureServices = null,
        Action<WebApplication>? configureBeforeDashboard = null,
        Action<RouteGroupBuilder>? configureDashboard = null,
        Action<WebApplication>? configureAfterDashboard = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton(operations);
        builder.Services.AddDeferredDashboard();
        configureServices?.Invoke(builder);

        var app = builder.Build();
        configureBeforeDashboard?.Invoke(app);
        var group = app.MapDeferredDashboard("/deferred");
        configureDashboard?.Invoke(group);
        configureAfterDashboard?.Invoke(app);
        await app.StartAsync();

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new DashboardHost(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
