using System.Collections.Frozen;

namespace Deferred.Storage;

/// <summary>
/// The named SQL statements Deferred runs, one per <c>.sql</c> file embedded in this assembly. SQL is never assembled
/// in C#; every value travels as a parameter.
/// </summary>
/// <remarks>
/// Where a statement's file sits: in the <c>Sql/</c> folder beside the code under <c>Storage/</c> that runs it
/// (<c>Postgres/Sql</c>, <c>OrleansAdoNet/Sql</c>, <c>Migrations/Sql</c>, the root's own in <c>Storage/Sql</c>). A
/// statement run from outside <c>Storage/</c> (<c>Execution/</c>, <c>Client/</c>, <c>Operations/</c>) sits with the
/// store whose table it works on, or in <c>Storage/Sql</c> when every store runs it. Every file is embedded as
/// <c>Deferred.Queries.{file name}</c>, so file names are unique across the folders, and its property here is the
/// file name in Pascal case (<c>tasks-claim-unowned.sql</c> is <see cref="TasksClaimUnowned"/>);
/// <c>Deferred.Tests/Unit/Storage/SqlQueriesTests.cs</c> holds both ways.
/// </remarks>
internal static class SqlQueries
{
    private const string Prefix = "Deferred.Queries.";

    private static readonly FrozenDictionary<string, string> All = Load();

    // Storage/Sql: every store runs these (the store probe, the schema check, the cluster-wide concurrency leases, progress).
    public static string SchemaVersion => Get("schema-version");

    public static string StorePing => Get("store-ping");

    public static string SchemaNewerBreaking => Get("schema-newer-breaking");

    public static string LeasesTake => Get("leases-take");

    public static string LeasesRelease => Get("leases-release");

    public static string LeasesListHolders => Get("leases-list-holders");

    public static string LeasesReleaseHolders => Get("leases-release-holders");

    public static string ProgressUpsert => Get("progress-upsert");

    public static string ProgressDelete => Get("progress-delete");

    public static string ProgressRead => Get("progress-read");

    public static string ProgressTidy => Get("progress-tidy");

    // Storage/Postgres/Sql: the default store (deferred_tasks, ordering holds, completed ids, schedules).
    public static string TasksRead => Get("tasks-read");

    public static string TasksInsert => Get("tasks-insert");

    public static string TasksUpdate => Get("tasks-update");

    public static string TasksDelete => Get("tasks-delete");

    public static string AttemptBegin => Get("attempt-begin");

    public static string AttemptComplete => Get("attempt-complete");

    public static string AttemptRowExists => Get("attempt-row-exists");

    public static string TasksListOwners => Get("tasks-list-owners");

    public static string TasksClaim => Get("tasks-claim");

    public static string TasksClaimUnowned => Get("tasks-claim-unowned");

    public static string TasksRelease => Get("tasks-release");


    public static string TasksNotify => Get("tasks-notify");

    public static string OrderingTake => Get("ordering-take");

    public static string OrderingRelease => Get("ordering-release");

    public static string CompletedIdRead => Get("completed-id-read");

    public static string CompletedIdsForget => Get("completed-ids-forget");

    public static string TasksListen => Get("tasks-listen");

    public static string TasksTableExists => Get("tasks-table-exists");

    public static string TasksListDue => Get("tasks-list-due");

    public static string TasksCountByStatus => Get("tasks-count-by-status");

    public static string TasksList => Get("tasks-list");

    public static string TasksListByType => Get("tasks-list-by-type");

    public static string TasksListByError => Get("tasks-list-by-error");

    public static string TasksCountByType => Get("tasks-count-by-type");

    public static string SchedulesUpsert => Get("schedules-upsert");

    public static string SchedulesRead => Get("schedules-read");

    public static string SchedulesList => Get("schedules-list");

    public static string SchedulesDelete => Get("schedules-delete");

    public static string SchedulesPause => Get("schedules-pause");

    public static string SchedulesResume => Get("schedules-resume");

    public static string SchedulesClaimDue => Get("schedules-claim-due");

    public static string SchedulesAdvance => Get("schedules-advance");

    public static string SchedulesNextDue => Get("schedules-next-due");

    public static string SchedulesNow => Get("schedules-now");

    // Storage/OrleansAdoNet/Sql: the stock Orleans ADO.NET store (orleansstorage).
    public static string ListResumable => Get("list-resumable");

    public static string CountByStatus => Get("count-by-status");

    public static string StockList => Get("stock-list");

    public static string StockListByType => Get("stock-list-by-type");

    public static string StockListByError => Get("stock-list-by-error");

    public static string StockCountByType => Get("stock-count-by-type");

    public static string StockRead => Get("stock-read");

    // Storage/Migrations/Sql: the migrator.
    public static string AppRole => Get("app-role");

    public static string MigrationsPrepare => Get("migrations-prepare");

    public static string MigrationsLock => Get("migrations-lock");

    public static string MigrationsUnlock => Get("migrations-unlock");

    public static string MigrationsApplied => Get("migrations-applied");

    public static string MigrationsRecord => Get("migrations-record");

    private static string Get(string name) =>
        All.TryGetValue(name, out var sql)
            ? sql
            : throw new InvalidOperationException($"The embedded SQL statement '{name}.sql' is missing from {typeof(SqlQueries).Assembly.GetName().Name}; the build is broken.");

    private static FrozenDictionary<string, string> Load()
    {
        var assembly = typeof(SqlQueries).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .ToFrozenDictionary(
                n => n[Prefix.Length..^".sql".Length],
                n =>
                {
                    using var reader = new StreamReader(assembly.GetManifestResourceStream(n)!);
                    return reader.ReadToEnd();
                });
    }
}
