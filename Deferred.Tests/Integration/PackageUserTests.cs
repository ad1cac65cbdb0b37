using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Hosting;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>A task type that Orleans cannot serialize (no [GenerateSerializer]).</summary>
public sealed class NotSerializableTask
{
    public int Value { get; set; }
}

internal sealed class NotSerializableHandler : IDeferredTaskHandler<NotSerializableTask>
{
    public Task ExecuteAsync(NotSerializableTask task, DeferredTaskContext context, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>What a user of the packages needs beyond the repository: migrating, configuration, early errors.</summary>
public sealed class PackageUserTests
{
    [Fact]
    public async Task A_silo_with_ApplyMigrationsOnStart_migrates_an_empty_database_and_runs_tasks()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);

        await using var cluster = await DeferredTestCluster.StartAsync(o => o.ApplyMigrationsOnStart = true, database: database);
        var taskId = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(taskId, 1);

        Assert.Equal(DeferredSchema.LatestVersion, await database.ScalarAsync<int>("SELECT max(version) FROM deferred_schema_version"));
    }

    [Fact]
    public async Task ApplyMigrationsOnStart_under_a_role_without_ddl_rights_fails_the_start_saying_what_to_do_and_applies_nothing()
    {
        // A login role that may connect but not create anything (PostgreSQL 15 grants no CREATE on public to PUBLIC).
        var role = "deferred_noddl_" + Guid.NewGuid().ToString("N")[..8];
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await database.ExecuteAsync($"CREATE ROLE {role} LOGIN PASSWORD 'app-password'");
        await database.ExecuteAsync($"REVOKE CREATE ON SCHEMA public FROM {role}");
        var asRole = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = role, Password = "app-password" }.ConnectionString;

        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(
            o =>
            {
                o.ConnectionString = asRole;
                o.ApplyMigrationsOnStart = true;
            },
            database: database));

        var message = ExceptionText.Flatten(error);
        Assert.Contains("ApplyMigrationsOnStart is on, but the silo's database role may not change the schema", message);
        Assert.Contains("DeferredSchema.MigrateAsync", message);
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('deferred_schema_version') IS NOT NULL"));
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('deferred_tasks') IS NOT NULL"));
    }

    [Fact]
    public async Task The_migration_script_for_a_dba_brings_an_empty_database_to_the_latest_version_like_the_migrator()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        var script = DeferredSchema.Script();
        Assert.All(DeferredSchema.Migrations, m => Assert.Contains($"-- {m.Name} (sha256 {m.Checksum})", script));

        await using (var connection = new NpgsqlConnection(database.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(script, connection);
            await command.ExecuteNonQueryAsync();
        }

        Assert.Equal(DeferredSchema.LatestVersion, await database.ScalarAsync<int>("SELECT max(version) FROM deferred_schema_version"));
        Assert.Empty(await DeferredSchema.MigrateAsync(database.ConnectionString));
        Assert.DoesNotContain("BEGIN;", DeferredSchema.Script(DeferredSchema.LatestVersion));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => DeferredSchema.Script(DeferredSchema.LatestVersion + 1));
        Assert.Contains($"is {DeferredSchema.LatestVersion + 1}", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_silo_on_a_newer_schema_runs_when_the_newer_migrations_are_additive_and_refuses_otherwise(bool additive)
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        var future = DeferredSchema.LatestVersion + 1;
        await database.ExecuteAsync(
            "INSERT INTO deferred_schema_version (version, name, checksum, additive) VALUES (@v, @n, 'future', @a)",
            ("v", future), ("n", $"{future:D4}_from_a_newer_build.sql"), ("a", additive));

        if (additive)
        {
            var logs = new CapturedLogs(Microsoft.Extensions.Logging.LogLevel.Warning);
            await using var cluster = await DeferredTestCluster.StartAsync(database: database, configureSilo: silo => silo.Services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
            var taskId = await cluster.Client.EnqueueAsync(new ProbeTask());
            await cluster.Probe.WaitForRunsAsync(taskId, 1);
            Assert.Contains(logs.Entries, e => e.EventId == 3004 && e.Message.Contains($"version {future}", StringComparison.Ordinal));

            // The migrator of this build leaves the newer migration alone.
            Assert.Empty(await DeferredSchema.MigrateAsync(database.ConnectionString));
            return;
        }

        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(database: database));
        var message = ExceptionText.Flatten(error);
        Assert.Contains($"schema is at version {future}, newer than this build's {DeferredSchema.LatestVersion}", message);
        Assert.Contains($"migration {future} ({future:D4}_from_a_newer_build.sql)", message);
        Assert.Contains("Deploy the Deferred.Orleans release that applied it", message);
    }

    [Fact]
    public void AddDeferredTasks_binds_a_configuration_section_and_code_wins()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Deferred:ConnectionString"] = "Host=db;Database=app",
            ["Deferred:Store"] = "OrleansAdoNet",
            ["Deferred:MaxConcurrentTasks"] = "7",
            ["Deferred:ShutdownGracePeriod"] = "00:00:03",
            ["Deferred:ApplyMigrationsOnStart"] = "true",
            ["Deferred:ConcurrencyLimits:mail.send:Cluster"] = "4",
            ["Deferred:CarriedRequestContextKeys:0"] = "tenant",
        }).Build();
        var services = new ServiceCollection();

        new TestSiloBuilder(services, configuration).AddDeferredTasks(configuration.GetSection("Deferred"), o => o.MaxConcurrentTasks = 9);

        var options = services.BuildServiceProvider().GetRequiredService<IOptions<DeferredOptions>>().Value;
        Assert.Equal("Host=db;Database=app", options.ConnectionString);
        Assert.Equal(DeferredStore.OrleansAdoNet, options.Store);
        Assert.Equal(9, options.MaxConcurrentTasks);
        Assert.Equal(TimeSpan.FromSeconds(3), options.ShutdownGracePeriod);
        Assert.True(options.ApplyMigrationsOnStart);
        Assert.Equal(4, options.ConcurrencyLimits["mail.send"].Cluster);
        Assert.Equal(["tenant"], options.CarriedRequestContextKeys);
    }

    [Fact]
    public async Task A_task_type_without_an_orleans_serializer_fails_the_silo_start_naming_the_type()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(
            configureSilo: silo => silo.Services.AddDeferredTaskHandler<NotSerializableTask, NotSerializableHandler>()));

        var message = ExceptionText.Flatten(error);
        Assert.Contains($"task type {typeof(NotSerializableTask).FullName}", message);
        Assert.Contains("[GenerateSerializer]", message);
    }

    [Fact]
    public async Task A_host_shutdown_timeout_shorter_than_the_drain_is_warned_about_at_start_naming_both()
    {
        var logs = new CapturedLogs(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var cluster = await DeferredTestCluster.StartAsync(
            o => o.ShutdownGracePeriod = TimeSpan.FromSeconds(20),
            configureSilo: silo =>
            {
                // PostConfigure: the test host sets its own timeout after the silo's configuration.
                silo.Services.PostConfigure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
                silo.Services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs);
            });

        var host = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<IOptions<Microsoft.Extensions.Hosting.HostOptions>>().Value;
        Assert.True(host.ShutdownTimeout == TimeSpan.FromSeconds(10), $"the silo's HostOptions.ShutdownTimeout is {host.ShutdownTimeout}");
        var warning = Assert.Single(logs.Entries, e => e.EventId == 3005);
        Assert.Contains("HostOptions.ShutdownTimeout is 10 s", warning.Message);
        Assert.Contains("ShutdownGracePeriod (20 s)", warning.Message);
    }
}
