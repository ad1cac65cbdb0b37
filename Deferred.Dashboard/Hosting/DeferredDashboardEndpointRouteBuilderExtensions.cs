using Deferred;
using Deferred.Dashboard.Api;
using Deferred.Dashboard.Hosting;
using Deferred.Dashboard.Metrics;
using Deferred.Dashboard.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Mounts the Deferred dashboard in an ASP.NET Core host.</summary>
public static class DeferredDashboardEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the dashboard page and its JSON API under <paramref name="prefix"/>. Returns the route group so the host can
    /// secure it: <c>app.MapDeferredDashboard().RequireAuthorization("Ops")</c>. Without authorization on the group, the
    /// dashboard serves requests from loopback addresses only (403 for any other). Actions are POSTs that must carry the
    /// header <c>X-Deferred-Action</c> and come from the dashboard's own origin. Needs
    /// <see cref="DeferredDashboardServiceCollectionExtensions.AddDeferredDashboard"/> and an
    /// <see cref="IDeferredTaskOperator"/> (registered by <c>AddDeferredTasks</c> on a silo or <c>AddDeferredTasksClient</c>
    /// on an Orleans client).
    /// </summary>
    /// <param name="endpoints">The host's endpoint route builder (a <c>WebApplication</c>).</param>
    /// <param name="prefix">The path the dashboard lives under, such as <c>/deferred</c>; starts with '/'.</param>
    /// <returns>The dashboard's route group.</returns>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> does not start with '/'.</exception>
    /// <exception cref="InvalidOperationException">A service the dashboard needs is not registered.</exception>
    public static RouteGroupBuilder MapDeferredDashboard(this IEndpointRouteBuilder endpoints, string prefix = "/deferred")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        if (!prefix.StartsWith('/'))
        {
            throw new ArgumentException($"The dashboard prefix '{prefix}' must start with '/', such as \"/deferred\".", nameof(prefix));
        }

        RequireServices(endpoints.ServiceProvider);
        var group = endpoints.MapGroup(prefix.TrimEnd('/'));
        group.ExcludeFromDescription();
        group.AddEndpointFilter(static async (context, next) =>
            DashboardAccess.Refusal(context.HttpContext) is { } refusal
                ? ApiResults.Error(StatusCodes.Status403Forbidden, refusal)
                : await next(context).ConfigureAwait(false));

        // One endpoint for "<prefix>" and "<prefix>/" (routing matches both); the page uses relative URLs, so it is
        // served from "<prefix>/" only.
        group.MapGet("/", static (HttpContext http, DashboardAssets assets) =>
            http.Request.Path.Value?.EndsWith('/') == true
                ? assets.Serve(http, "index.html")
                : Results.Redirect($"{http.Request.PathBase}{http.Request.Path}/{http.Request.QueryString}"));
        group.MapGet("/assets/{name}", static (HttpContext http, DashboardAssets assets, string name) => assets.Serve(http, name));

        var api = group.MapGroup("/api");
        api.AddEndpointFilter(static async (context, next) =>
        {
            context.HttpContext.Response.Headers.CacheControl = "no-store";
            return await next(context).ConfigureAwait(false);
        });
        api.MapGet("/overview", (Delegate)DashboardApi.OverviewAsync);
        api.MapGet("/tasks", (Delegate)DashboardApi.ListAsync);
        api.MapGet("/tasks/{id}", DashboardApi.ShowAsync);
        Action(api.MapPost("/tasks/{id}/retry", DashboardApi.RetryAsync));
        Action(api.MapPost("/tasks/{id}/run-now", DashboardApi.RunNowAsync));
        Action(api.MapPost("/tasks/{id}/cancel", DashboardApi.CancelAsync));
        Action(api.MapPost("/tasks/{id}/delete", DashboardApi.DeleteAsync));
        Action(api.MapPost("/dead/retry", (Delegate)DashboardApi.RetryDeadAsync));
        Action(api.MapPost("/dead/purge", (Delegate)DashboardApi.PurgeDeadAsync));
        api.MapGet("/bulk/{id}", DashboardApi.ShowBulkAsync);
        Action(api.MapPost("/bulk/{id}/start", DashboardApi.StartBulkAsync));
        Action(api.MapPost("/bulk/{id}/cancel", DashboardApi.CancelBulkAsync));
        api.MapGet("/schedules", (Delegate)DashboardApi.SchedulesAsync);
        Action(api.MapPost("/schedules/{name}/pause", DashboardApi.PauseScheduleAsync));
        Action(api.MapPost("/schedules/{name}/resume", DashboardApi.ResumeScheduleAsync));

        // Start listening to the meter now, not at the first page load, so the page has figures when it opens.
        _ = endpoints.ServiceProvider.GetRequiredService<LocalMetrics>();
        return group;
    }

    private static void Action(RouteHandlerBuilder action) =>
        action.AddEndpointFilter(static async (context, next) =>
            CrossSiteGuard.Refusal(context.HttpContext.Request) is { } refusal
                ? ApiResults.Error(StatusCodes.Status403Forbidden, refusal)
                : await next(context).ConfigureAwait(false));

    private static void RequireServices(IServiceProvider services)
    {
        var registered = services.GetService<IServiceProviderIsService>();
        if (services.GetService<DashboardAssets>() is null)
        {
            throw new InvalidOperationException("The Deferred dashboard's services are not registered. Call builder.Services.AddDeferredDashboard() before building the app.");
        }

        if (registered is not null && !registered.IsService(typeof(IDeferredTaskOperator)))
        {
            throw new InvalidOperationException(
                "The Deferred dashboard needs IDeferredTaskOperator, which is not registered. Host the dashboard on a silo (siloBuilder.AddDeferredTasks(...)) " +
                "or on an Orleans client (clientBuilder.AddDeferredTasksClient()).");
        }
    }
}
