namespace Deferred.Tests.Infrastructure;

/// <summary>An exception and its inner ones as one text.</summary>
internal static class ExceptionText
{
    public static string Flatten(Exception error)
    {
        var parts = new List<string>();
        var pending = new Stack<Exception>([error]);
        while (pending.TryPop(out var e))
        {
            parts.Add(e.Message);
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }

        return string.Join(" | ", parts);
    }
}
