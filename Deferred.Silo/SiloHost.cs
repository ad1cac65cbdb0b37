using Deferred.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Deferred.Silo;

/// <summary>Builds the sample silo host from appsettings.json, environment variables and the command line.</summary>
internal static class SiloHost
{
    /// <summary>
    /// The connection string: DEFERRED_PG_CONNECTION when set (what scripts/postgres.sh uses), else
    /// Deferred:ConnectionString from configuration.
    /// </summary>
    public static string? ConnectionString(IConfiguration configuration) =>
        Environment.GetEnvironmentVariable("DEFERRED_PG_CONNECTION") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : configuration[$"{DeferredTasksOptions.SectionName}:{nameof(DeferredTasksOptions.ConnectionString)}"];

    public static HostApplicationBuilder CreateBuilder(string[] args, Action<ISiloBuilder>? configureSilo = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        var configuration = builder.Configuration;
        var orleans = configuration.GetSection("Orleans");
        builder.UseOrleans(silo =>
        {
            // Single-node localhost clustering; multi-silo clustering over ADO.NET is configured the same way
            // with UseAdoNetClustering.
            silo.UseLocalhostClustering(
                siloPort: orleans.GetValue("SiloPort", 11111),
                gatewayPort: orleans.GetValue("GatewayPort", 30000),
                serviceId: orleans["ServiceId"] ?? "deferred",
                clusterId: orleans["ClusterId"] ?? "deferred");
            silo.AddDeferredTasks(options =>
            {
                configuration.GetSection(DeferredTasksOptions.SectionName).Bind(options);
                options.ConnectionString = ConnectionString(configuration);
            });
            configureSilo?.Invoke(silo);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }
}
