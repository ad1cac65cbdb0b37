using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Metadata;
using Orleans.Runtime;
using Orleans.Runtime.GrainDirectory;

namespace Deferred.TaskGrain;

/// <summary>
/// The silo's grain directory cache, without task grains. Orleans caches the address of every activation it registers,
/// and a batched deactivation does not remove the entry, so each completed task left one behind (about 340 bytes, up to
/// <see cref="GrainDirectoryOptions.CacheSize"/>, a million by default: hundreds of MB on a busy silo). A task grain is
/// never called again once its row is gone, so its entry is dead weight; every other grain type is cached as before,
/// in Orleans' own LRU cache with the configured size and time to live.
/// </summary>
/// <remarks>
/// Installed through Orleans' extension point (<see cref="GrainDirectoryOptions.CachingStrategyType.Custom"/>) only when
/// the application left the strategy at its default (LRU) and registered no cache of its own; turned off with
/// <see cref="DeferredOptions.SkipDirectoryCacheForTasks"/>. A call to a task living on another silo then
/// asks the directory (one hop) instead of the cache: operator calls only, never the run path.
/// </remarks>
internal sealed class TaskDirectoryCache : IGrainDirectoryCache, IAsyncDisposable
{
    private readonly IGrainDirectoryCache _inner;
    private readonly Lazy<GrainType> _taskType;

    public TaskDirectoryCache(IServiceProvider services, IOptions<GrainDirectoryOptions> options)
    {
        var lru = new GrainDirectoryOptions
        {
            CachingStrategy = GrainDirectoryOptions.CachingStrategyType.LRU,
            CacheSize = options.Value.CacheSize,
            MaximumCacheTTL = options.Value.MaximumCacheTTL,
        };
        _inner = GrainDirectoryCacheFactory.CreateGrainDirectoryCache(services, lru);

        // Resolved at first use: the directory builds its cache while the silo's services are still being created.
        _taskType = new(() => services.GetRequiredService<GrainTypeResolver>().GetGrainType(typeof(DeferredTaskGrain)));
    }

    public void AddOrUpdate(GrainAddress value, int version)
    {
        if (value.GrainId.Type != _taskType.Value)
        {
            _inner.AddOrUpdate(value, version);
        }
    }

    public bool Remove(GrainId key) => _inner.Remove(key);

    public bool Remove(GrainAddress key) => _inner.Remove(key);

    public void Clear() => _inner.Clear();

    public bool LookUp(GrainId key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GrainAddress? result, out int version) => _inner.LookUp(key, out result, out version);

    public IEnumerable<(GrainAddress ActivationAddress, int Version)> KeyValues => _inner.KeyValues;

    public ValueTask DisposeAsync() => _inner switch
    {
        IAsyncDisposable a => a.DisposeAsync(),
        IDisposable d => Dispose(d),
        _ => default,
    };

    private static ValueTask Dispose(IDisposable d)
    {
        d.Dispose();
        return default;
    }

    private static readonly Func<IServiceProvider, object> Factory = sp => sp.GetRequiredService<TaskDirectoryCache>();

    /// <summary>Installs the cache on a silo unless the application chose a directory cache of its own.</summary>
    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<TaskDirectoryCache>();
        services.TryAdd(ServiceDescriptor.Singleton(typeof(IGrainDirectoryCache), Factory));
        services.AddOptions<GrainDirectoryOptions>().PostConfigure<IOptions<DeferredOptions>>((directory, deferred) =>
        {
            // Checked at build time, when every registration is in: ours must be the cache the container hands out.
            var ours = services.LastOrDefault(d => d.ServiceType == typeof(IGrainDirectoryCache))?.ImplementationFactory == Factory;
#pragma warning disable CS0618 // Adaptive is Orleans' obsolete alias of LRU.
            var lru = directory.CachingStrategy is GrainDirectoryOptions.CachingStrategyType.LRU or GrainDirectoryOptions.CachingStrategyType.Adaptive;
#pragma warning restore CS0618
            if (deferred.Value.SkipDirectoryCacheForTasks && ours && lru && directory.CacheSize > 0)
            {
                directory.CachingStrategy = GrainDirectoryOptions.CachingStrategyType.Custom;
            }
        });
    }
}
