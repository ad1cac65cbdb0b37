using Orleans.Metadata;
using Orleans.Runtime;

namespace Deferred.Wakeups;

/// <summary>
/// References to task grains by id, for the client and for the silo's own wake-ups (here, below both). <c>IGrainFactory.GetGrain&lt;T&gt;(string)</c> resolves the interface's grain type by
/// reflection on every call; every enqueue and every resumed row needs a reference, so the two types are resolved once
/// here and each reference is made from its <see cref="GrainId"/>.
/// </summary>
internal sealed class TaskGrainReferences
{
    private readonly IGrainFactory _grains;
    private readonly Lazy<(GrainType Grain, GrainInterfaceType Task, GrainInterfaceType Recoverable)> _types;

    public TaskGrainReferences(IGrainFactory grains, GrainInterfaceTypeResolver interfaces, GrainInterfaceTypeToGrainTypeResolver grainTypes)
    {
        _grains = grains;

        // Lazy: a client's manifest is known only once it has connected.
        _types = new(() =>
        {
            var task = interfaces.GetGrainInterfaceType(typeof(IDeferredTaskGrain));
            return (grainTypes.GetGrainType(task), task, interfaces.GetGrainInterfaceType(typeof(IRecoverableTask)));
        });
    }

    /// <summary>The task's grain; <paramref name="taskId"/> must already be valid (<see cref="DeferredTaskId.Validate"/>).</summary>
    public IDeferredTaskGrain Task(string taskId)
    {
        var types = _types.Value;
        return (IDeferredTaskGrain)_grains.GetGrain(GrainId.Create(types.Grain, taskId), types.Task);
    }

    /// <summary>The task's grain as recovery sees it.</summary>
    public IRecoverableTask Recoverable(string taskId)
    {
        var types = _types.Value;
        return (IRecoverableTask)_grains.GetGrain(GrainId.Create(types.Grain, taskId), types.Recoverable);
    }
}
