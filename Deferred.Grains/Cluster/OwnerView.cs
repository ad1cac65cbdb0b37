using Orleans.Runtime;

namespace Deferred.Cluster;

/// <summary>
/// One sweep's view of which task owners are gone, from this silo's membership snapshot. An owner is gone when the
/// cluster has declared it dead, or when membership does not know it and it started before this silo did (a silo
/// alive when this one joined would be in its snapshot; one that joined later has a newer generation and is never
/// taken for gone). Rows with no owner predate ownership and are adopted by anyone.
/// </summary>
internal sealed class OwnerView
{
    private readonly SiloAddress _me;
    private readonly string _meText;
    private readonly System.Collections.Immutable.ImmutableDictionary<SiloAddress, ClusterMember> _members;
    private readonly string[] _active;
    private readonly int _myIndex;

    public OwnerView(SiloAddress me, ClusterMembershipSnapshot snapshot)
    {
        _me = me;
        _meText = me.ToParsableString();
        _members = snapshot.Members;
        _active = snapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress.ToParsableString())
            .Append(_meText)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();
        _myIndex = Array.IndexOf(_active, _meText);
    }

    /// <summary>True when the owner is gone and its tasks need a new home.</summary>
    public bool IsOrphaned(string? owner)
    {
        if (owner is null)
        {
            return true;
        }

        if (owner == _meText)
        {
            return false;
        }

        SiloAddress address;
        try
        {
            address = SiloAddress.FromParsableString(owner);
        }
        catch (FormatException)
        {
            return true;
        }

        if (_members.TryGetValue(address, out var member))
        {
            return member.Status == SiloStatus.Dead;
        }

        return address.Generation < _me.Generation;
    }

    /// <summary>
    /// For stores that cannot claim rows atomically: splits the orphans between the active silos by a stable hash
    /// of the task id, so silos sweeping together do not resume the same backlog.
    /// </summary>
    public bool IsMyShare(string taskId) => _active.Length <= 1 || (int)(StableHash(taskId) % (uint)_active.Length) == _myIndex;

    private static uint StableHash(string text)
    {
        // FNV-1a over the UTF-16 code units: the same on every silo and every run.
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
