using Npgsql;

namespace Deferred.Storage;

/// <summary>The result shape both catalogs read: counts by status.</summary>
internal static class CatalogReaders
{
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
