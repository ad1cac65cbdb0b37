namespace Deferred.Storage;

/// <summary>Names shared by the storage registration and the grain.</summary>
internal static class DeferredStorage
{
    /// <summary>The Orleans grain-storage provider name that holds task rows.</summary>
    public const string ProviderName = "deferred-tasks";
}
