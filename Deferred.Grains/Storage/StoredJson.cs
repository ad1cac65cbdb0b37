using System.Text.Json.Serialization;
using Deferred.Lifecycle;

namespace Deferred.Storage;

/// <summary>
/// The JSON both stores write: the stock store's whole row, and the default store's <c>last_error</c> column.
/// camelCase, enums by name, nulls left out.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskRecord))]
[JsonSerializable(typeof(DeferredTaskError))]
internal sealed partial class DeferredStateJsonContext : JsonSerializerContext;
