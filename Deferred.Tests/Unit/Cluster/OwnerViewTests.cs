using System.Collections.Immutable;
using System.Net;
using Deferred.Cluster;
using Orleans.Runtime;
using Xunit;

namespace Deferred.Tests.Unit;

public sealed class OwnerViewTests
{
    private static readonly SiloAddress Me = SiloAddress.New(IPAddress.Loopback, 11111, 1_000);
    private static readonly SiloAddress Alive = SiloAddress.New(IPAddress.Loopback, 11112, 900);
    private static readonly SiloAddress Dead = SiloAddress.New(IPAddress.Loopback, 11113, 800);

    private static OwnerView View() => new(Me, new ClusterMembershipSnapshot(
        ImmutableDictionary<SiloAddress, ClusterMember>.Empty
            .Add(Me, new ClusterMember(Me, SiloStatus.Active, "me"))
            .Add(Alive, new ClusterMember(Alive, SiloStatus.Active, "alive"))
            .Add(Dead, new ClusterMember(Dead, SiloStatus.Dead, "dead")),
        new MembershipVersion(3)));

    [Fact]
    public void Only_owners_that_are_gone_are_orphaned()
    {
        var view = View();
        Assert.False(view.IsOrphaned(Me.ToParsableString()));
        Assert.False(view.IsOrphaned(Alive.ToParsableString()));
        Assert.True(view.IsOrphaned(Dead.ToParsableString()));
        Assert.True(view.IsOrphaned(null));
        Assert.True(view.IsOrphaned("not a silo address"));

        // Unknown to membership: gone if it started before this silo, not yet seen if it started after.
        Assert.True(view.IsOrphaned(SiloAddress.New(IPAddress.Loopback, 11111, 999).ToParsableString()));
        Assert.False(view.IsOrphaned(SiloAddress.New(IPAddress.Loopback, 11114, 1_001).ToParsableString()));
    }

    [Fact]
    public void The_active_silos_shares_cover_every_task_exactly_once()
    {
        var me = View();
        var other = new OwnerView(Alive, new ClusterMembershipSnapshot(
            ImmutableDictionary<SiloAddress, ClusterMember>.Empty
                .Add(Me, new ClusterMember(Me, SiloStatus.Active, "me"))
                .Add(Alive, new ClusterMember(Alive, SiloStatus.Active, "alive")),
            new MembershipVersion(3)));
        var ids = Enumerable.Range(0, 1000).Select(i => $"task-{i}").ToList();
        Assert.All(ids, id => Assert.True(me.IsMyShare(id) ^ other.IsMyShare(id)));
        Assert.InRange(ids.Count(me.IsMyShare), 400, 600);
    }
}
