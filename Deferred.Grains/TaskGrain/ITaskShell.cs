namespace Deferred.TaskGrain;

/// <summary>
/// The effects a task's decider (<see cref="TaskActivation"/>) asks of the runtime around it: the one timer, the durable
/// reminder, and a nudge to another task. The Orleans grain (<see cref="DeferredTaskGrain"/>) carries them out; unit
/// tests record them.
/// </summary>
internal interface ITaskShell
{
    /// <summary>
    /// Arms the one timer (replacing an armed one); when it fires, the shell calls <see cref="TaskActivation.OnTimerAsync"/>
    /// under the lock. A timer replaced or cancelled before its callback got the lock never reaches the decider.
    /// </summary>
    void ArmTimer(TimeSpan dueIn);

    /// <summary>Cancels the armed timer, including a callback that fired and still waits for the lock.</summary>
    void CancelTimer();

    /// <summary>Registers (or moves) the task's durable reminder to fire after <paramref name="dueIn"/>.</summary>
    Task RegisterReminderAsync(TimeSpan dueIn);

    /// <summary>Drops the task's reminder; best effort (a reminder with nothing to wake unregisters itself).</summary>
    Task UnregisterReminderAsync();

    /// <summary>Tells the task <paramref name="taskId"/> (waiting for the same ordering key) to look again now; one way.</summary>
    void Wake(string taskId);
}
