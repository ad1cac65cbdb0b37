namespace Deferred;

/// <summary>Creates and checks task ids. A task id is also the key of the task's grain.</summary>
public static class DeferredTaskId
{
    /// <summary>The longest accepted id. Orleans' reminder table stores "type/key" in 150 characters.</summary>
    public const int MaxLength = 100;

    /// <summary>Creates a new, time-ordered id such as <c>dt-0193f5c2a1b07c3e9d4a5b6c7d8e9f00</c>.</summary>
    public static string NewId() => "dt-" + Guid.CreateVersion7().ToString("N");

    /// <summary>
    /// Checks a caller-chosen id. Allowed: 1 to <see cref="MaxLength"/> characters from <c>A-Z a-z 0-9 - _ . :</c>,
    /// with at least one character that is not a hex digit. The last rule exists because Orleans' ADO.NET
    /// storage reads all-hex keys as numbers or GUIDs, so "abc123" and "ABC123" would share a row.
    /// </summary>
    /// <param name="taskId">The id to check.</param>
    /// <returns>Null when the id is valid; otherwise why it is not.</returns>
    public static string? Validate(string? taskId)
    {
        if (string.IsNullOrEmpty(taskId))
        {
            return "the task id is empty";
        }

        if (taskId.Length > MaxLength)
        {
            return $"the task id is {taskId.Length} characters long; the limit is {MaxLength}";
        }

        var hasNonHex = false;
        foreach (var c in taskId)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                var shown = char.IsControl(c) || char.IsSurrogate(c) ? $"U+{(int)c:X4}" : $"'{c}'";
                return $"the task id contains {shown}; use only letters, digits and - _ . :";
            }

            hasNonHex |= !char.IsAsciiHexDigit(c);
        }

        return hasNonHex
            ? null
            : "the task id is made only of hex digits, which Orleans' ADO.NET storage would read as a number or GUID; add a prefix such as 'order-'";
    }

    /// <summary>
    /// An id as a refusal echoes it: quoted, and cut to <see cref="MaxLength"/> characters with its length when longer,
    /// so a 10,000-character id does not fill the message, the log line or the terminal.
    /// </summary>
    internal static string Quoted(string? taskId) =>
        taskId is null ? "null"
        : taskId.Length <= MaxLength ? $"'{taskId}'"
        : $"'{taskId[..(char.IsHighSurrogate(taskId[MaxLength - 1]) ? MaxLength - 1 : MaxLength)]}…' ({taskId.Length} characters)";
}
