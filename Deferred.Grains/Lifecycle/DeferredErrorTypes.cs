namespace Deferred.Lifecycle;

/// <summary>The <see cref="DeferredTaskError.Type"/> values Deferred itself records (not exception types).</summary>
internal static class DeferredErrorTypes
{
    /// <summary>The stored task type has no registered handler on this silo.</summary>
    public const string UnknownTaskType = "Deferred.UnknownTaskType";

    /// <summary>The stored task object could not be deserialized.</summary>
    public const string CorruptPayload = "Deferred.CorruptPayload";

    /// <summary>The stored row itself could not be read.</summary>
    public const string CorruptRow = "Deferred.CorruptRow";

    /// <summary>The attempt ran past its timeout and was cancelled.</summary>
    public const string Timeout = "Deferred.Timeout";

    /// <summary>The task was found in flight after its silo went away too many times.</summary>
    public const string Quarantined = "Deferred.Quarantined";

    /// <summary>
    /// A transactional handler committed or rolled back the transaction it was given (Deferred commits it, with the
    /// task's delete): the task is dead at once, since a retry could repeat writes that were committed.
    /// </summary>
    public const string TransactionEnded = "Deferred.TransactionEnded";

    /// <summary>The handler snoozed once more than <c>DeferredOptions.MaxSnoozes</c> allows: counted as a failed attempt.</summary>
    public const string SnoozeLimit = "Deferred.SnoozeLimit";

    /// <summary>A transactional handler returned but its transaction did not commit: nothing of the attempt is stored; it is retried.</summary>
    public const string CommitFailed = "Deferred.CommitFailed";
}
