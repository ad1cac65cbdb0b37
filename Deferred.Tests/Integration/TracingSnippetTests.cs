using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Deferred.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;
using Xunit;

namespace Deferred.Tests.Integration;

/// <summary>
/// The tracing snippet of README.md and docs/operations.md, configured exactly as written (the in-memory exporter in
/// place of OTLP) in an ASP.NET Core app that is a silo, enqueues from an HTTP request and adds no other
/// instrumentation. ASP.NET Core then still starts an activity per request; unless a listener samples it, it is
/// not recorded, and OpenTelemetry's default sampler (parent-based) drops every child of it: with only
/// <c>AddSource("Deferred")</c> no Deferred span was exported. Listening to <c>Microsoft.AspNetCore</c> too has the
/// sampler decide on the request's activity, so its children follow that decision.
/// </summary>
public sealed class TracingSnippetTests
{
    /// <summary>The line of the documented snippet, the exporter aside.</summary>
    private const string DocumentedTracing = """.WithTracing(t => t.AddSource("Deferred", "Microsoft.AspNetCore").AddOtlpExporter());""";

    [Fact]
    public async Task The_documented_snippet_exports_Deferreds_spans_from_an_ASP_NET_Core_silo_without_other_instrumentation()
    {
        foreach (var doc in new[] { "README.md", Path.Combine("docs", "operations.md") })
        {
            Assert.Contains(DocumentedTracing, await File.ReadAllTextAsync(Path.Combine(Repository.Root, doc)));
        }

        var database = await TestDatabase.Shared;
        var serviceId = $"otel-{Guid.NewGuid():N}";
        // The exporter adds from its own thread without a lock: the collection locks, and the test reads snapshots.
        var exported = new LockedList<Activity>();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(Repository.FreePort(), Repository.FreePort(), null, serviceId, serviceId);
            silo.AddDeferredTasks(o => o.ConnectionString = database.ConnectionString);
            silo.Services.AddDeferredTaskHandler<ProbeTask, ProbeHandler>();
        });

        // The documented snippet, with the in-memory exporter for AddOtlpExporter().
        builder.Services.AddOpenTelemetry()
            .WithTracing(t => t.AddSource("Deferred", "Microsoft.AspNetCore").AddInMemoryExporter(exported));

        await using var app = builder.Build();
        app.MapPost("/orders", async (IDeferredTasks tasks) => await tasks.EnqueueAsync(new ProbeTask()));
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            using var response = await http.PostAsync(new Uri("/orders", UriKind.Relative), null);
            response.EnsureSuccessStatusCode();
            var taskId = (await response.Content.ReadAsStringAsync()).Trim('"');
            await Probe.For(serviceId).WaitForRunsAsync(taskId, 1);

            Activity[] Spans(string name)
            {
                return exported.Snapshot().Where(s => s.OperationName == name && Equals(s.GetTagItem("deferred.task.id"), taskId)).ToArray();
            }

            // The attempt span ends after the handler returns: polled, not slept for.
            await Eventually.True(() => Task.FromResult(Spans("deferred.task.process").Length == 1), "the attempt span to be exported", TimeSpan.FromSeconds(20));
            var enqueue = Assert.Single(Spans("deferred.task.enqueue"));
            var attempt = Assert.Single(Spans("deferred.task.process"));
            Assert.Equal(enqueue.TraceId, attempt.TraceId);
            Assert.Equal(enqueue.SpanId, attempt.ParentSpanId);

            // The request's span is exported too, as the enqueue's parent: the whole trace, not a dangling child.
            Assert.Contains(exported.Snapshot(), s => s.Source.Name == "Microsoft.AspNetCore" && s.SpanId == enqueue.ParentSpanId);
        }
        finally
        {
            await app.StopAsync();
        }
    }
}

/// <summary>A list whose writers and readers take one lock: what the in-memory exporter, which adds unlocked, needs.</summary>
internal sealed class LockedList<T> : System.Collections.Generic.ICollection<T>
{
    private readonly List<T> _items = [];

    public int Count
    {
        get
        {
            lock (_items)
            {
                return _items.Count;
            }
        }
    }

    public bool IsReadOnly => false;

    public T[] Snapshot()
    {
        lock (_items)
        {
            return [.. _items];
        }
    }

    public void Add(T item)
    {
        lock (_items)
        {
            _items.Add(item);
        }
    }

    public void Clear()
    {
        lock (_items)
        {
            _items.Clear();
        }
    }

    public bool Contains(T item)
    {
        lock (_items)
        {
            return _items.Contains(item);
        }
    }

    public void CopyTo(T[] array, int arrayIndex)
    {
        lock (_items)
        {
            _items.CopyTo(array, arrayIndex);
        }
    }

    public bool Remove(T item)
    {
        lock (_items)
        {
            return _items.Remove(item);
        }
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)Snapshot()).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
