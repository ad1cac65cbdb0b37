using System.Text.Json;
using Deferred.Silo.Operator;
using Deferred.Tests.Dashboard;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>
/// What the <c>tasks</c> verbs print for people carries third-party text (error messages, stack traces, payloads,
/// ordering keys): no control character may reach the terminal raw, and a column cut must not leave half a sequence.
/// </summary>
public sealed class TaskOutputTests
{
    // Clear screen, set the window title (OSC ... BEL), carriage return to overwrite the line, a C1 CSI, DEL.
    private const string Hostile = "boom\u001b[2J\u001b]0;owned\u0007 back\rover\r\nnext\tcol\u009b31m\u007f end";

    [Fact]
    public void List_escapes_control_characters_visibly_before_cutting_the_error_column()
    {
        // The escape sequence straddles the 60-character cut: cutting first would keep an unterminated OSC.
        var message = new string('x', 40) + "\u001b]0;title-that-never-ends" + Hostile;
        var page = new DeferredTaskPage(
            [
                new DeferredTaskSummary
                {
                    TaskId = "evil-1", TaskType = "shop.\u001b[31mred", Status = DeferredTaskStatus.Dead, Attempts = 3, MaxAttempts = 3,
                    EnqueuedAt = DateTimeOffset.UnixEpoch, NextRunAt = DateTimeOffset.UnixEpoch, LastErrorType = "X.Error\r\n", LastErrorMessage = message, Owner = "silo\u0007",
                },
                new DeferredTaskSummary
                {
                    TaskId = "evil-2", TaskType = "t", Status = DeferredTaskStatus.Dead, Attempts = 3, MaxAttempts = 3,
                    EnqueuedAt = DateTimeOffset.UnixEpoch, NextRunAt = DateTimeOffset.UnixEpoch, LastErrorType = "E", LastErrorMessage = Hostile,
                },
            ],
            null);

        var text = Print(o => o.Page(page));
        AssertNoRawControl(text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains(@"shop.\x1b[31mred", lines[1]);
        Assert.Contains(@"silo\x07", lines[1]);
        Assert.Contains(@"X.Error\r\n: " + new string('x', 40) + @"\x1b", lines[1]);
        Assert.EndsWith("…", lines[1]);
        Assert.True(lines[2].Contains(@"E: boom\x1b[2J\x1b]0;owned\x07 back\rover\r\nnext\tcol\x9b3…", StringComparison.Ordinal), lines[2]);
        Assert.EndsWith("…", lines[2]);
    }

    [Fact]
    public void Show_escapes_control_characters_in_every_field_and_keeps_the_stack_trace_on_its_own_lines()
    {
        var details = new DeferredTaskDetails
        {
            Info = new DeferredTaskInfo
            {
                TaskId = "evil-1", TaskType = "shop.charge", Status = DeferredTaskStatus.Dead, Attempts = 3, MaxAttempts = 3, EnqueuedAt = DateTimeOffset.UnixEpoch,
                LastError = new DeferredTaskError { Type = "X.Error", Message = Hostile, StackTrace = "   at A.B()\r\n   at C.D(\u001b[2J)\n   at E.F()", Attempt = 3, At = DateTimeOffset.UnixEpoch },
            },
            OrderingKey = "key\u001b[H",
            PayloadType = "Shop.Charge\u0085",
            PayloadJson = "not json \u001b]0;x\u0007",
        };

        var text = Print(o => o.Details(details));
        AssertNoRawControl(text);
        Assert.Contains(@"last error:    X.Error: boom\x1b[2J\x1b]0;owned\x07 back\rover\r\nnext\tcol\x9b31m\x7f end", text);
        Assert.Contains(@"key\x1b[H", text);
        Assert.Contains(@"Shop.Charge\x85", text);
        Assert.Contains(@"""not json \u001B]0;x\u0007""", text); // not JSON: shown as a JSON string, escaped as JSON escapes

        // A stack trace keeps its lines (they are the trace's own), each escaped.
        var lines = text.Split('\n');
        Assert.Contains("   at A.B()", lines);
        Assert.Contains(@"   at C.D(\x1b[2J)", lines);
        Assert.Contains("   at E.F()", lines);
    }

    [Fact]
    public void Json_output_stays_valid_json_with_the_text_intact()
    {
        var page = new DeferredTaskPage(
            [new DeferredTaskSummary { TaskId = "evil-1", TaskType = "t", Status = DeferredTaskStatus.Dead, LastErrorType = "E", LastErrorMessage = Hostile }],
            null);
        var writer = new StringWriter();
        new TaskOutput(writer, json: true).Page(page);
        AssertNoRawControl(writer.ToString());
        var back = JsonSerializer.Deserialize<DeferredTaskPage>(writer.ToString(), TaskOutput.JsonOptions)!;
        Assert.Equal(Hostile, back.Tasks[0].LastErrorMessage);
    }

    [Fact]
    public async Task Error_lines_on_stderr_escape_control_characters()
    {
        var operations = new FakeOperator { BulkFailure = new TimeoutException("no answer\u001b]0;owned\u0007\u001b[2J from silo") };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await TaskVerbs.RunAsync(operations, ["purge", "--older-than", "2026-01-01T00:00:00Z"], stdout, stderr);
        Assert.Equal(TaskVerbs.Refused, code);
        AssertNoRawControl(stderr.ToString());
        Assert.Contains(@"no answer\x1b]0;owned\x07\x1b[2J from silo", stderr.ToString());
    }

    private static string Print(Action<TaskOutput> print)
    {
        var writer = new StringWriter { NewLine = "\n" };
        print(new TaskOutput(writer, json: false));
        return writer.ToString();
    }

    /// <summary>Only the line feeds that end lines; nothing from C0, DEL or C1.</summary>
    private static void AssertNoRawControl(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var bad = line.FirstOrDefault(c => char.IsControl(c));
            Assert.True(bad == default, $"raw U+{(int)bad:X4} in: {line}");
        }
    }
}
