using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;

namespace Deferred.Execution;

/// <summary>Checks <see cref="DeferredOptions"/> when the silo starts and names the option to fix.</summary>
internal sealed class DeferredOptionsValidator(IOptions<DeferredOptions> options, IEnumerable<TaskRegistration> registrations, Orleans.Serialization.Serializer serializer) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        if (options.Value.Store != DeferredStore.Postgres && registrations.FirstOrDefault(r => r.Transactional) is { } transactional)
        {
            throw new NotSupportedException(
                $"Task type '{transactional.Name}' has a transactional handler (AddDeferredTransactionalTaskHandler), which the {options.Value.Store} store does not support: its rows are written by Orleans' storage on its own connections, outside any transaction a handler could share. Use the default store (DeferredOptions.Store = Postgres), or register the handler with AddDeferredTaskHandler.");
        }

        var problems = Validate(options.Value);
        if (PackageVersions.Mismatch(typeof(IDeferredTasks).Assembly, typeof(DeferredOptions).Assembly) is { } mismatch)
        {
            problems.Add(mismatch);
        }

        foreach (var registration in registrations.Where(r => !serializer.CanSerialize(r.TaskType)))
        {
            // Found now rather than at the first enqueue (CodecNotFoundException), naming the type.
            problems.Add($"task type {registration.TaskType.FullName} (handler registered with AddDeferredTaskHandler) has no Orleans serializer; mark it [GenerateSerializer] with [Id(n)] on its members, in an assembly the Orleans code generator runs on (Microsoft.Orleans.Sdk)");
        }

        var known = registrations.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var type in options.Value.ConcurrencyLimits.Keys.Where(t => !known.Contains(t)))
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(DeferredOptions.ConcurrencyLimits)} names task type '{type}', which has no handler on this silo; use the stored name of a registered type ({string.Join(", ", known.Order(StringComparer.Ordinal))})");
        }

        if (problems.Count > 0)
        {
            throw new OrleansConfigurationException(
                "Deferred is misconfigured: " + string.Join("; ", problems) + ".");
        }
    }

    /// <summary>Every problem with <paramref name="o"/>, each naming the option and how to fix it.</summary>
    internal static List<string> Validate(DeferredOptions o)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(o.ConnectionString))
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.ConnectionString)} is not set; set it in AddDeferredTasks(o => o.ConnectionString = ...) or, when AddDeferredTasks binds configuration, as Deferred:ConnectionString (environment: Deferred__ConnectionString)");
        }

        void AtLeast(string name, int value, int min)
        {
            if (value < min)
            {
                problems.Add($"{nameof(DeferredOptions)}.{name} is {value}; it must be at least {min}");
            }
        }

        AtLeast(nameof(o.DefaultMaxAttempts), o.DefaultMaxAttempts, 1);
        AtLeast(nameof(o.MaxConcurrentTasks), o.MaxConcurrentTasks, 1);
        AtLeast(nameof(o.RecoveryPageSize), o.RecoveryPageSize, 1);
        AtLeast(nameof(o.RecoveryConcurrency), o.RecoveryConcurrency, 1);
        AtLeast(nameof(o.RecoveryMaxBacklog), o.RecoveryMaxBacklog, 1);
        AtLeast(nameof(o.MaxStoredStackTraceLength), o.MaxStoredStackTraceLength, 0);
        AtLeast(nameof(o.StoreMaxBatchSize), o.StoreMaxBatchSize, 1);
        AtLeast(nameof(o.StoreMaxBatchesInFlight), o.StoreMaxBatchesInFlight, 1);
        AtLeast(nameof(o.QuarantineAfterInterruptions), o.QuarantineAfterInterruptions, 0);
        AtLeast(nameof(o.MaxSnoozes), o.MaxSnoozes, 0);
        if (o.StoreBatchLinger < TimeSpan.Zero || o.StoreBatchLinger > TimeSpan.FromSeconds(1))
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.StoreBatchLinger)} is {o.StoreBatchLinger}; it must be between 0 and 1 second");
        }

        if (!Enum.IsDefined(o.Store))
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.Store)} is {o.Store}; use {nameof(DeferredStore.Postgres)} or {nameof(DeferredStore.OrleansAdoNet)}");
        }

        void Positive(string name, TimeSpan value)
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"{nameof(DeferredOptions)}.{name} is {value}; it must be greater than zero");
            }
        }

        Positive(nameof(o.TimerThreshold), o.TimerThreshold);
        Positive(nameof(o.ReminderPeriod), o.ReminderPeriod);
        Positive(nameof(o.StoreRetryTimeout), o.StoreRetryTimeout);
        Positive(nameof(o.DuePollInterval), o.DuePollInterval);
        Positive(nameof(o.EnqueueTimeout), o.EnqueueTimeout);
        Positive(nameof(o.DefaultTaskTimeout), o.DefaultTaskTimeout);
        Positive(nameof(o.AbandonAfter), o.AbandonAfter);
        Positive(nameof(o.SweepInterval), o.SweepInterval);
        if (o.CompletedIdRetention < TimeSpan.Zero)
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.CompletedIdRetention)} is {o.CompletedIdRetention}; it must not be negative (zero turns it off)");
        }

        if (o.ShutdownGracePeriod < TimeSpan.Zero)
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.ShutdownGracePeriod)} is {o.ShutdownGracePeriod}; it must not be negative");
        }

        foreach (var (type, limit) in o.ConcurrencyLimits)
        {
            if (limit is null)
            {
                problems.Add($"{nameof(DeferredOptions)}.{nameof(o.ConcurrencyLimits)}['{type}'] is null; remove it or set PerSilo or Cluster");
                continue;
            }

            foreach (var (name, value) in new[] { (nameof(limit.PerSilo), limit.PerSilo), (nameof(limit.Cluster), limit.Cluster) })
            {
                if (value is < 1)
                {
                    problems.Add($"{nameof(DeferredOptions)}.{nameof(o.ConcurrencyLimits)}['{type}'].{name} is {value}; it must be at least 1 (or unset for no bound)");
                }
            }
        }

        foreach (var key in o.CarriedRequestContextKeys)
        {
            if (string.IsNullOrWhiteSpace(key))
            {
                problems.Add($"{nameof(DeferredOptions)}.{nameof(o.CarriedRequestContextKeys)} contains a blank key; remove it");
            }
        }

        if (o.DuePollInterval >= o.TimerThreshold)
        {
            problems.Add($"{nameof(DeferredOptions)}.{nameof(o.DuePollInterval)} is {o.DuePollInterval}; it must be shorter than {nameof(o.TimerThreshold)} ({o.TimerThreshold}), or far tasks would wake late");
        }
        return problems;
    }
}
