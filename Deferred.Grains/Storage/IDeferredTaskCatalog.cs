namespace Deferred.Storage;

/// <summary>
/// The runtime's one read path into the store beyond single-task state: the recovery scan and counts. The
/// PostgreSQL implementation is the only place above which no Npgsql type appears.
/// </summary>
internal interface IDeferredTaskCatalog
{
    /// <summary>
    /// Up to <paramref name="pageSize"/> ids of tasks to resume, in key order after <paramref name="afterTaskId"/>
    /// (empty string for the first page).
    /// </summary>
    Task<IReadOnlyList<string>> ListResumableAsync(string afterTaskId, int pageSize, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>How many tasks of this service are stored, by status name.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken);

    /// <summary>The highest applied migration, or 0 when none is.</summary>
    Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken);
}
