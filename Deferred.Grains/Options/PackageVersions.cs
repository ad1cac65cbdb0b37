using System.Reflection;

namespace Deferred;

/// <summary>
/// The versions of the Deferred packages a silo loaded: Deferred.Abstractions (the contracts) and Deferred.Orleans
/// (this runtime) are built together and must be the same version. NuGet lets an app reference a newer
/// Deferred.Abstractions than its Deferred.Orleans asks for; the silo then refuses to start rather than fail later on a
/// missing member.
/// </summary>
internal static class PackageVersions
{
    /// <summary>The problem, naming both versions and the fix; null when they are the same.</summary>
    public static string? Mismatch(Assembly abstractions, Assembly runtime) => Mismatch(Of(abstractions), Of(runtime));

    /// <summary>The problem for the two informational versions; null when they are the same.</summary>
    public static string? Mismatch(string abstractions, string runtime) =>
        abstractions == runtime
            ? null
            : $"the Deferred packages differ in version: Deferred.Abstractions is {abstractions}, Deferred.Orleans is {runtime}; reference the same version of every Deferred.* package";

    /// <summary>An assembly's informational version without the source-control suffix (+commit).</summary>
    public static string Of(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }
}
