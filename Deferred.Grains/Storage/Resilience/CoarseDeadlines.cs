using System.Collections.Concurrent;

namespace Deferred.Storage.Resilience;

/// <summary>
/// Cancellation tokens shared by every caller whose deadline falls in the same 50 ms slot. Bounding each enqueue with
/// its own timer cost a timer, a timer-queue lock and a cancellation promise per task; here a slot's token is made once
/// (at most 20 timers a second, whatever the rate) and fires up to one slot late, which a window of seconds does not notice.
/// </summary>
internal sealed class CoarseDeadlines(TimeProvider time)
{
    private static readonly TimeSpan Slot = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest deadline served from a slot; callers give longer ones a timer of their own.</summary>
    public static readonly TimeSpan MaxShared = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _slots = new();

    /// <summary>A token cancelled between <paramref name="left"/> and <paramref name="left"/> plus one slot from now.</summary>
    public CancellationToken After(TimeSpan left)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(left, MaxShared);
        var now = time.GetTimestamp();
        var slotTicks = (long)(Slot.TotalSeconds * time.TimestampFrequency);
        var key = (now + (long)(Math.Max(0, left.TotalSeconds) * time.TimestampFrequency)) / slotTicks + 1;
        if (_slots.TryGetValue(key, out var shared))
        {
            return shared.Token;
        }

        var due = TimeSpan.FromSeconds((double)(key * slotTicks - now) / time.TimestampFrequency);
        var created = new CancellationTokenSource(due, time);
        var winner = _slots.GetOrAdd(key, created);
        if (!ReferenceEquals(winner, created))
        {
            created.Dispose();
            return winner.Token;
        }

        // Forgotten once fired; never disposed, as a caller may still be reading its token.
        created.Token.UnsafeRegister(static s =>
        {
            var (slots, key, cts) = ((ConcurrentDictionary<long, CancellationTokenSource>, long, CancellationTokenSource))s!;
            slots.TryRemove(new KeyValuePair<long, CancellationTokenSource>(key, cts));
        }, (_slots, key, created));
        return created.Token;
    }
}
