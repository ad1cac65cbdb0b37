using System.Diagnostics;
using Deferred.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>An Orleans client's enqueue is bounded by EnqueueTimeout (plus a second), not Orleans' response timeout.</summary>
public sealed class ClientEnqueueTimeoutTests
{
    [Fact]
    public async Task A_client_enqueue_that_gets_no_answer_ends_after_the_enqueue_timeout_with_the_store_unavailable_exception()
    {
        // The silo takes the call and never answers: what a gateway that crashed holding it looks like to the client
        // (issue 23: such enqueues hung ~30 s, Orleans' response timeout). The client's EnqueueTimeout is 1 s.
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var cluster = await DeferredTestCluster.StartAsync(
            configureSilo: silo => silo.AddIncomingGrainCallFilter(async call =>
            {
                if (call.MethodName == nameof(IDeferredTaskGrain.EnqueueAsync) && call.TargetId.Key.ToString()!.StartsWith("unanswered-", StringComparison.Ordinal))
                {
                    await never.Task;
                }

                await call.Invoke();
            }),
            configureClient: client => client.Services.Configure<DeferredOptions>(o => o.EnqueueTimeout = TimeSpan.FromSeconds(1)));
        try
        {
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<DeferredStoreUnavailableException>(() =>
                cluster.Client.EnqueueAsync(new ProbeTask(), new DeferredEnqueueOptions { TaskId = "unanswered-1" }));
            clock.Stop();

            // EnqueueTimeout (1 s) + the client's margin (1 s); Orleans' response timeout would be 30 s.
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));
            Assert.Equal("unanswered-1", error.TaskId);
            Assert.Contains("no answer from the cluster", error.Message, StringComparison.Ordinal);
            Assert.Contains("same TaskId", error.Message, StringComparison.Ordinal);

        }
        finally
        {
            never.TrySetResult();
        }

        // An answered enqueue from the client is unaffected.
        var id = await cluster.Client.EnqueueAsync(new ProbeTask());
        await cluster.Probe.WaitForRunsAsync(id, 1);
    }
}
