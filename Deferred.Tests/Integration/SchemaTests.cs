using Deferred.Tests.Infrastructure;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class SchemaTests
{
    [Fact]
    public async Task Migrations_apply_once_even_from_concurrent_migrators_and_a_second_run_applies_nothing()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);

        var results = await Task.WhenAll(
            DeferredSchema.MigrateAsync(database.ConnectionString),
            DeferredSchema.MigrateAsync(database.ConnectionString));

        Assert.Equal(DeferredSchema.Migrations.Count, results.Sum(r => r.Count));
        Assert.Empty(await DeferredSchema.MigrateAsync(database.ConnectionString));
        Assert.Equal(DeferredSchema.LatestVersion, await database.ScalarAsync<int>("SELECT max(version) FROM deferred_schema_version"));
        Assert.Equal(DeferredSchema.Migrations.Count, await database.ScalarAsync<int>("SELECT count(*) FROM deferred_schema_version"));
    }

    [Fact]
    public async Task The_product_migrations_leave_no_demo_ledger()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);

        // demo_completions belongs to the sample host (Deferred.Silo creates it itself); 0006 created it, 0010 drops it.
        Assert.Contains(DeferredSchema.Migrations, m => m.Version == 10 && m.Name == "0010_drop_demo_completions.sql");
        Assert.Equal(DeferredSchema.LatestVersion, await database.ScalarAsync<int>("SELECT max(version) FROM deferred_schema_version"));
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('demo_completions') IS NOT NULL"));
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('ix_demo_completions_task') IS NOT NULL"));
    }

    [Fact]
    public async Task Migrating_a_version_9_database_drops_the_demo_ledger_it_had()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);

        // Back to what a version 9 database looked like: 0006's table, with rows, and no 0010 recorded.
        await database.ExecuteAsync("DELETE FROM deferred_schema_version WHERE version = 10");
        await database.ExecuteAsync("CREATE TABLE demo_completions (task_id text NOT NULL, run_id text NOT NULL, completed_at timestamptz NOT NULL DEFAULT now())");
        await database.ExecuteAsync("INSERT INTO demo_completions (task_id, run_id) VALUES ('demo-1', 'run-1')");

        var applied = await DeferredSchema.MigrateAsync(database.ConnectionString);

        Assert.Equal("0010_drop_demo_completions.sql", Assert.Single(applied).Name);
        Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('demo_completions') IS NOT NULL"));
        Assert.Equal(DeferredSchema.LatestVersion, await database.ScalarAsync<int>("SELECT max(version) FROM deferred_schema_version"));
    }

    [Fact]
    public async Task An_applied_migration_that_was_edited_is_refused()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: true);
        await database.ExecuteAsync("UPDATE deferred_schema_version SET checksum = 'edited' WHERE version = 2");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => DeferredSchema.MigrateAsync(database.ConnectionString));
        Assert.Contains("0002_orleans_persistence.sql", error.Message);
        Assert.Contains("add a new numbered migration", error.Message);
    }

    [Fact]
    public async Task A_silo_refuses_to_start_on_an_unmigrated_database_and_says_how_to_migrate()
    {
        await using var database = await TestDatabase.CreateAsync(migrate: false);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(database: database));

        var message = ExceptionText.Flatten(error);
        Assert.Contains("schema is at version 0", message);
        Assert.Contains("migrate", message);
    }

    [Fact]
    public async Task A_silo_with_a_bad_option_fails_at_start_naming_the_option()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => DeferredTestCluster.StartAsync(o => o.MaxConcurrentTasks = 0));

        Assert.Contains("DeferredOptions.MaxConcurrentTasks is 0; it must be at least 1", ExceptionText.Flatten(error));
    }
}
