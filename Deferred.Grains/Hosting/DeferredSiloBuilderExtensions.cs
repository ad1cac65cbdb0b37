using Deferred;
using Deferred.Client;
using Deferred.Cluster;
using Deferred.Execution;
using Deferred.Lifecycle;
using Deferred.Recovery;
using Deferred.Storage;
using Deferred.Storage.Resilience;
using Deferred.TaskGrain;
using Deferred.Wakeups;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;

namespace Orleans.Hosting;

/// <summary>Adds Deferred to an Orleans silo.</summary>
public static class DeferredSiloBuilderExtensions
{
    /// <summary>
    /// Adds durable deferred tasks to the silo: the task grain, its store (the one <see cref="DeferredOptions.Store"/>
    /// names, <c>Postgres</c> by default; or the one chosen with <c>UseDeferredPostgresStore()</c> /
    /// <c>UseDeferredOrleansAdoNetStore()</c>), for the stock store only the ADO.NET reminder service on the same database
    /// (unless a reminder service is already configured), recovery, and <see cref="Deferred.IDeferredTasks"/> in DI. Register handlers with
    /// <c>services.AddDeferredTaskHandler&lt;TTask, THandler&gt;()</c>.
    /// The database must be migrated first (<c>DeferredSchema.MigrateAsync</c>, or
    /// <see cref="DeferredOptions.ApplyMigrationsOnStart"/>); the silo refuses to start otherwise.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Sets <see cref="DeferredOptions"/>; at least the connection string.</param>
    /// <returns>The builder.</returns>
    public static ISiloBuilder AddDeferredTasks(this ISiloBuilder builder, Action<DeferredOptions>? configure = null) =>
        builder.AddDeferredTasks(configuration: null, configure);

    /// <summary>
    /// Adds durable deferred tasks (see the other overload) with <see cref="DeferredOptions"/> bound from
    /// <paramref name="configuration"/>, typically <c>builder.Configuration.GetSection("Deferred")</c>: every option by its
    /// name (<c>ConnectionString</c>, <c>Store</c>, <c>MaxConcurrentTasks</c>, <c>ConcurrencyLimits:&lt;type&gt;:Cluster</c>,
    /// ...; in environment variables <c>Deferred__ConnectionString</c> and so on). <paramref name="configure"/> runs after
    /// the binding, so code wins over configuration.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configuration">The configuration section to bind; null binds nothing.</param>
    /// <param name="configure">Sets options after the binding; null for none.</param>
    /// <returns>The builder.</returns>
    public static ISiloBuilder AddDeferredTasks(this ISiloBuilder builder, Microsoft.Extensions.Configuration.IConfiguration? configuration, Action<DeferredOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<DeferredOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration);
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        // Only the stock store wakes far tasks by Orleans reminders, so only a silo that chooses it gets Orleans' reminder
        // service (and needs its table). The choice is read here from what this call was given (configuration, then the
        // delegate, which therefore runs once more now); UseDeferredOrleansAdoNetStore() adds the service too. A store
        // chosen another way without it fails at start, saying what to call (SelectStore).
        var chosen = new DeferredOptions();
        if (configuration is not null)
        {
            Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(configuration, chosen);
        }

        configure?.Invoke(chosen);
        if (chosen.Store == DeferredStore.OrleansAdoNet)
        {
            builder.AddDeferredReminders();
        }

        if (services.Any(d => d.ServiceType == typeof(DeferredDatabase)))
        {
            // Called twice: the options above still apply; everything else is registered once.
            return builder;
        }

        services.ConfigureFormatter<DeferredOptions>();
        services.AddSingleton<IConfigurationValidator, DeferredOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DeferredDatabase>();
        services.AddSingleton(sp => new StoreResilience(
            sp.GetRequiredService<IOptions<DeferredOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<StoreResilience>>(),
            sp.GetRequiredService<DeferredDatabase>()));

        // Orleans' state bridge logs its own error, with the stack, for every failed write of the task state (events
        // 102202-102204, category ResilientGrainStorage). StoreResilience already logs each outcome once (1006 for what
        // it gave up, 1018/1019 for an outage), so the bridge's copies are filtered out: a database restart under load
        // is one warning and one information line, not thousands of errors.
        services.AddLogging(logging => logging.AddFilter(typeof(ResilientGrainStorage).FullName, LogLevel.None));
        services.AddSingleton<CarriedRequestContext>();
        services.AddSingleton<OrderingTurns>();
        TaskDirectoryCache.Register(services);
        services.AddSingleton<AdoptedTasks>();
        services.AddSingleton<ConcurrencyLeases>();
        services.AddSingleton<TaskProgressStore>();
        services.AddSingleton<AttemptProgress>();
        services.AddSingleton<ConcurrencyLimits>();

        // Both built-in stores are registered (lazily: only the selected one is built), so Deferred:Store can pick one.
        builder.AddDeferredPostgresStoreServices();
        builder.AddDeferredOrleansAdoNetStoreServices();
        services.AddSingleton(SelectStore);
        services.AddSingleton(sp => sp.GetRequiredService<IDeferredTaskStore>().Catalog);
        services.AddKeyedSingleton<IGrainStorage>(TaskStorage.ProviderName, (sp, _) =>
            new ResilientGrainStorage(sp.GetRequiredService<IDeferredTaskStore>().GrainStorage, sp.GetRequiredService<StoreResilience>()));

        AddLifecycle(services);
        AddWakeups(services);
        services.AddSingleton<SchemaCheck>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SchemaCheck>());
        AddRecovery(services);
        services.AddSingleton<DirectEnqueuer>();
        services.AddSingleton<BatchEnqueuer>();
        services.AddDeferredScheduling();
        services.TryAddSingleton<TaskGrainReferences>();
        services.TryAddSingleton<IDeferredTasks, DeferredTasksClient>();
        services.TryAddSingleton<IDeferredTaskOperator, Deferred.Operations.DeferredTaskOperator>();
        services.TryAddSingleton(sp => new DeferredTransactionalEnqueuer(sp));

        return builder;
    }

    /// <summary>
    /// Orleans' ADO.NET reminder service on Deferred's database, for the stock store's far wake-up; nothing when a
    /// reminder service is already configured.
    /// </summary>
    internal static void AddDeferredReminders(this ISiloBuilder builder)
    {
        if (!builder.Services.Any(d => d.ServiceType == typeof(IReminderTable)))
        {
            builder.UseAdoNetReminderService((OptionsBuilder<AdoNetReminderTableOptions> reminders) =>
                reminders.Configure<DeferredDatabase>((o, database) =>
                {
                    o.Invariant = "Npgsql";
                    o.DataSource = database.DataSource;
                }));
        }
    }

    /// <summary>The task grain and what runs its attempts.</summary>
    private static void AddLifecycle(IServiceCollection services)
    {
        services.AddSingleton<SiloIdentity>();
        services.AddSingleton<SiloReadiness>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SiloReadiness>());
        services.AddSingleton<LocalTasks>();
        services.AddSingleton<TaskTypeRegistry>();
        services.AddSingleton(sp =>
        {
            var gate = ActivatorUtilities.CreateInstance<ExecutionGate>(sp);
            gate.PublishGauges();
            return gate;
        });
        services.AddSingleton<RetrySchedule>();
        services.AddSingleton<ErrorFormatter>();
        services.TryAddSingleton(new TaskFilterTypes());
        services.AddSingleton<TaskFilters>();
        services.AddSingleton<TaskRunner>();
        services.AddSingleton<NewTaskFactory>();
        services.AddSingleton<TaskGrainContext>();
        services.AddSingleton<GracefulShutdown>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<GracefulShutdown>());
    }

    /// <summary>The silo's own wake-ups: the resumer they share and the due-time poller.</summary>
    // The recovery loops (Recovery/): each its own BackgroundLoop, started and stopped with the silo.
    private static void AddRecovery(IServiceCollection services)
    {
        services.AddSingleton<Housekeeping>();
        services.AddSingleton<OrphanSweep>();
        services.AddSingleton<StrandedTaskAudit>();
        services.AddSingleton<NotificationListener>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<Housekeeping>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<OrphanSweep>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<StrandedTaskAudit>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<NotificationListener>());
    }

    private static void AddWakeups(IServiceCollection services)
    {
        services.AddSingleton<ResumeRetries>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ResumeRetries>());
        services.AddSingleton<TaskResumer>();
        services.AddSingleton<DuePoller>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<DuePoller>());
    }

    /// <summary>The one place that reads which store is configured.</summary>
    private static IDeferredTaskStore SelectStore(IServiceProvider services)
    {
        var name = services.GetRequiredService<IOptions<DeferredOptions>>().Value.Store.ToString();
        var store = services.GetKeyedService<IDeferredTaskStore>(name);
        if (store is { FarWakeup: FarWakeup.Reminder } && services.GetService<IReminderTable>() is null)
        {
            throw new OrleansConfigurationException(
                $"DeferredOptions.Store is '{name}', which wakes far tasks by Orleans reminders, but no reminder service is " +
                "configured. Call silo.UseDeferredOrleansAdoNetStore() (it adds Orleans' ADO.NET reminder service on the same " +
                "database), or set Deferred:Store in the configuration or delegate given to AddDeferredTasks.");
        }

        return store
            ?? throw new OrleansConfigurationException(
                $"DeferredOptions.Store is '{name}', but no Deferred store of that name is registered. Use Postgres or OrleansAdoNet " +
                "(Deferred:Store in configuration, or silo.UseDeferredPostgresStore() / silo.UseDeferredOrleansAdoNetStore()).");
    }
}
