using Orleans.Runtime;

namespace Deferred.Cluster;

/// <summary>This silo as a task owner: its address in Orleans' parsable form ("ip:port@generation").</summary>
internal sealed class SiloIdentity(ILocalSiloDetails silo)
{
    private string? _owner;

    /// <summary>The value written to a task's owner column (or JSON field) by this silo.</summary>
    public string Owner => _owner ??= silo.SiloAddress.ToParsableString();

    public SiloAddress Address => silo.SiloAddress;
}
