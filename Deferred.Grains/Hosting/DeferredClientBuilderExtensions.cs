using Microsoft.Extensions.DependencyInjection;

namespace Orleans.Hosting;

/// <summary>Adds Deferred's <see cref="Deferred.IDeferredTasks"/> to an Orleans client.</summary>
public static class DeferredClientBuilderExtensions
{
    /// <summary>Registers <see cref="Deferred.IDeferredTasks"/> for this client.</summary>
    /// <param name="builder">The client builder.</param>
    /// <returns>The builder.</returns>
    public static IClientBuilder AddDeferredTasksClient(this IClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddDeferredTasksClient();
        return builder;
    }
}
