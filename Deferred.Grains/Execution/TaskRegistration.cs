using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Serialization;

namespace Deferred.Execution;

/// <summary>
/// One registered task type: how to name, (de)serialize and run it. Generic per task type so the hot path
/// makes no reflection calls.
/// </summary>
internal abstract class TaskRegistration
{
    protected TaskRegistration(Type taskType, string name, TimeSpan? timeout, bool transactional)
    {
        TaskType = taskType;
        Name = name;
        Timeout = timeout;
        Transactional = transactional;
    }

    /// <summary>The CLR task type.</summary>
    public Type TaskType { get; }

    /// <summary>The stored name: the type's Orleans <c>[Alias]</c> if it has one, else its full name.</summary>
    public string Name { get; }

    /// <summary>This type's attempt timeout; null uses <see cref="DeferredOptions.DefaultTaskTimeout"/>.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>
    /// True for a <see cref="IDeferredTransactionalHandler{TTask}"/>: the attempt runs in a transaction of the store that
    /// also ends the task.
    /// </summary>
    public bool Transactional { get; }

    public abstract byte[] Serialize(Serializer serializer, object task);

    public abstract object Deserialize(Serializer serializer, byte[] payload);

    /// <summary>Calls the handler; <paramref name="transaction"/> is the attempt's for a <see cref="Transactional"/> one, else null.</summary>
    public abstract Task InvokeAsync(IServiceProvider scope, object task, DeferredTaskContext context, DbTransaction? transaction, CancellationToken cancellationToken);

    /// <summary>The per-type retry policy's decision, or <see cref="RetryDecision.Default"/> when there is none.</summary>
    public abstract RetryDecision Decide(IServiceProvider scope, DeferredTaskFailure failure);

    /// <summary>The stored name for <paramref name="type"/>.</summary>
    public static string NameOf(Type type)
    {
        var alias = type.GetCustomAttributes(typeof(AliasAttribute), inherit: false).OfType<AliasAttribute>().FirstOrDefault();
        return alias?.Alias ?? type.FullName ?? type.Name;
    }
}

internal sealed class TaskRegistration<TTask> : TaskRegistration
{
    public TaskRegistration(string? name = null, TimeSpan? timeout = null, bool transactional = false)
        : base(typeof(TTask), name ?? NameOf(typeof(TTask)), timeout, transactional)
    {
    }

    // Serialized as the declared type, so the bytes carry field ids but no CLR type or assembly names:
    // renaming the type or its assembly does not orphan stored tasks.
    public override byte[] Serialize(Serializer serializer, object task) => serializer.SerializeToArray((TTask)task);

    public override object Deserialize(Serializer serializer, byte[] payload) =>
        serializer.Deserialize<TTask>(payload) ?? throw new InvalidDataException("The payload deserialized to null.");

    public override Task InvokeAsync(IServiceProvider scope, object task, DeferredTaskContext context, DbTransaction? transaction, CancellationToken cancellationToken) =>
        transaction is null
            ? scope.GetRequiredService<IDeferredTaskHandler<TTask>>().ExecuteAsync((TTask)task, context, cancellationToken)
            : scope.GetRequiredService<IDeferredTransactionalHandler<TTask>>().ExecuteAsync((TTask)task, context, (NpgsqlTransaction)transaction, cancellationToken);

    public override RetryDecision Decide(IServiceProvider scope, DeferredTaskFailure failure)
    {
        var handler = Transactional ? (object)scope.GetRequiredService<IDeferredTransactionalHandler<TTask>>() : scope.GetRequiredService<IDeferredTaskHandler<TTask>>();
        var policy = handler as IDeferredRetryPolicy<TTask> ?? scope.GetService<IDeferredRetryPolicy<TTask>>();
        return policy?.Decide(failure) ?? RetryDecision.Default;
    }
}
