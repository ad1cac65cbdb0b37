using Deferred.Benchmarks;
using Deferred.Benchmarks.Systems;

// Parent:  Deferred.Benchmarks [--quick] [--systems ...] [--scenarios ...] ...   (see BenchOptions.Usage)
// Child:   Deferred.Benchmarks run --system X --scenario Y ...                  (started by the parent, one per run)
var connectionString = Environment.GetEnvironmentVariable("DEFERRED_PG_CONNECTION");
try
{
    if (args is ["--help" or "-h", ..])
    {
        Console.Out.WriteLine(BenchOptions.Usage);
        return 0;
    }

    if (string.IsNullOrWhiteSpace(connectionString))
    {
        throw new UsageException("DEFERRED_PG_CONNECTION is not set; run through scripts/bench.sh or set it to an Npgsql connection string");
    }

    if (args is ["run", ..])
    {
        return await ChildRunner.RunAsync(ParseChild(args[1..]), connectionString);
    }

    return await new Orchestrator(BenchOptions.Parse(args), connectionString).RunAsync();
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"bench: {ex.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

static RunSpec ParseChild(string[] args)
{
    string? system = null, scenario = null, serviceId = null;
    int tasks = 0, shortTasks = 0, seconds = 0, concurrency = 64, warmup = 0, timeout = 600, workers = 20, queuePoll = 1000, schedulePoll = 100;
    double rate = 0;
    var verbose = false;
    var reader = new ArgReader(args);
    while (reader.Next() is { } option)
    {
        switch (option)
        {
            case "--system": system = reader.List([.. BenchOptions.AllSystems, .. BenchOptions.ExtraSystems]).Single(); break;
            case "--scenario": scenario = reader.List([.. BenchOptions.AllScenarios, .. BenchOptions.ExtraScenarios, ChildRunner.RecoverySeed]).Single(); break;
            case "--service-id": serviceId = reader.Value(); break;
            case "--tasks": tasks = reader.Int(0); break;
            case "--short-tasks": shortTasks = reader.Int(0); break;
            case "--rate": rate = reader.Double(0); break;
            case "--seconds": seconds = reader.Int(0); break;
            case "--concurrency": concurrency = reader.Int(1, 1024); break;
            case "--warmup": warmup = reader.Int(0); break;
            case "--timeout-seconds": timeout = reader.Int(1); break;
            case "--hangfire-workers": workers = reader.Int(1, 1000); break;
            case "--hangfire-queue-poll-ms": queuePoll = reader.Int(1); break;
            case "--hangfire-schedule-poll-ms": schedulePoll = reader.Int(1); break;
            case "--verbose": verbose = true; break;
            default: throw new UsageException($"unknown option '{option}' for run");
        }
    }

    if (system is null || scenario is null)
    {
        throw new UsageException("run needs --system and --scenario");
    }

    var hangfire = new HangfireSettings(workers, TimeSpan.FromMilliseconds(queuePoll), TimeSpan.FromMilliseconds(schedulePoll));
    return new RunSpec(system, scenario, tasks, shortTasks, rate, seconds, concurrency, warmup, serviceId ?? "bench-" + Guid.NewGuid().ToString("N")[..12], timeout, hangfire, verbose);
}
