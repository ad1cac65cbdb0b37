using System.Net.Sockets;
using Deferred.Execution;
using Deferred.Operations;
using Deferred.Silo.Demo;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Serialization;

namespace Deferred.Silo.Operator;

/// <summary>
/// The read verbs' <see cref="IDeferredTaskOperator"/> when no silo answers (or <c>--from-database</c>): list, counts
/// and one task's details read from the database by <see cref="StoredTaskReader"/>. It changes nothing: every change
/// is a lifecycle transition of the task's grain, so the change methods throw; <see cref="TasksCommand"/> never gives
/// them this operator. Payloads are rendered for the task types this program knows (the sample's
/// <see cref="DemoTask"/>); any other type's payload needs a silo that has it.
/// </summary>
internal sealed class DatabaseTaskOperator : IDeferredTaskOperator, IAsyncDisposable
{
    private readonly ServiceProvider _serialization;
    private readonly StoredTaskReader _reader;

    public DatabaseTaskOperator(string connectionString, string serviceId, DeferredStore store)
    {
        _serialization = new ServiceCollection().AddSerializer().BuildServiceProvider();
        _reader = new StoredTaskReader(
            connectionString,
            serviceId,
            store,
            new TaskTypeRegistry([new TaskRegistration<DemoTask>()]),
            _serialization.GetRequiredService<Serializer>());
    }

    public Task<DeferredTaskPage> ListAsync(DeferredTaskQuery query, CancellationToken cancellationToken = default) =>
        Read(() => _reader.ListAsync(query, cancellationToken));

    public Task<IReadOnlyList<DeferredTaskCount>> CountAsync(CancellationToken cancellationToken = default) =>
        Read(() => _reader.CountAsync(cancellationToken));

    public Task<DeferredTaskDetails?> ShowAsync(string taskId, CancellationToken cancellationToken = default) =>
        Read(() => _reader.ShowAsync(taskId, cancellationToken));

    /// <summary>
    /// A failed read of the database is the one failure <see cref="TaskVerbs"/> reports as "the task store is
    /// unreachable" (exit 1), with the database's own reason; a malformed query stays an <see cref="ArgumentException"/>.
    /// </summary>
    private static async Task<T> Read<T>(Func<Task<T>> read)
    {
        try
        {
            return await read();
        }
        catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException or Orleans.Runtime.OrleansConfigurationException)
        {
            throw new DeferredStoreUnavailableException($"reading the database failed: {ex.Message}");
        }
    }

    private static Task<T> NeedsCluster<T>() => Task.FromException<T>(new InvalidOperationException(
        "A change goes through the task's grain and needs a running silo; the database is only read without one."));

    public Task<DeferredCancelOutcome> CancelAsync(string taskId, CancellationToken cancellationToken = default) => NeedsCluster<DeferredCancelOutcome>();

    public Task<bool> RetryDeadAsync(string taskId, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public Task<bool> RunNowAsync(string taskId, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public Task<int> RetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default) => NeedsCluster<int>();

    public Task<bool> DeleteAsync(string taskId, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public Task<int> PurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) => NeedsCluster<int>();

    public Task<DeferredBulkAction> PrepareRetryDeadAsync(DeferredTaskFilter filter, CancellationToken cancellationToken = default) => NeedsCluster<DeferredBulkAction>();

    public Task<DeferredBulkAction> PreparePurgeDeadAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default) => NeedsCluster<DeferredBulkAction>();

    public Task<DeferredBulkAction?> StartBulkActionAsync(string actionId, CancellationToken cancellationToken = default) => NeedsCluster<DeferredBulkAction?>();

    public Task<DeferredBulkAction?> GetBulkActionAsync(string actionId, CancellationToken cancellationToken = default) => NeedsCluster<DeferredBulkAction?>();

    public Task<DeferredBulkAction?> CancelBulkActionAsync(string actionId, CancellationToken cancellationToken = default) => NeedsCluster<DeferredBulkAction?>();

    public Task<IReadOnlyList<DeferredScheduleInfo>> ListSchedulesAsync(CancellationToken cancellationToken = default) => NeedsCluster<IReadOnlyList<DeferredScheduleInfo>>();

    public Task<bool> PauseScheduleAsync(string name, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public Task<bool> ResumeScheduleAsync(string name, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public Task<bool> RemoveScheduleAsync(string name, CancellationToken cancellationToken = default) => NeedsCluster<bool>();

    public async ValueTask DisposeAsync()
    {
        await _reader.DisposeAsync();
        await _serialization.DisposeAsync();
    }
}
