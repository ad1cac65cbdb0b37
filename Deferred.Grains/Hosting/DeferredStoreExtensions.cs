using Deferred;
using Deferred.Storage;
using Deferred.Storage.OrleansAdoNet;
using Deferred.Storage.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Orleans.Hosting;

/// <summary>Chooses the store Deferred keeps task rows in; call after <c>AddDeferredTasks</c>.</summary>
public static class DeferredStoreExtensions
{
    /// <summary>
    /// Keeps task rows in Deferred's own table <c>deferred_tasks</c> (the default): group commit, far tasks woken by a
    /// due-time poller without reminders, far tasks with generated ids inserted without an activation. Same as
    /// <c>Deferred:Store = Postgres</c>; this call wins over configuration.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <returns>The builder.</returns>
    public static ISiloBuilder UseDeferredPostgresStore(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddDeferredPostgresStoreServices();
        builder.Services.PostConfigure<DeferredOptions>(o => o.Store = DeferredStore.Postgres);
        return builder;
    }

    /// <summary>
    /// Keeps task rows in Orleans' stock ADO.NET grain storage (<c>orleansstorage</c>): one round trip per operation, far
    /// tasks woken by durable reminders. Same as <c>Deferred:Store = OrleansAdoNet</c>; this call wins over configuration.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <returns>The builder.</returns>
    public static ISiloBuilder UseDeferredOrleansAdoNetStore(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddDeferredOrleansAdoNetStoreServices();
        builder.AddDeferredReminders();
        builder.Services.PostConfigure<DeferredOptions>(o => o.Store = DeferredStore.OrleansAdoNet);
        return builder;
    }

    /// <summary>Registers the default store under its name; built only if selected.</summary>
    internal static void AddDeferredPostgresStoreServices(this ISiloBuilder builder)
    {
        var services = builder.Services;
        if (services.Any(d => d.IsKeyedService && Equals(d.ServiceKey, PostgresStore.StoreName) && d.ServiceType == typeof(IDeferredTaskStore)))
        {
            return;
        }

        services.TryAddSingleton<FreshTaskIds>();
        services.TryAddSingleton<PostgresGrainStorage>();
        services.TryAddSingleton<PostgresCatalog>();
        services.TryAddSingleton<PostgresNewTaskSignal>();
        services.TryAddSingleton<PostgresOrderingKeys>();
        services.TryAddSingleton<PostgresAttemptTransactions>();
        services.TryAddSingleton<PostgresCompletedIds>();
        services.AddKeyedSingleton<IDeferredTaskStore, PostgresStore>(PostgresStore.StoreName);
        services.AddKeyedSingleton<IDeferredScheduleStore, PostgresScheduleStore>(PostgresStore.StoreName);
    }

    /// <summary>Registers the stock store under its name, with Orleans' ADO.NET grain storage; built only if selected.</summary>
    internal static void AddDeferredOrleansAdoNetStoreServices(this ISiloBuilder builder)
    {
        var services = builder.Services;
        if (services.Any(d => d.IsKeyedService && Equals(d.ServiceKey, OrleansAdoNetStore.StoreName) && d.ServiceType == typeof(IDeferredTaskStore)))
        {
            return;
        }

        services.TryAddSingleton<OrleansAdoNetCatalog>();
        services.AddKeyedSingleton<IDeferredTaskStore, OrleansAdoNetStore>(OrleansAdoNetStore.StoreName);
        builder.AddAdoNetGrainStorage(OrleansAdoNetStore.GrainStorageName, (OptionsBuilder<AdoNetGrainStorageOptions> storage) =>
            storage.Configure<DeferredDatabase>((o, database) =>
            {
                o.Invariant = "Npgsql";
                o.DataSource = database.DataSource;

                // Completion deletes the row rather than leaving a NULL-payload tombstone.
                o.DeleteStateOnClear = true;
                o.GrainStorageSerializer = new OrleansAdoNetStateSerializer();
            }));
    }
}
