using System.Collections.Concurrent;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>A task whose handler records the RequestContext it runs in.</summary>
[GenerateSerializer, Alias("deferred.tests.context")]
public sealed record ContextTask([property: Id(0)] string Name);

/// <summary>A serializable RequestContext value that is not a string.</summary>
[GenerateSerializer, Alias("deferred.tests.tenant")]
public sealed record TenantRef([property: Id(0)] string Name, [property: Id(1)] int Shard);

internal sealed class ContextHandler : IDeferredTaskHandler<ContextTask>
{
    public static readonly ConcurrentDictionary<string, (object? Tenant, object? Locale, object? Secret, object? FilterSaw)> Seen = new();

    public Task ExecuteAsync(ContextTask task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        Seen[task.Name] = (RequestContext.Get("tenant"), RequestContext.Get("locale"), RequestContext.Get("secret"), RequestContext.Get("filter-saw"));
        return Task.CompletedTask;
    }
}

internal sealed class ContextFilter : IDeferredTaskFilter
{
    public Task InvokeAsync(DeferredAttempt attempt, Func<Task> proceed)
    {
        // A filter sees the carried values too (it could open a tenant scope from them).
        RequestContext.Set("filter-saw", RequestContext.Get("tenant")?.ToString() ?? "nothing");
        return proceed();
    }
}

public sealed class RequestContextTestsOnPostgresStore : RequestContextTests
{
    protected override DeferredStore Store => DeferredStore.Postgres;

    [Fact]
    public async Task Carried_values_travel_with_a_batch_and_with_a_far_task()
    {
        await using var cluster = await StartWithKeysAsync();
        RequestContext.Set("tenant", "batch-tenant");
        try
        {
            await cluster.OnSilo(0).EnqueueManyAsync([new ContextTask(Name("b1")), new ContextTask(Name("b2"))]);
            var far = await cluster.OnSilo(0).EnqueueAsync(new ContextTask(Name("far")), new DeferredEnqueueOptions { Delay = TimeSpan.FromMinutes(5) });
            RequestContext.Clear();
            await cluster.Rows.MakeOverdueAsync(far);
            await cluster.Recovery().ScanAsync(CancellationToken.None);
            await cluster.Audit().AuditAsync(CancellationToken.None);
        }
        finally
        {
            RequestContext.Clear();
        }

        foreach (var name in new[] { "b1", "b2", "far" })
        {
            var seen = await Eventually.Until(() => Task.FromResult(ContextHandler.Seen.TryGetValue(Name(name), out var s) ? s : default), s => s.Tenant is not null, $"task {name} to run");
            Assert.Equal("batch-tenant", seen.Tenant);
        }
    }

    [Fact]
    public async Task A_transactional_enqueue_from_a_client_carries_the_configured_keys_and_no_others()
    {
        // Issue 23, item 6: the client had no carried-context service, so the handler saw no tenant.
        await using var cluster = await StartWithKeysAsync();
        var enqueuer = cluster.Cluster.Client.ServiceProvider.GetRequiredService<DeferredTransactionalEnqueuer>();
        RequestContext.Set("tenant", new TenantRef("client-tenant", 3));
        RequestContext.Set("secret", "not carried");
        try
        {
            await using var connection = new Npgsql.NpgsqlConnection(cluster.Database.ConnectionString);
            await connection.OpenAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await enqueuer.EnqueueAsync(transaction, new ContextTask(Name("tx")));
            await transaction.CommitAsync();
        }
        finally
        {
            RequestContext.Clear();
        }

        var seen = await Eventually.Until(() => Task.FromResult(ContextHandler.Seen.TryGetValue(Name("tx"), out var s) ? s : default), s => s.FilterSaw is not null, "the task to run");
        Assert.Equal(new TenantRef("client-tenant", 3), seen.Tenant);
        Assert.Null(seen.Secret);
    }
}

public sealed class RequestContextTestsOnStockAdoNet : RequestContextTests
{
    protected override DeferredStore Store => DeferredStore.OrleansAdoNet;
}

/// <summary>RequestContext entries named by CarriedRequestContextKeys travel with a task to every attempt.</summary>
public abstract class RequestContextTests : StoreConformance
{
    private readonly string _prefix = Guid.NewGuid().ToString("N")[..8];

    private protected string Name(string name) => _prefix + "-" + name;

    private protected Task<DeferredTestCluster> StartWithKeysAsync() =>
        StartAsync(
            o => o.CarriedRequestContextKeys = ["tenant", "locale"],
            configureSilo: silo => silo.Services
                .AddDeferredTaskHandler<ContextTask, ContextHandler>()
                .AddDeferredTaskFilter<ContextFilter>());

    [Fact]
    public async Task The_configured_keys_reach_filters_and_the_handler_and_other_keys_do_not()
    {
        await using var cluster = await StartWithKeysAsync();
        RequestContext.Set("tenant", new TenantRef("acme", 7));
        RequestContext.Set("locale", "fr-FR");
        RequestContext.Set("secret", "not carried");
        try
        {
            await cluster.Client.EnqueueAsync(new ContextTask(Name("one")));
        }
        finally
        {
            RequestContext.Clear();
        }

        var seen = await Eventually.Until(() => Task.FromResult(ContextHandler.Seen.TryGetValue(Name("one"), out var s) ? s : default), s => s.Tenant is not null, "the task to run");
        Assert.Equal(new TenantRef("acme", 7), seen.Tenant);
        Assert.Equal("fr-FR", seen.Locale);
        Assert.Null(seen.Secret);
        Assert.Equal(new TenantRef("acme", 7).ToString(), seen.FilterSaw);
    }

    [Fact]
    public async Task A_task_enqueued_without_the_keys_set_carries_nothing()
    {
        await using var cluster = await StartWithKeysAsync();
        RequestContext.Clear();
        await cluster.Client.EnqueueAsync(new ContextTask(Name("none")));

        var seen = await Eventually.Until(() => Task.FromResult(ContextHandler.Seen.TryGetValue(Name("none"), out var s) ? s : default), s => s.FilterSaw is not null, "the task to run");
        Assert.Null(seen.Tenant);
        Assert.Equal("nothing", seen.FilterSaw);
    }
}
