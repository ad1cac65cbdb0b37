using Npgsql;

namespace Deferred.Storage;

/// <summary>The result shapes both catalogs read: a list of task ids, and counts by status.</summary>
internal static class CatalogReaders
{
    public static async Task<IReadOnlyList<string>> ReadIdsAsync(NpgsqlCommand command, int capacity, CancellationToken cancellationToken)
    {
        var ids = new List<string>(capacity);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public static async Task<IReadOnlyDictionary<string, long>> ReadCountsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }
}
