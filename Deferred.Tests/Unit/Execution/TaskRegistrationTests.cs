using Deferred.Execution;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>Task type names: <see cref="TaskRegistration{TTask}"/> and <see cref="TaskTypeRegistry"/>.</summary>
public sealed class TaskRegistrationTests
{
    [Fact]
    public void Task_types_are_named_by_alias_else_full_name_and_names_must_be_unique()
    {
        Assert.Equal("deferred.tests.probe", new TaskRegistration<Infrastructure.ProbeTask>().Name);
        Assert.Equal(typeof(Integration.TaskAfterRename).FullName, new TaskRegistration<Integration.TaskAfterRename>().Name);

        var clash = Assert.Throws<InvalidOperationException>(() => new TaskTypeRegistry(
        [
            new TaskRegistration<Integration.TaskBeforeRename>("same"),
            new TaskRegistration<Integration.TaskAfterRename>("same"),
        ]));
        Assert.Contains("'same'", clash.Message);
    }
}
