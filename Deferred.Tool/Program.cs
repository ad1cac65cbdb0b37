using Deferred.Tool;

// deferred: Deferred's schema from the command line; the commands are in ToolCommand.
return await ToolCommand.RunAsync(args, Console.Out, Console.Error);
