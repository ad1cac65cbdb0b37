using System.Globalization;
using Deferred.Tool;
using Xunit;

namespace Deferred.Tests.Unit;

/// <summary>The <c>deferred</c> tool's own commands that need no database.</summary>
public sealed class ToolCommandTests
{
    [Fact]
    public async Task Version_names_the_tool_and_its_version_and_the_schema_it_needs()
    {
        var (code, stdout, stderr) = await RunAsync("version");
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        var toolVersion = typeof(ToolCommand).Assembly.GetName().Version!;
        Assert.Matches($@"^deferred {toolVersion.Major}\.{toolVersion.Minor}\.{toolVersion.Build}\S* \(schema {DeferredSchema.LatestVersion}\)\n$", stdout);
    }

    [Fact]
    public async Task Version_with_schema_prints_only_the_schema_number_for_scripts()
    {
        var (code, stdout, stderr) = await RunAsync("version", "--schema");
        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.Equal(DeferredSchema.LatestVersion.ToString(CultureInfo.InvariantCulture) + "\n", stdout);

        var (badCode, badOut, badErr) = await RunAsync("version", "--shema");
        Assert.Equal(2, badCode);
        Assert.Empty(badOut);
        Assert.Contains("'--shema'", badErr);
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = await ToolCommand.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
