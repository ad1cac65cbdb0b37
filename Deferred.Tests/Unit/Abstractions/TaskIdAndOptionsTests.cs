using Deferred.Execution;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class TaskIdAndOptionsTests
{
    [Theory]
    [InlineData("order-42")]
    [InlineData("dt-0193f5c2a1b07c3e9d4a5b6c7d8e9f00")]
    [InlineData("tenant:7.invoice_9")]
    [InlineData("x")]
    public void Accepts_ids_with_a_non_hex_character(string id) => Assert.Null(DeferredTaskId.Validate(id));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("abc123", "hex digits")]
    [InlineData("9c1f0e3a4b5d6e7f8091a2b3c4d5e6f7", "hex digits")]
    [InlineData("order+1", "'+'")]
    [InlineData("order 1", "' '")]
    public void Rejects_ids_that_would_collide_or_break_storage_keys(string id, string reason) =>
        Assert.Contains(reason, DeferredTaskId.Validate(id));

    [Fact]
    public void Rejects_ids_longer_than_the_limit() =>
        Assert.Contains("limit is 100", DeferredTaskId.Validate("t" + new string('a', 100)));

    [Fact]
    public void A_very_long_bad_id_is_named_cut_short_in_the_refusal_with_its_length()
    {
        var id = "order-" + new string('x', 9_994);
        var refusals = new[]
        {
            Assert.Throws<ArgumentException>(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(new DeferredEnqueueOptions { TaskId = id })).Message,
            Assert.Throws<ArgumentException>(() => { _ = new Operations.DeferredTaskOperator(null!).ShowAsync(id); }).Message,
        };

        foreach (var message in refusals)
        {
            Assert.True(message.Length < 400, $"{message.Length} characters: {message[..200]}…");
            Assert.Contains("'order-xxxx", message);
            Assert.Contains("…' (10000 characters)", message);
            Assert.Contains("limit is 100", message);
        }
    }

    [Fact]
    public void Generated_ids_are_valid_and_ordered_by_time()
    {
        var ids = Enumerable.Range(0, 100).Select(_ => DeferredTaskId.NewId()).ToList();
        Assert.All(ids, id => Assert.Null(DeferredTaskId.Validate(id)));
        Assert.Equal(ids.Distinct().Count(), ids.Count);
    }

    [Fact]
    public void Silo_options_validation_names_each_bad_option()
    {
        var problems = DeferredOptionsValidator.Validate(new DeferredOptions
        {
            ConnectionString = null,
            DefaultMaxAttempts = 0,
            RecoveryPageSize = 0,
            TimerThreshold = TimeSpan.Zero,
        });

        Assert.Contains(problems, p => p.Contains("ConnectionString is not set", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("DefaultMaxAttempts is 0; it must be at least 1", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("RecoveryPageSize is 0", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("TimerThreshold is 00:00:00", StringComparison.Ordinal));
        Assert.Empty(DeferredOptionsValidator.Validate(new DeferredOptions { ConnectionString = "Host=x" }));
    }

    [Fact]
    public void Enqueue_options_validation_accepts_defaults_and_a_past_run_time()
    {
        Assert.Null(Record.Exception(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(null)));
        Assert.Null(Record.Exception(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(new DeferredEnqueueOptions())));
        Assert.Null(Record.Exception(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(new DeferredEnqueueOptions { RunAt = DateTimeOffset.UnixEpoch, MaxAttempts = 1 })));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void A_concurrency_limit_below_one_is_a_problem_naming_the_type_and_value(int value)
    {
        var options = new Deferred.DeferredOptions { ConnectionString = "Host=x" };
        options.ConcurrencyLimits["email.send"] = new Deferred.DeferredConcurrencyLimit { PerSilo = value };

        var problems = Deferred.Execution.DeferredOptionsValidator.Validate(options);

        Assert.Contains(problems, p => p.Contains($"ConcurrencyLimits['email.send'].PerSilo is {value}"));
    }

    [Fact]
    public void A_blank_carried_request_context_key_is_a_problem()
    {
        var options = new Deferred.DeferredOptions { ConnectionString = "Host=x", CarriedRequestContextKeys = ["tenant", " "] };

        Assert.Contains(Deferred.Execution.DeferredOptionsValidator.Validate(options), p => p.Contains("CarriedRequestContextKeys contains a blank key"));
    }

    [Fact]
    public void An_ordering_key_at_the_limit_is_accepted()
    {
        var key = new string('k', DeferredEnqueueOptionsValidation.MaxOrderingKeyLength);
        Assert.Null(Record.Exception(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(new DeferredEnqueueOptions { OrderingKey = key })));
    }

    [Fact]
    public void Mismatched_package_versions_are_a_problem_naming_both()
    {
        Assert.Null(Deferred.PackageVersions.Mismatch("0.1.0", "0.1.0"));
        var problem = Deferred.PackageVersions.Mismatch("0.2.0", "0.1.0");
        Assert.Contains("Deferred.Abstractions is 0.2.0, Deferred.Orleans is 0.1.0", problem);
        Assert.Contains("same version of every Deferred.* package", problem);

        // The assemblies of this build are one version.
        Assert.Null(Deferred.PackageVersions.Mismatch(typeof(IDeferredTasks).Assembly, typeof(Deferred.DeferredOptions).Assembly));
    }

    [Theory]
    [InlineData("key\0one")]
    [InlineData("key\u001b[31m")]
    [InlineData("tab\tkey")]
    public void An_ordering_key_with_a_control_character_is_refused_naming_it(string key)
    {
        var error = Assert.Throws<ArgumentException>(() => DeferredEnqueueOptionsValidation.ThrowIfInvalid(new DeferredEnqueueOptions { OrderingKey = key }));
        Assert.Equal(nameof(DeferredEnqueueOptions.OrderingKey), error.ParamName);
        Assert.DoesNotContain("\u001b", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\0", error.Message, StringComparison.Ordinal);
    }
}
