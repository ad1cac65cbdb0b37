using System.Text.Json;
using Deferred.Lifecycle;

namespace Deferred.Storage.Postgres;

/// <summary>A <c>deferred_tasks</c> row as the store reads and writes it.</summary>
internal sealed record TaskRow(string TaskId, TaskRecord State, int Version)
{
    public static string? ErrorJson(DeferredTaskError? error) =>
        error is null ? null : JsonSerializer.Serialize(error, DeferredStateJsonContext.Default.DeferredTaskError);

    public static DeferredTaskError? ParseError(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, DeferredStateJsonContext.Default.DeferredTaskError);
}
