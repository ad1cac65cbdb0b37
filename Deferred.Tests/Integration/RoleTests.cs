using Deferred.Tests.Infrastructure;
using Npgsql;
using Orleans.Hosting;
using Xunit;

namespace Deferred.Tests.Integration;

public sealed class RoleTests
{
    [Fact]
    public async Task A_silo_runs_under_the_least_privilege_role_which_cannot_change_the_schema()
    {
        var role = "deferred_app_" + Guid.NewGuid().ToString("N")[..8];
        await using (var database = await TestDatabase.CreateAsync(migrate: true))
        {
            // The product role needs only the product's tables: the sample's demo_completions is not among them.
            Assert.False(await database.ScalarAsync<bool>("SELECT to_regclass('demo_completions') IS NOT NULL"));
            await DeferredRoles.CreateAppRoleAsync(database.ConnectionString, role, "app-password");
            var asRole = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Username = role, Password = "app-password" }.ConnectionString;

            await using (var cluster = await DeferredTestCluster.StartAsync(
                o => o.ConnectionString = asRole,
                configureSilo: silo => silo.AddDeferredSchedule("role-tick", DeferredSchedule.Every(TimeSpan.FromSeconds(1)), _ => new ProbeTask()),
                database: database))
            {
                var taskId = await cluster.Client.EnqueueAsync(new ProbeTask());
                await cluster.Probe.WaitForRunsAsync(taskId, 1);

                // Schedules (deferred_schedules) work under the role too.
                await cluster.Probe.WaitAsync(runs => runs.Any(r => r.TaskId.StartsWith("schedule:role-tick:", StringComparison.Ordinal)), "an occurrence of a schedule under the app role");
                await Eventually.True(async () => await cluster.CountRowsAsync() == 0, "the task to complete under the app role");
            }

            await using var connection = new NpgsqlConnection(asRole);
            await connection.OpenAsync();
            foreach (var ddl in new[] { "CREATE TABLE deferred_sneaky (x int)", "DROP TABLE deferred_tasks", "TRUNCATE deferred_tasks", "ALTER TABLE deferred_tasks ADD COLUMN x int" })
            {
                await using var command = new NpgsqlCommand(ddl, connection);
                var denied = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
                Assert.True(denied.SqlState is PostgresErrorCodes.InsufficientPrivilege, $"{ddl}: {denied.SqlState} {denied.MessageText}");
            }

            // Idempotent: running it again only refreshes the grants.
            await DeferredRoles.CreateAppRoleAsync(database.ConnectionString, role, null);
        }

        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.ServerConnectionString) { Database = "postgres" }.ConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP ROLE \"{role}\"", admin);
        await drop.ExecuteNonQueryAsync();
    }

    [Theory]
    [InlineData("")]
    [InlineData("App")]
    [InlineData("1app")]
    [InlineData("app; DROP TABLE deferred_tasks")]
    public async Task A_bad_role_name_is_refused_before_any_sql_runs(string role)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => DeferredRoles.CreateAppRoleAsync("Host=127.0.0.1;Port=1", role, null));
        Assert.Contains("Role name", error.Message);
    }
}
