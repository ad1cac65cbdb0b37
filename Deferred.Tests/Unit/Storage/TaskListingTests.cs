using System.Buffers.Binary;
using System.Buffers.Text;
using Deferred.Lifecycle;
using Deferred.Storage;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class TaskListingTests
{
    private static readonly DateTimeOffset Due = new(2026, 12, 3, 9, 30, 15, TimeSpan.Zero);

    private static readonly DeferredTaskFilter Filter = new()
    {
        Status = DeferredTaskStatus.Dead,
        TaskType = "billing.charge",
        DueFrom = Due.AddDays(-1),
        DueBefore = Due.AddDays(1),
        ErrorContains = "timeout",
    };

    public static TheoryData<DeferredTaskFilter> OtherFilters => new()
    {
        new DeferredTaskFilter(),
        Filter with { Status = DeferredTaskStatus.Failed },
        Filter with { Status = null },
        Filter with { TaskType = "billing.refund" },
        Filter with { TaskType = null },
        Filter with { DueFrom = Due.AddDays(-2) },
        Filter with { DueFrom = null },
        Filter with { DueBefore = Due.AddDays(2) },
        Filter with { DueBefore = null },
        Filter with { ErrorContains = "Timeout" },
        Filter with { ErrorContains = null },

        // The same text in another field is another filter.
        new DeferredTaskFilter { TaskType = "x" },
    };

    [Theory]
    [InlineData("order-42")]
    [InlineData("dt-0193f5c2a1b07c3e9d4a5b6c7d8e9f00")]
    [InlineData("tenant:7.invoice_9")]
    public void A_token_carries_its_key_back_to_the_same_filter(string taskId)
    {
        var key = new TaskListKey(Due.AddTicks(1234567), taskId);

        var token = TaskListing.Encode(Filter, key);

        Assert.Equal(key, TaskListing.Decode(Filter, token));
        Assert.Matches("^[A-Za-z0-9_-]+$", token);
    }

    [Fact]
    public void A_token_keeps_the_instant_whatever_the_offset_and_the_extreme_keys()
    {
        var local = new DateTimeOffset(2026, 12, 3, 11, 30, 15, TimeSpan.FromHours(2));
        Assert.Equal(new TaskListKey(local.ToUniversalTime(), "a"), TaskListing.Decode(Filter, TaskListing.Encode(Filter, new TaskListKey(local, "a"))));
        Assert.Equal(DateTimeOffset.MinValue, TaskListing.Decode(Filter, TaskListing.Encode(Filter, new TaskListKey(DateTimeOffset.MinValue, "a")))!.Value.NextRunAt);
        Assert.Equal(DateTimeOffset.MaxValue, TaskListing.Decode(Filter, TaskListing.Encode(Filter, new TaskListKey(DateTimeOffset.MaxValue, "a")))!.Value.NextRunAt);
    }

    [Fact]
    public void The_same_filter_with_its_times_in_another_offset_is_the_same_query()
    {
        var token = TaskListing.Encode(Filter, new TaskListKey(Due, "a"));
        var shifted = Filter with { DueFrom = Filter.DueFrom!.Value.ToOffset(TimeSpan.FromHours(-5)), DueBefore = Filter.DueBefore!.Value.ToOffset(TimeSpan.FromHours(9)) };

        Assert.Equal(new TaskListKey(Due, "a"), TaskListing.Decode(shifted, token));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void No_token_means_the_first_page(string? token) => Assert.Null(TaskListing.Decode(Filter, token));

    [Theory]
    [MemberData(nameof(OtherFilters))]
    public void A_token_from_another_filter_is_refused(DeferredTaskFilter other)
    {
        var token = TaskListing.Encode(Filter, new TaskListKey(Due, "order-42"));

        var error = Assert.Throws<ArgumentException>(() => TaskListing.Decode(other, token));

        Assert.Equal("PageToken", error.ParamName);
        Assert.Contains("belongs to another query", error.Message, StringComparison.Ordinal);
        Assert.Contains(token, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a token")]
    [InlineData("!!!!")]
    [InlineData("AQ")]
    [InlineData("eyJwYWdlIjoyfQ")]
    [InlineData(" ")]
    public void A_garbage_token_is_refused_as_malformed(string token)
    {
        var error = Assert.Throws<ArgumentException>(() => TaskListing.Decode(Filter, token));

        Assert.Equal("PageToken", error.ParamName);
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{token}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_of_another_format_version_or_with_a_bad_key_is_refused_as_malformed()
    {
        var token = Base64Url.DecodeFromChars(TaskListing.Encode(Filter, new TaskListKey(Due, "order-42")));

        var otherVersion = (byte[])token.Clone();
        otherVersion[0] = 2;
        var badTime = (byte[])token.Clone();
        BinaryPrimitives.WriteInt64BigEndian(badTime.AsSpan(9), long.MaxValue);
        var badId = (byte[])token.Clone();
        badId[^1] = 0xFF;
        var noId = token[..17];

        foreach (var bytes in new[] { otherVersion, badTime, badId, noId })
        {
            var error = Assert.Throws<ArgumentException>(() => TaskListing.Decode(Filter, Base64Url.EncodeToString(bytes)));
            Assert.Equal("PageToken", error.ParamName);
            Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_huge_token_is_refused_without_decoding_it_and_shown_shortened()
    {
        var token = new string('A', 100_000);

        var error = Assert.Throws<ArgumentException>(() => TaskListing.Decode(Filter, token));

        Assert.Equal("PageToken", error.ParamName);
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < 400, error.Message);
    }

    [Fact]
    public void A_default_query_and_the_limits_themselves_are_valid()
    {
        DeferredTaskQuery[] valid =
        [
            new(),
            new() { PageSize = 1 },
            new() { PageSize = DeferredTaskQuery.MaxPageSize, Filter = Filter },
            new()
            {
                Filter = new DeferredTaskFilter
                {
                    Status = DeferredTaskStatus.Pending,
                    TaskType = new string('t', TaskListing.MaxFilterTextLength),
                    ErrorContains = new string('e', TaskListing.MaxFilterTextLength),
                    DueFrom = Due,
                    DueBefore = Due.AddTicks(1),
                },
            },
        ];

        // TaskListing.Validate throws on anything it refuses; each of these is at or inside a limit.
        Assert.All(valid, query => Assert.Null(Record.Exception(() => TaskListing.Validate(query))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(DeferredTaskQuery.MaxPageSize + 1)]
    [InlineData(int.MaxValue)]
    public void A_page_size_out_of_range_is_refused_naming_it(int pageSize)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => TaskListing.Validate(new DeferredTaskQuery { PageSize = pageSize }));

        Assert.Equal("PageSize", error.ParamName);
        Assert.Contains($"PageSize is {pageSize}", error.Message, StringComparison.Ordinal);
        Assert.Contains("1 to 500", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Running_is_not_a_status_to_filter_by()
    {
        var error = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskQuery { Filter = new() { Status = DeferredTaskStatus.Running } }));

        Assert.Equal("Filter.Status", error.ParamName);
        Assert.Contains("Running", error.Message, StringComparison.Ordinal);

        var undefined = Assert.Throws<ArgumentOutOfRangeException>(() => TaskListing.Validate(new DeferredTaskFilter { Status = (DeferredTaskStatus)42 }));
        Assert.Equal("Filter.Status", undefined.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void An_empty_due_range_is_refused_naming_it(int hoursAfter)
    {
        var filter = new DeferredTaskFilter { DueFrom = Due.AddHours(hoursAfter), DueBefore = Due };

        var error = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskQuery { Filter = filter }));

        Assert.Equal("Filter.DueFrom", error.ParamName);
        Assert.Contains("DueBefore", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    [InlineData(null, 201)]
    [InlineData(null, 5000)]
    public void Blank_or_overlong_text_filters_are_refused_naming_them(string? text, int length = 0)
    {
        text ??= new string('x', length);

        var type = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskQuery { Filter = new() { TaskType = text } }));
        var error = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskQuery { Filter = new() { ErrorContains = text } }));

        Assert.Equal("Filter.TaskType", type.ParamName);
        Assert.Equal("Filter.ErrorContains", error.ParamName);
        Assert.Contains(length > 0 ? "the limit is 200" : "blank", type.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_filter_is_refused_naming_it()
    {
        var error = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskQuery { Filter = null! }));

        Assert.Equal("Filter", error.ParamName);
    }

    [Fact]
    public void The_listing_starts_after_the_key_but_never_before_DueFrom()
    {
        var from = new DeferredTaskFilter { DueFrom = Due };

        Assert.Null(CatalogListing.StartAfter(new DeferredTaskFilter(), null));
        Assert.Equal(new TaskListKey(Due, "a"), CatalogListing.StartAfter(new DeferredTaskFilter(), new TaskListKey(Due, "a")));
        Assert.Equal(new TaskListKey(Due, ""), CatalogListing.StartAfter(from, null));
        Assert.Equal(new TaskListKey(Due, ""), CatalogListing.StartAfter(from, new TaskListKey(Due.AddMinutes(-1), "z")));
        Assert.Equal(new TaskListKey(Due, "a"), CatalogListing.StartAfter(from, new TaskListKey(Due, "a")));
        Assert.Equal(new TaskListKey(Due.AddMinutes(1), "a"), CatalogListing.StartAfter(from, new TaskListKey(Due.AddMinutes(1), "a")));
    }

    [Fact]
    public void Each_filter_shape_has_its_list_statement()
    {
        Assert.Same(SqlQueries.TasksList, Storage.Postgres.PostgresCatalog.ListStatement(new() { Status = DeferredTaskStatus.Dead, DueFrom = Due }));
        Assert.Same(SqlQueries.TasksListByType, Storage.Postgres.PostgresCatalog.ListStatement(new() { TaskType = "t", Status = DeferredTaskStatus.Dead }));
        Assert.Same(SqlQueries.TasksListByError, Storage.Postgres.PostgresCatalog.ListStatement(new() { TaskType = "t", ErrorContains = "e" }));
        Assert.Same(SqlQueries.TasksListByError, Storage.Postgres.PostgresCatalog.ListStatement(new() { ErrorContains = "e" }));
        Assert.Same(SqlQueries.StockList, Storage.OrleansAdoNet.OrleansAdoNetCatalog.ListStatement(new()));
        Assert.Same(SqlQueries.StockListByType, Storage.OrleansAdoNet.OrleansAdoNetCatalog.ListStatement(new() { TaskType = "t" }));
        Assert.Same(SqlQueries.StockListByError, Storage.OrleansAdoNet.OrleansAdoNetCatalog.ListStatement(new() { ErrorContains = "e" }));
    }

    [Fact]
    public void The_stock_list_statements_name_the_state_their_partial_indexes_cover()
    {
        // A partial index serves a statement only when the statement repeats its predicate as a literal.
        var literal = $"graintypestring = '{TaskRecord.StateName}'";
        var migration = DeferredSchema.Migrations.Single(m => m.Version == 11).Sql;

        Assert.All(new[] { SqlQueries.StockList, SqlQueries.StockListByType, SqlQueries.StockListByError }, sql => Assert.Contains(literal, sql, StringComparison.Ordinal));
        Assert.Contains($"WHERE {literal} AND payloadbinary IS NOT NULL", migration, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\0b")]
    [InlineData("clear\u001b[2J")]
    [InlineData("line\nbreak")]
    [InlineData("c1\u0085")]
    public void Control_characters_in_a_filter_text_are_refused_naming_the_field(string text)
    {
        var byType = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskFilter { TaskType = text }));
        Assert.Equal("Filter.TaskType", byType.ParamName);
        Assert.Contains("control character", byType.Message);
        var byError = Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskFilter { ErrorContains = text }));
        Assert.Equal("Filter.ErrorContains", byError.ParamName);

        // Half a surrogate pair is refused too (a Fact's own literal: theory data would not keep it).
        Assert.Equal("Filter.TaskType", Assert.Throws<ArgumentException>(() => TaskListing.Validate(new DeferredTaskFilter { TaskType = "half \uD800 pair" })).ParamName);

        // Whole surrogate pairs (an emoji) are ordinary text.
        TaskListing.Validate(new DeferredTaskFilter { ErrorContains = "failed \U0001F4A5 twice" });
    }

    [Fact]
    public void A_token_whose_task_id_holds_a_NUL_is_refused_as_malformed()
    {
        var token = TaskListing.Encode(Filter, new TaskListKey(DateTimeOffset.UnixEpoch, "task\0id"));
        var error = Assert.Throws<ArgumentException>(() => TaskListing.Decode(Filter, token));
        Assert.Equal("PageToken", error.ParamName);
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("a\0b", "a\uFFFDb")]
    [InlineData("pair \U0001F4A5 kept", "pair \U0001F4A5 kept")]
    public void A_stored_error_text_replaces_what_PostgreSQL_cannot_store(string text, string stored) =>
        Assert.Equal(stored, Deferred.Execution.ErrorFormatter.Storable(text));

    [Fact]
    public void A_stored_error_text_replaces_half_a_surrogate_pair()
    {
        Assert.Equal("lone \uFFFD low", Deferred.Execution.ErrorFormatter.Storable("lone \uDC00 low"));
        Assert.Equal("cut high\uFFFD", Deferred.Execution.ErrorFormatter.Storable("cut high\uD83D"));
    }
}
