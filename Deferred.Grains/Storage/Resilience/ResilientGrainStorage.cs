using Orleans.Runtime;
using Orleans.Storage;

namespace Deferred.Storage.Resilience;

/// <summary>
/// Wraps a store's grain storage. Reads (above all the one Orleans makes when a task activates) run under the
/// <see cref="StoreWindow.Read"/> window; a read or write that finds the database unreachable fails with
/// <see cref="DeferredStoreUnavailableException"/>, one typed, serializable exception (database exceptions cannot
/// cross to an Orleans client), so an activation fails fast instead of hanging. Version conflicts pass through.
/// </summary>
internal sealed class ResilientGrainStorage(IGrainStorage inner, StoreResilience resilience) : IGrainStorage
{
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var result = await resilience.RunAsync(StoreWindow.Read, TaskId(grainId), "read", () => inner.ReadStateAsync(stateName, grainId, grainState)).ConfigureAwait(false);
        if (!result.Applied)
        {
            throw result.Outcome == StoreOutcome.Unavailable
                ? new DeferredStoreUnavailableException(TaskId(grainId), result.Waited)
                : result.Error!;
        }
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Typed(inner.WriteStateAsync(stateName, grainId, grainState), grainId);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Typed(inner.ClearStateAsync(stateName, grainId, grainState), grainId);

    private async Task Typed(Task operation, GrainId grainId)
    {
        try
        {
            // Not back on the activation's scheduler: the activation awaits this whole call.
            await operation.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not DeferredStoreUnavailableException && StoreFailures.Classify(ex) == StoreOutcome.Unavailable)
        {
            // The cause (which may name the server) is logged on the silo, never sent to the caller.
            resilience.Unreachable(ex);
            throw new DeferredStoreUnavailableException(TaskId(grainId), TimeSpan.Zero);
        }
    }

    private static string TaskId(GrainId grainId) => grainId.Key.ToString() ?? "";
}
