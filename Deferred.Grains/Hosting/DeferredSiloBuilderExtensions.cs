using Deferred;
using Deferred.Options;
using Deferred.Recovery;
using Deferred.Retry;
using Deferred.Runtime;
using Deferred.Storage;
using Deferred.Storage.Postgres;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Orleans.Hosting;

/// <summary>Adds Deferred to an Orleans silo.</summary>
public static class DeferredSiloBuilderExtensions
{
    /// <summary>
    /// Adds durable deferred tasks to the silo: the task grain with its ADO.NET (PostgreSQL) state storage, the
    /// ADO.NET reminder service on the same database (unless a reminder service is already configured),
    /// startup recovery, and <see cref="Deferred.IDeferredTasks"/> in DI. Register handlers with
    /// <c>services.AddDeferredTaskHandler&lt;TTask, THandler&gt;()</c>.
    /// The database must be migrated first (<c>Deferred.Silo migrate</c>); the silo refuses to start otherwise.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Sets <see cref="DeferredTasksOptions"/>; at least the connection string.</param>
    /// <returns>The builder.</returns>
    public static ISiloBuilder AddDeferredTasks(this ISiloBuilder builder, Action<DeferredTasksOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<DeferredTasksOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(DeferredDatabase)))
        {
            // Called twice: the options above still apply; everything else is registered once.
            return builder;
        }

        services.ConfigureFormatter<DeferredTasksOptions>();
        services.AddSingleton<IConfigurationValidator, DeferredTasksOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DeferredDatabase>();
        services.AddSingleton<FreshTaskIds>();
        services.AddSingleton<PostgresTaskStore>();
        services.AddSingleton<FarTaskEnqueuer>();
        services.AddSingleton<IDeferredTaskCatalog>(sp => sp.GetRequiredService<IOptions<DeferredTasksOptions>>().Value.Store == DeferredStore.OrleansAdoNet
            ? ActivatorUtilities.CreateInstance<PostgresTaskCatalog>(sp)
            : ActivatorUtilities.CreateInstance<PostgresTableCatalog>(sp));
        services.AddSingleton<TaskTypeRegistry>();
        services.AddSingleton<ExecutionGate>();
        services.AddSingleton<SiloIdentity>();
        services.AddSingleton<LocalTasks>();
        services.AddSingleton<GracefulShutdown>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<GracefulShutdown>());
        services.AddSingleton<RetrySchedule>();
        services.AddSingleton<ErrorFormatter>();
        services.AddSingleton<TaskRunner>();
        services.AddSingleton<SchemaCheck>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SchemaCheck>());
        services.AddSingleton<TaskResumer>();
        services.AddSingleton<DuePoller>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DuePoller>());
        services.AddSingleton<DeferredRecovery>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DeferredRecovery>());
        services.TryAddSingleton<IDeferredTasks, DeferredTasksClient>();

        // The task grain's storage name resolves to the configured store.
        services.AddKeyedSingleton<IGrainStorage>(DeferredStorage.ProviderName, (sp, _) => new ResilientTaskStorage(
            sp.GetRequiredService<IOptions<DeferredTasksOptions>>().Value.Store == DeferredStore.OrleansAdoNet
                ? sp.GetRequiredKeyedService<IGrainStorage>(DeferredStorage.StockProviderName)
                : sp.GetRequiredService<PostgresTaskStore>(),
            sp.GetRequiredService<IOptions<DeferredTasksOptions>>(),
            sp.GetRequiredService<TimeProvider>()));
        builder.AddAdoNetGrainStorage(DeferredStorage.StockProviderName, (OptionsBuilder<AdoNetGrainStorageOptions> storage) =>
            storage.Configure<DeferredDatabase>((o, database) =>
            {
                o.Invariant = "Npgsql";
                o.DataSource = database.DataSource;

                // Completion deletes the row rather than leaving a NULL-payload tombstone.
                o.DeleteStateOnClear = true;
                o.GrainStorageSerializer = new DeferredTaskStateSerializer();
            }));

        if (!services.Any(d => d.ServiceType == typeof(IReminderTable)))
        {
            builder.UseAdoNetReminderService((OptionsBuilder<AdoNetReminderTableOptions> reminders) =>
                reminders.Configure<DeferredDatabase>((o, database) =>
                {
                    o.Invariant = "Npgsql";
                    o.DataSource = database.DataSource;
                }));
        }

        return builder;
    }
}
