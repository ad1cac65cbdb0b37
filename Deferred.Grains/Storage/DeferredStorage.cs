namespace Deferred.Storage;

/// <summary>Names shared by the storage registration and the grain.</summary>
internal static class DeferredStorage
{
    /// <summary>The Orleans grain-storage provider name that holds task rows.</summary>
    public const string ProviderName = "deferred-tasks";

    /// <summary>The stock Orleans ADO.NET provider, registered under its own name and used when selected.</summary>
    public const string StockProviderName = "deferred-tasks-stock";
}
