using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Deferred.Tests.Infrastructure;

/// <summary>A logger provider that keeps every entry at or above <see cref="MinimumLevel"/>, for tests that count log lines.</summary>
internal sealed class CapturedLogs(LogLevel minimumLevel = LogLevel.Information) : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public LogLevel MinimumLevel { get; } = minimumLevel;

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public int Count(int eventId) => _entries.Count(e => e.EventId == eventId);

    /// <summary>Every entry as one line: level, category, message and the exception with its stack.</summary>
    public IReadOnlyList<string> Lines => [.. _entries.Select(static e => $"{e.Level} {e.Category}: {e.Message} {e.Exception}")];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>One log line: its level, event id, category, message and exception.</summary>
    public sealed record Entry(LogLevel Level, int EventId, string Category, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {EventId} {Category}: {Message}{(Exception is null ? "" : $" [{Exception.GetType().Name}: {Exception.Message}]")}";
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.MinimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._entries.Enqueue(new(logLevel, eventId.Id, category, formatter(state, exception), exception));
            }
        }
    }
}
