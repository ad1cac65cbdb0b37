using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;

namespace Deferred.Tests.Infrastructure;

/// <summary>An <see cref="ISiloBuilder"/> over a bare service collection, for tests of what Deferred's extensions register.</summary>
internal sealed class TestSiloBuilder(IServiceCollection services, IConfiguration? configuration = null) : ISiloBuilder
{
    public IServiceCollection Services => services;

    public IConfiguration Configuration { get; } = configuration ?? new ConfigurationBuilder().Build();
}
