using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;

namespace Deferred.Tests.Dashboard;

/// <summary>
/// The dashboard over HTTP, without a browser or a cluster (a <see cref="FakeOperator"/>): who may use it, how actions
/// are protected from other sites, and how bad input is refused. The browser tests cover the same API on a real cluster.
/// </summary>
public sealed class DashboardHttpTests
{
    private const string Action = "X-Deferred-Action";

    [Fact]
    public async Task A_request_from_a_non_loopback_address_without_authorization_is_refused_with_what_to_do()
    {
        // A trusted local proxy (forwarded headers) reports the client 10.0.0.1: the dashboard sees a remote caller.
        // No traffic leaves the machine: the address only travels in a header.
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(
            operations,
            configureBeforeDashboard: app => app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor }));

        foreach (var path in new[] { "deferred/", "deferred/api/overview", "deferred/assets/app.js", "deferred/api/tasks/task-dead" })
        {
            using var remote = new HttpRequestMessage(HttpMethod.Get, path);
            remote.Headers.Add("X-Forwarded-For", "10.0.0.1");
            using var response = await host.Client.SendAsync(remote);
            var message = await MessageOf(response);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("10.0.0.1", message);
            Assert.Contains(".RequireAuthorization(", message);
        }

        using var remoteAction = new HttpRequestMessage(HttpMethod.Post, "deferred/api/tasks/task-dead/retry");
        remoteAction.Headers.Add("X-Forwarded-For", "10.0.0.1");
        remoteAction.Headers.Add(Action, "1");
        using (var refused = await host.Client.SendAsync(remoteAction))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.Empty(operations.Changes);

        // The same requests from loopback are served.
        using var local = await host.Client.GetAsync("deferred/api/overview");
        Assert.Equal(HttpStatusCode.OK, local.StatusCode);
    }

    [Fact]
    public async Task With_authorization_on_the_group_the_host_policy_decides_instead_of_the_loopback_rule()
    {
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(
            operations,
            configureServices: builder =>
            {
                builder.Services.AddAuthentication(HeaderAuthentication.SchemeName).AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>(HeaderAuthentication.SchemeName, null);
                builder.Services.AddAuthorizationBuilder().AddPolicy("ops", p => p.RequireClaim("role", "ops"));
            },
            configureBeforeDashboard: app =>
            {
                app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor });
                app.UseAuthentication();
                app.UseAuthorization();
            },
            configureDashboard: group => group.RequireAuthorization("ops"));

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOf(host, "10.0.0.1", user: null));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusOf(host, "10.0.0.1", user: "guest"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(host, "10.0.0.1", user: "ops"));

        // The loopback-name rule belongs to the loopback-only mode: with authorization, any host name is the host's affair.
        using (var named = new HttpRequestMessage(HttpMethod.Get, "deferred/api/overview"))
        {
            named.Headers.Host = "ops.example.com";
            named.Headers.Add(HeaderAuthentication.Header, "ops");
            using var response = await host.Client.SendAsync(named);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The policy applies to loopback callers too: authorization replaces the loopback rule, it does not add to it.
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusOf(host, forwardedFor: null, user: null));

        static async Task<HttpStatusCode> StatusOf(DashboardHost host, string? forwardedFor, string? user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "deferred/api/overview");
            if (forwardedFor is not null)
            {
                request.Headers.Add("X-Forwarded-For", forwardedFor);
            }

            if (user is not null)
            {
                request.Headers.Add(HeaderAuthentication.Header, user);
            }

            using var response = await host.Client.SendAsync(request);
            return response.StatusCode;
        }
    }

    [Fact]
    public async Task Actions_without_the_action_header_or_from_another_origin_are_refused_and_change_nothing()
    {
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(operations);
        var origin = host.Root.GetLeftPart(UriPartial.Authority);

        // A plain form post from another site: no custom header.
        Assert.Contains(Action, await Refused(host, headers: []));

        // Browsers say where a request comes from; anything but same-origin is refused even with the header.
        Assert.Contains("cross-site", await Refused(host, headers: [(Action, "1"), ("Sec-Fetch-Site", "cross-site")]));
        Assert.Contains("same-site", await Refused(host, headers: [(Action, "1"), ("Sec-Fetch-Site", "same-site")]));
        Assert.Contains("http://evil.example", await Refused(host, headers: [(Action, "1"), ("Origin", "http://evil.example")]));
        Assert.Contains("'null'", await Refused(host, headers: [(Action, "1"), ("Origin", "null")]));
        Assert.Empty(operations.Changes);

        // What the dashboard page sends.
        using var accepted = new HttpRequestMessage(HttpMethod.Post, "deferred/api/tasks/task-dead/retry");
        accepted.Headers.Add(Action, "1");
        accepted.Headers.Add("Origin", origin);
        accepted.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var response = await host.Client.SendAsync(accepted);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["retry task-dead"], operations.Changes);

        static async Task<string> Refused(DashboardHost host, (string Name, string Value)[] headers)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "deferred/api/tasks/task-dead/retry");
            foreach (var (name, value) in headers)
            {
                request.Headers.Add(name, value);
            }

            using var response = await host.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            return await MessageOf(response);
        }
    }

    [Fact]
    public async Task Bad_input_is_refused_with_a_message_that_names_the_value_and_nothing_changes()
    {
        var operations = new FakeOperator()
            .Add("task-dead", DeferredTaskStatus.Dead)
            .Add("task-pending", DeferredTaskStatus.Pending)
            .Add("task-running", DeferredTaskStatus.Pending);
        operations.Running.Add("task-running");
        await using var host = await DashboardHost.StartAsync(operations);

        // Malformed filters and paging: 400, naming the parameter and its value.
        await Expect(host, HttpMethod.Get, "tasks?status=Running", HttpStatusCode.BadRequest, "status 'Running'", "never stored");
        await Expect(host, HttpMethod.Get, "tasks?status=Bogus", HttpStatusCode.BadRequest, "status 'Bogus'", "Pending, Failed, Dead");
        await Expect(host, HttpMethod.Get, "tasks?status=3", HttpStatusCode.BadRequest, "status '3'");
        await Expect(host, HttpMethod.Get, "tasks?dueFrom=yesterday", HttpStatusCode.BadRequest, "dueFrom 'yesterday'", "ISO 8601");
        await Expect(host, HttpMethod.Get, "tasks?dueBefore=2026-01-31T12:00:00", HttpStatusCode.BadRequest, "dueBefore '2026-01-31T12:00:00'", "time zone");
        await Expect(host, HttpMethod.Get, "tasks?dueFrom=2026-02-01T00:00:00Z&dueBefore=2026-01-01T00:00:00Z", HttpStatusCode.BadRequest, "is not before dueBefore");
        await Expect(host, HttpMethod.Get, "tasks?pageSize=0", HttpStatusCode.BadRequest, "pageSize '0'", "1 to 500");
        await Expect(host, HttpMethod.Get, "tasks?pageSize=501", HttpStatusCode.BadRequest, "pageSize '501'");
        await Expect(host, HttpMethod.Get, "tasks?stauts=Dead", HttpStatusCode.BadRequest, "query parameter 'stauts'");
        await Expect(host, HttpMethod.Get, "tasks?status=Dead&status=Pending", HttpStatusCode.BadRequest, "'status' is given 2 times");
        await Expect(host, HttpMethod.Get, "tasks?type=a%00b", HttpStatusCode.BadRequest, "Filter.TaskType", "control character");
        await Expect(host, HttpMethod.Get, "tasks?error=a%00b", HttpStatusCode.BadRequest, "Filter.ErrorContains", "control character");

        // A page token from another query: the operator's ArgumentException, passed on as a 400.
        await Expect(host, HttpMethod.Get, "tasks?status=Dead&pageToken=fake-token-Pending||||", HttpStatusCode.BadRequest, "fake-token-Pending||||", "another query");

        // Ids: malformed is 400, unknown is 404.
        await Expect(host, HttpMethod.Get, "tasks/abc123", HttpStatusCode.BadRequest, "'abc123'", "hex digits");
        await Expect(host, HttpMethod.Get, "tasks/no-such-task", HttpStatusCode.NotFound, "'no-such-task'", "not stored");
        await Expect(host, HttpMethod.Post, "tasks/no-such-task/retry", HttpStatusCode.NotFound, "'no-such-task'");
        await Expect(host, HttpMethod.Post, "tasks/no-such-task/run-now", HttpStatusCode.NotFound, "'no-such-task'");
        await Expect(host, HttpMethod.Post, "tasks/no-such-task/cancel", HttpStatusCode.NotFound, "'no-such-task'");
        await Expect(host, HttpMethod.Post, "tasks/no-such-task/delete", HttpStatusCode.NotFound, "'no-such-task'");
        await Expect(host, HttpMethod.Post, "tasks/abc123/delete", HttpStatusCode.BadRequest, "'abc123'");

        // Actions the lifecycle refuses: 409, saying why.
        await Expect(host, HttpMethod.Post, "tasks/task-pending/retry", HttpStatusCode.Conflict, "'task-pending' is Pending, not Dead");
        await Expect(host, HttpMethod.Post, "tasks/task-dead/cancel", HttpStatusCode.Conflict, "'task-dead' is dead", "delete it instead");
        await Expect(host, HttpMethod.Post, "tasks/task-dead/run-now", HttpStatusCode.Conflict, "'task-dead' is Dead", "retry it instead");
        await Expect(host, HttpMethod.Post, "tasks/task-running/run-now", HttpStatusCode.Conflict, "'task-running' is Running", "only a pending or failed task");
        await Expect(host, HttpMethod.Post, "tasks/task-running/delete", HttpStatusCode.Conflict, "'task-running'", "running");

        // Bulk actions: the filter and the date are checked before anything runs.
        await Expect(host, HttpMethod.Post, "dead/retry?status=Pending", HttpStatusCode.BadRequest, "status 'Pending'", "only dead tasks");
        await Expect(host, HttpMethod.Post, "dead/retry?type=x&olderThan=2026-01-01T00:00:00Z", HttpStatusCode.BadRequest, "query parameter 'olderThan'");
        await Expect(host, HttpMethod.Post, "dead/purge", HttpStatusCode.BadRequest, "olderThan is missing");
        await Expect(host, HttpMethod.Post, "dead/purge?olderThan=last%20week", HttpStatusCode.BadRequest, "olderThan 'last week'");

        Assert.Empty(operations.Changes);

        // Well-formed requests go through; the bulk retry only ever targets dead tasks.
        await Expect(host, HttpMethod.Get, "tasks?status=dead&type=fake.task&dueFrom=2026-01-31T12:00:00%2B02:00&pageSize=10", HttpStatusCode.OK, "task-dead");
        // A bulk action is prepared (counted, nothing changed), then started by its id, watched and cancelled.
        var id = await PrepareAsync(host, "dead/retry?type=fake.task&error=timeout", "1 dead task(s) match the filter", "nothing is changed until");
        Assert.Empty(operations.Changes);
        await Expect(host, HttpMethod.Post, $"bulk/{id}/start", HttpStatusCode.Accepted, "Started: completed: 1 of 1 dead task(s) reached");
        Assert.Equal(["retry-dead Dead|fake.task|||timeout"], operations.Changes);
        await Expect(host, HttpMethod.Get, $"bulk/{id}", HttpStatusCode.OK, "completed: 1 of 1", "\"isFinished\":true");
        var purge = await PrepareAsync(host, "dead/purge?olderThan=2026-01-01T00:00:00Z", "1 dead task(s) were last due before", "nothing is deleted until");
        await Expect(host, HttpMethod.Post, $"bulk/{purge}/cancel", HttpStatusCode.OK, "cancelled: 0 of 1");
        await Expect(host, HttpMethod.Post, $"bulk/{purge}/start", HttpStatusCode.Accepted, "cancelled");
        Assert.Equal(["retry-dead Dead|fake.task|||timeout"], operations.Changes);
        await Expect(host, HttpMethod.Get, $"bulk/{Guid.NewGuid():N}", HttpStatusCode.NotFound, "No silo holds bulk action");
        await Expect(host, HttpMethod.Post, $"bulk/{Guid.NewGuid():N}/start", HttpStatusCode.NotFound, "No silo holds bulk action");
        await Expect(host, HttpMethod.Get, "bulk/not-an-id", HttpStatusCode.BadRequest, "'not-an-id' is malformed");
        await Expect(host, HttpMethod.Post, "bulk/%3Cb%3E/cancel", HttpStatusCode.BadRequest, "is malformed");
    }

    [Fact]
    public async Task A_cluster_that_times_out_or_cannot_be_reached_is_an_answer_that_says_so_not_a_server_error()
    {
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(operations);

        operations.BulkFailure = new TimeoutException("Response did not arrive on time in 00:30:00 for message: ...");
        await Expect(host, HttpMethod.Post, "dead/purge?olderThan=2026-01-01T00:00:00Z", HttpStatusCode.GatewayTimeout, "did not answer in time", "may still be carried out");

        operations.BulkFailure = new Orleans.Runtime.SiloUnavailableException("silo S127.0.0.1:11111:1 is gone");
        await Expect(host, HttpMethod.Post, "dead/purge?olderThan=2026-01-01T00:00:00Z", HttpStatusCode.ServiceUnavailable, "cannot be reached", "whether an action was carried out");
        Assert.Empty(operations.Changes);
    }

    [Fact]
    public async Task Without_authorization_a_request_addressed_to_a_name_other_than_loopback_is_refused_against_DNS_rebinding()
    {
        // A page on attacker.example whose name was re-pointed at 127.0.0.1: the browser connects from loopback, sends
        // the attacker's name as Host and, for a POST, the attacker's origin, which matches that Host.
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(operations);
        const string Rebound = "attacker.example:5080";

        foreach (var path in new[] { "deferred/", "deferred/api/tasks", "deferred/api/overview", "deferred/api/tasks/task-dead" })
        {
            using var read = new HttpRequestMessage(HttpMethod.Get, path);
            read.Headers.Host = Rebound;
            using var refused = await host.Client.SendAsync(read);
            var message = await MessageOf(refused);
            Assert.True(HttpStatusCode.Forbidden == refused.StatusCode, $"GET {path} with Host {Rebound}: {(int)refused.StatusCode} {message}");
            Assert.Contains($"'{Rebound}'", message);
            Assert.Contains("localhost", message);
            Assert.Contains(".RequireAuthorization(", message);
            Assert.DoesNotContain("task-dead", message);
        }

        using (var delete = new HttpRequestMessage(HttpMethod.Post, "deferred/api/tasks/task-dead/delete"))
        {
            delete.Headers.Host = Rebound;
            delete.Headers.Add(Action, "1");
            delete.Headers.Add("Origin", $"http://{Rebound}");
            delete.Headers.Add("Sec-Fetch-Site", "same-origin");
            using var refused = await host.Client.SendAsync(delete);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        Assert.Empty(operations.Changes);

        // Loopback names are served: localhost, any 127.0.0.0/8 address, ::1, with or without the port.
        var port = host.Root.Port;
        foreach (var name in new[] { $"localhost:{port}", "localhost", "LOCALHOST", $"127.0.0.1:{port}", "127.1.2.3", $"[::1]:{port}" })
        {
            using var read = new HttpRequestMessage(HttpMethod.Get, "deferred/api/tasks");
            read.Headers.Host = name;
            using var served = await host.Client.SendAsync(read);
            Assert.True(HttpStatusCode.OK == served.StatusCode, $"Host {name}: {(int)served.StatusCode} {await served.Content.ReadAsStringAsync()}");
        }

        // A name that only starts like a loopback one is not one.
        foreach (var name in new[] { "localhost.attacker.example", "127.0.0.1.attacker.example", "127.0.0.1.nip.io:80" })
        {
            using var read = new HttpRequestMessage(HttpMethod.Get, "deferred/api/tasks");
            read.Headers.Host = name;
            using var refused = await host.Client.SendAsync(read);
            Assert.True(HttpStatusCode.Forbidden == refused.StatusCode, $"Host {name}: {(int)refused.StatusCode}");
        }
    }

    [Fact]
    public async Task While_the_store_is_down_every_call_is_a_503_with_a_message_and_the_overview_keeps_this_process_rates()
    {
        var operations = new FakeOperator().Add("task-dead", DeferredTaskStatus.Dead);
        await using var host = await DashboardHost.StartAsync(operations);

        // As the real operator throws them: reads of the catalog fail with the typed exception; a task whose grain cannot
        // load its row fails in activation, which Orleans reports wrapped.
        operations.StoreFailure = call => call is "list" or "count" or "retry-dead"
            ? new DeferredStoreUnavailableException(call, TimeSpan.FromSeconds(5))
            : new Orleans.Runtime.OrleansException($"Error activating grain deferred-task/{call}", new DeferredStoreUnavailableException(call, TimeSpan.FromSeconds(5)));

        using (var overview = await host.Client.GetAsync("deferred/api/overview"))
        {
            var body = await overview.Content.ReadAsStringAsync();
            Assert.True(HttpStatusCode.ServiceUnavailable == overview.StatusCode, $"overview: {(int)overview.StatusCode} {body}");
            using var json = JsonDocument.Parse(body);
            Assert.Equal("unavailable", json.RootElement.GetProperty("error").GetString());
            Assert.Contains("task store", json.RootElement.GetProperty("message").GetString());
            var local = json.RootElement.GetProperty("local");
            Assert.Equal(JsonValueKind.Array, local.GetProperty("succeededPerSecond").ValueKind);
            Assert.True(local.GetProperty("processId").GetInt32() > 0);
        }

        await Expect(host, HttpMethod.Get, "tasks?status=Dead", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Get, "tasks/task-dead", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Post, "tasks/task-dead/retry", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Post, "tasks/task-dead/cancel", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Post, "tasks/task-dead/delete", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Post, "dead/retry?type=fake.task", HttpStatusCode.ServiceUnavailable, "task store");
        await Expect(host, HttpMethod.Post, "dead/purge?olderThan=2026-01-01T00:00:00Z", HttpStatusCode.ServiceUnavailable, "task store");
        Assert.Empty(operations.Changes);

        // Back: the same requests are served.
        operations.StoreFailure = null;
        await Expect(host, HttpMethod.Get, "overview", HttpStatusCode.OK);
        await Expect(host, HttpMethod.Get, "tasks/task-dead", HttpStatusCode.OK, "task-dead");
    }

    [Fact]
    public async Task The_page_and_its_assets_come_from_the_assembly_with_a_strict_content_policy()
    {
        await using var host = await DashboardHost.StartAsync(new FakeOperator());

        using var noFollow = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Root };
        using (var redirect = await noFollow.GetAsync("deferred"))
        {
            Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
            Assert.Equal("/deferred/", redirect.Headers.Location?.OriginalString);
        }

        using var page = await host.Client.GetAsync("deferred/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("assets/app.js", html);
        Assert.DoesNotContain("://", html, StringComparison.Ordinal);

        using var script = await host.Client.GetAsync("deferred/assets/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var etag = script.Headers.ETag!.Tag;

        using var again = new HttpRequestMessage(HttpMethod.Get, "deferred/assets/app.js");
        again.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using (var notModified = await host.Client.SendAsync(again))
        {
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        }

        using var missing = await host.Client.GetAsync("deferred/assets/nope.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public void Mapping_without_the_services_it_needs_fails_at_start_with_what_to_register()
    {
        var withoutDashboard = WebApplication.CreateSlimBuilder();
        withoutDashboard.Services.AddSingleton<IDeferredTaskOperator>(new FakeOperator());
        using var app1 = withoutDashboard.Build();
        Assert.Contains("AddDeferredDashboard()", Assert.Throws<InvalidOperationException>(() => app1.MapDeferredDashboard()).Message);

        var withoutOperator = WebApplication.CreateSlimBuilder();
        withoutOperator.Services.AddDeferredDashboard();
        using var app2 = withoutOperator.Build();
        Assert.Contains("AddDeferredTasksClient()", Assert.Throws<InvalidOperationException>(() => app2.MapDeferredDashboard()).Message);

        Assert.Throws<ArgumentException>(() => app2.MapDeferredDashboard("deferred"));
    }

    /// <summary>Prepares a bulk action; returns its id.</summary>
    private static async Task<string> PrepareAsync(DashboardHost host, string path, params string[] messageContains)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "deferred/api/" + path);
        request.Headers.Add(Action, "1");
        using var response = await host.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path}: {(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        var message = json.RootElement.GetProperty("message").GetString()!;
        Assert.All(messageContains, part => Assert.Contains(part, message, StringComparison.Ordinal));
        var bulk = json.RootElement.GetProperty("bulk");
        Assert.Equal("Prepared", bulk.GetProperty("state").GetString());
        return bulk.GetProperty("id").GetString()!;
    }

    private static async Task Expect(DashboardHost host, HttpMethod method, string path, HttpStatusCode status, params string[] messageContains)
    {
        using var request = new HttpRequestMessage(method, "deferred/api/" + path);
        if (method == HttpMethod.Post)
        {
            request.Headers.Add(Action, "1");
        }

        using var response = await host.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{method} {path}: expected {(int)status}, got {(int)response.StatusCode}: {body}");

        // Compare with the decoded message: the JSON escapes quotes as \u0027.
        using var json = JsonDocument.Parse(body);
        if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("message", out var message))
        {
            body = message.GetString() + " " + body;
        }
        foreach (var part in messageContains)
        {
            Assert.True(body.Contains(part, StringComparison.Ordinal), $"{method} {path}: the body does not contain \"{part}\": {body}");
        }
    }

    private static async Task<string> MessageOf(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("message").GetString()!;
    }

    /// <summary>Authenticates whoever names themselves in a header: role "ops" for user "ops", none otherwise.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "test-header";
        public const string Header = "X-Test-User";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue(Header, out var user))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            Claim[] claims = user.ToString() == "ops" ? [new(ClaimTypes.Name, "ops"), new("role", "ops")] : [new(ClaimTypes.Name, user.ToString())];
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName)));
        }
    }
}
