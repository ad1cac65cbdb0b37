using System.Collections.Frozen;

namespace Deferred.Execution;

/// <summary>
/// The task types this silo can run, by CLR type (for enqueue) and by stored name (for execution). Only these
/// types are ever deserialized from the store.
/// </summary>
internal sealed class TaskTypeRegistry
{
    private readonly FrozenDictionary<Type, TaskRegistration> _byType;
    private readonly FrozenDictionary<string, TaskRegistration> _byName;

    public TaskTypeRegistry(IEnumerable<TaskRegistration> registrations)
    {
        var list = registrations.DistinctBy(r => r.TaskType).ToList();
        var clash = list.GroupBy(r => r.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            throw new InvalidOperationException(
                $"Deferred task types {string.Join(" and ", clash.Select(r => r.TaskType.FullName))} share the stored name '{clash.Key}'; give one of them a different [Alias].");
        }

        _byType = list.ToFrozenDictionary(r => r.TaskType);
        _byName = list.ToFrozenDictionary(r => r.Name, StringComparer.Ordinal);
    }

    public TaskRegistration? Find(Type taskType) => _byType.GetValueOrDefault(taskType);

    public TaskRegistration? Find(string name) => _byName.GetValueOrDefault(name);
}
