using Microsoft.Extensions.Logging;

namespace Deferred.Sample;

/// <summary>The sample's task: the alias is its stored name, so renaming the type keeps stored tasks runnable.</summary>
[GenerateSerializer, Alias("sample.greet")]
internal sealed record Greet([property: Id(0)] string Name);

/// <summary>Runs a <see cref="Greet"/> and tells <see cref="Ran"/>.</summary>
internal sealed partial class GreetHandler(Ran ran, ILogger<GreetHandler> logger) : IDeferredTaskHandler<Greet>
{
    public Task ExecuteAsync(Greet task, DeferredTaskContext context, CancellationToken cancellationToken)
    {
        Greeted(logger, task.Name, context.TaskId, context.Attempt);
        ran.Done(context.TaskId);
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Hello, {Name} (task {TaskId}, attempt {Attempt})")]
    private static partial void Greeted(ILogger logger, string name, string taskId, int attempt);
}

/// <summary>Signals the tasks whose handler ran, so the sample awaits the run instead of polling for it.</summary>
internal sealed class Ran
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _runs = new();

    public void Done(string taskId) => Get(taskId).TrySetResult();

    public Task WaitAsync(string taskId, CancellationToken cancellationToken) => Get(taskId).Task.WaitAsync(cancellationToken);

    private TaskCompletionSource Get(string taskId) =>
        _runs.GetOrAdd(taskId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
