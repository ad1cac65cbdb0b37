namespace Deferred.Lifecycle;

/// <summary>How a store wakes tasks due beyond the timer threshold (a capability the store declares).</summary>
internal enum FarWakeup
{
    /// <summary>The silo's due-time poller reads due rows and resumes them; the task is only a row until then.</summary>
    Poller,

    /// <summary>A durable Orleans reminder, registered before the row is written.</summary>
    Reminder,
}

/// <summary>The kinds of wake-up a live task can wait on.</summary>
internal enum WakeKind
{
    /// <summary>Nothing to wake: the task is dead, deleted or completed.</summary>
    None,

    /// <summary>An in-memory timer in the task's activation.</summary>
    Timer,

    /// <summary>A durable reminder; the activation may go.</summary>
    Reminder,

    /// <summary>The due-time poller; the activation may go.</summary>
    Poller,
}

/// <summary>The one wake-up a task waits on, and in how long it is due.</summary>
internal readonly record struct WakePlan(WakeKind Kind, TimeSpan DueIn)
{
    /// <summary>
    /// Plans the wake-up of <paramref name="record"/>: a timer when it is due within <paramref name="threshold"/>
    /// (at once when overdue), else whatever the store wakes far tasks with.
    /// </summary>
    public static WakePlan For(TaskRecord? record, DateTimeOffset now, TimeSpan threshold, FarWakeup far)
    {
        if (record is not { IsLive: true })
        {
            return new(WakeKind.None, TimeSpan.Zero);
        }

        var wait = record.NextRunAt - now;
        if (wait <= threshold)
        {
            return new(WakeKind.Timer, wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        }

        return new(far == FarWakeup.Reminder ? WakeKind.Reminder : WakeKind.Poller, wait);
    }
}
