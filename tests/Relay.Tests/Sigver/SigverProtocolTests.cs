using Relay.Sigver.Protocol;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Sigver;

/// <summary>
/// The sigver 18.0.0 state machine on the real gateway, each rule seen from both sides: groups per key, isFirst,
/// binding joiners to members, routing by id, isEnd/isError per direction, stable, tryAnother and the lone-member switch.
/// </summary>
public sealed class SigverProtocolTests
{
    private static readonly byte[] Hello = [1, 2, 3];
    private static readonly byte[] Probe = [0xAB];

    [Fact]
    public async Task FirstPeer_GetsIsFirstTrue_AndTheNextIsFirstFalse_AsTheOriginalsBytes()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var member = await SigverClient.ConnectAsync(gateway, "room");
        Assert.Equal(new byte[] { 0x10, 0x01 }, await member.ReceiveRawAsync());

        await using var joiner = await SigverClient.ConnectAsync(gateway, "room");
        Assert.Equal(new byte[] { 0x10, 0x00 }, await joiner.ReceiveRawAsync());
    }

    [Fact]
    public async Task Content_JoinerToMember_CarriesTheJoinersId_AndMemberToJoiner_CarriesZero()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, first) = await SigverClient.JoinAsync(gateway, "room");
        await using var _ = member;
        Assert.True(first);
        var (joiner, joinerFirst) = await SigverClient.JoinAsync(gateway, "room");
        await using var __ = joiner;
        Assert.False(joinerFirst);

        // The id the joiner writes is ignored: the member sees the id the relay gave the joiner, never 0.
        await joiner.SendDataAsync(12345, Hello);
        var id = await member.ExpectDataAsync(Hello);
        Assert.NotEqual(0u, id);
        Assert.NotEqual(12345u, id);

        await member.SendDataAsync(id, [9, 8]);
        await joiner.ExpectDataAsync(0, [9, 8]);

        // Empty data is relayed as data, both ways.
        await joiner.SendDataAsync(0, []);
        await member.ExpectDataAsync(id, []);
        await member.SendDataAsync(id, []);
        await joiner.ExpectDataAsync(0, []);
    }

    [Fact]
    public async Task MemberContent_ToAnIdThatIsNoJoinerOfIt_GoesNowhere()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await member.SendDataAsync(id + 1, [7]);
        await member.SendDataAsync(0, [7]);
        await joiner.ExpectNothingBeforeAsync(() => member.SendDataAsync(id, Probe), Probe);
    }

    [Fact]
    public async Task JoinerIsEnd_EndsOnlyJoinerToMember_AndItsCloseThenSendsNoError()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await joiner.SendAsync(SigverClient.End(0));
        await member.ExpectAsync(Content.TypeOneofCase.IsEnd, id);

        // Joiner to member is over; member to joiner still flows.
        await joiner.SendDataAsync(0, [5]);
        await member.SendDataAsync(id, [6]);
        await joiner.ExpectDataAsync(0, [6]);

        // Its close sends no isError over the ended direction: the next thing the member sees is a new joiner's data.
        await joiner.DisposeAsync();
        var (other, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var o = other;
        await other.SendDataAsync(0, Probe);
        Assert.Equal(Probe, (await member.ReceiveContentAsync()).Data.ToByteArray());
    }

    [Fact]
    public async Task MemberIsEnd_EndsOnlyMemberToJoiner_AndItsCloseThenSendsNoError()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await member.SendAsync(SigverClient.End(id));
        await joiner.ExpectAsync(Content.TypeOneofCase.IsEnd, 0);
        await member.SendDataAsync(id, [5]);
        await joiner.SendDataAsync(0, [6]);
        await member.ExpectDataAsync(id, [6]);

        // The member leaves: nothing more reaches the joiner over the ended direction, and the group is gone, so
        // its tryAnother makes it the first of a new group.
        await member.DisposeAsync();
        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>().GroupCount == 0, "the member's group is gone");
        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(true);
    }

    [Fact]
    public async Task JoinerIsError_EndsBothDirections()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await joiner.SendAsync(SigverClient.Error(0));
        await member.ExpectAsync(Content.TypeOneofCase.IsError, id);
        await member.SendDataAsync(id, [5]);
        await joiner.SendDataAsync(0, [6]);

        // Neither reached the other: the member's next content is a new joiner's, and the joiner's next message is
        // the answer to its tryAnother (it is bound to that new joiner, now a member).
        var (other, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var o = other;
        await other.SendDataAsync(0, Probe);
        await member.ExpectDataAsync(Probe);
        await other.BecomeMemberAsync(gateway, "room", 2);
        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(false);
    }

    [Fact]
    public async Task MemberIsError_EndsBothDirections()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await member.SendAsync(SigverClient.Error(id));
        await joiner.ExpectAsync(Content.TypeOneofCase.IsError, 0);
        await joiner.SendDataAsync(0, [6]);
        await member.SendDataAsync(id, [5]);

        // The binding is gone on both sides: the next content the member sees is a new joiner's.
        var (other, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var o = other;
        await other.SendDataAsync(0, Probe);
        Assert.Equal(Probe, (await member.ReceiveContentAsync()).Data.ToByteArray());
        await joiner.SendTryAnotherAsync();
        Assert.Equal(Message.TypeOneofCase.IsFirst, (await joiner.ReceiveAsync()).TypeCase);
    }

    [Fact]
    public async Task JoinerCloses_MemberGetsIsErrorWithItsId()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, joiner, id) = await SigverClient.BoundPairAsync(gateway, Hello);
        await using var m = member;
        await using var j = joiner;

        await joiner.DisposeAsync();

        await member.ExpectAsync(Content.TypeOneofCase.IsError, id);
    }

    [Fact]
    public async Task MemberCloses_JoinerGetsIsErrorWithIdZero_AndTheGroupIsGone()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;

        await member.DisposeAsync();

        await joiner.ExpectAsync(Content.TypeOneofCase.IsError, 0);
        var (next, first) = await SigverClient.JoinAsync(gateway, "room");
        await using var n = next;
        Assert.True(first);
    }

    [Fact]
    public async Task Joiner_IsBoundToTheOldestUntriedMember_AndTryAnotherWalksTheMembers_ThenStartsOver()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (first, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m1 = first;
        var (second, isFirst) = await SigverClient.JoinAsync(gateway, "room");
        await using var m2 = second;
        Assert.False(isFirst);
        await second.BecomeMemberAsync(gateway, "room", 2);

        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;
        await joiner.SendDataAsync(0, [1]);
        await first.ExpectDataAsync([1]);

        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(false);
        await joiner.SendDataAsync(0, [2]);
        await second.ExpectDataAsync([2]);

        // Every member tried: the list starts over at the oldest.
        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(false);
        await joiner.SendDataAsync(0, [3]);
        await first.ExpectDataAsync([3]);
    }

    [Fact]
    public async Task Rebinding_DropsTheOldBindingSilently_AndGivesAFreshId()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var (other, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var o = other;
        await other.BecomeMemberAsync(gateway, "room", 2);
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;
        await joiner.SendDataAsync(0, [1]);
        var oldId = await member.ExpectDataAsync([1]);

        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(false);
        await joiner.SendTryAnotherAsync();
        await joiner.ExpectIsFirstAsync(false);
        await joiner.SendDataAsync(0, [2]);
        var newId = await member.ExpectDataAsync([2]);

        // The member's old id for the joiner reaches nothing; no isError was sent for the dropped binding.
        await member.SendDataAsync(oldId, [9]);
        await joiner.ExpectNothingBeforeAsync(() => member.SendDataAsync(newId, Probe), Probe);
        Assert.NotEqual(0u, newId);
    }

    [Fact]
    public async Task LoneMemberAlreadyTried_IsClosedWith4004_AndTheJoinerTakesItsPlace()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;

        await joiner.SendTryAnotherAsync();

        // First the isError of the binding to the member that goes, then isFirst:true.
        await joiner.ExpectAsync(Content.TypeOneofCase.IsError, 0);
        await joiner.ExpectIsFirstAsync(true);
        Assert.Equal(RelayCloseCodes.SigverBlockingMember, await member.ExpectCloseAsync());

        // The joiner is now the group's member: the next peer is bound to it.
        var (next, first) = await SigverClient.JoinAsync(gateway, "room");
        await using var n = next;
        Assert.False(first);
        await next.SendDataAsync(0, Hello);
        Assert.NotEqual(0u, await joiner.ExpectDataAsync(Hello));
    }

    [Fact]
    public async Task LoneMemberTryAnother_StaysMember_AndIsNotBoundToItself()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;

        await member.SendTryAnotherAsync();
        await member.ExpectIsFirstAsync(true);

        // Not bound to itself: its content addressed to any id reaches nobody, and a joiner is still bound to it.
        await member.SendDataAsync(0, [1]);
        var (joiner, first) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;
        Assert.False(first);
        await joiner.SendDataAsync(0, Hello);
        var id = await member.ExpectDataAsync(Hello);
        await member.SendDataAsync(id, Probe);
        await joiner.ExpectDataAsync(0, Probe);
    }

    [Fact]
    public async Task Stable_MakesTheJoinerAMember_AndItsBindingOutlivesIt()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;

        await joiner.SendAsync(new Message { Stable = false }); // any value counts
        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>().MemberCount("room") == 2, "the joiner is a member");

        // Still bound to the member it joined through.
        await joiner.SendDataAsync(0, Hello);
        var id = await member.ExpectDataAsync(Hello);

        // A member now: after the first member has been tried, a new peer is bound to the second.
        var (next, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var n = next;
        await next.SendTryAnotherAsync();
        await next.ExpectIsFirstAsync(false);
        await next.SendDataAsync(0, [4]);
        var nextId = await joiner.ExpectDataAsync([4]);

        // The joiner-member's content goes both ways: to its member (as joiner) and to its joiner with that id.
        await joiner.SendDataAsync(nextId, [5]);
        await member.ExpectDataAsync(id, [5]);
        await next.ExpectDataAsync(0, [5]);
    }

    [Fact]
    public async Task Stable_AfterTheGroupVanished_MakesItAgain()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var j = joiner;
        await member.DisposeAsync();
        await joiner.ExpectAsync(Content.TypeOneofCase.IsError, 0);

        await Eventually.TrueAsync(() => gateway.GetService<Relay.Sigver.ISigverGroups>().GroupCount == 0, "the group is gone");

        await joiner.BecomeMemberAsync(gateway, "room", 1);

        var (next, first) = await SigverClient.JoinAsync(gateway, "room");
        await using var n = next;
        Assert.False(first);
        await next.SendDataAsync(0, Hello);
        await joiner.ExpectDataAsync(Hello);
    }

    [Fact]
    public async Task JoinerIds_AreUniqueWithinAMember_AndNeverZero()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (member, _) = await SigverClient.JoinAsync(gateway, "room");
        await using var m = member;
        var joiners = new List<SigverClient>();
        var ids = new HashSet<uint>();
        for (var i = 0; i < 20; i++)
        {
            var (joiner, _) = await SigverClient.JoinAsync(gateway, "room");
            joiners.Add(joiner);
            await joiner.SendDataAsync(0, [(byte)i]);
            ids.Add(await member.ExpectDataAsync([(byte)i]));
        }

        Assert.Equal(20, ids.Count);
        Assert.DoesNotContain(0u, ids);
        foreach (var joiner in joiners)
        {
            await joiner.DisposeAsync();
        }
    }

    [Fact]
    public async Task Keys_AreSeparateGroups_TakenRawAfterTheMount()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (a, aFirst) = await SigverClient.JoinAsync(gateway, "a/b");
        await using var _a = a;
        var (encoded, encodedFirst) = await SigverClient.JoinAsync(gateway, "a%2Fb");
        await using var _e = encoded;
        var (other, otherFirst) = await SigverClient.JoinAsync(gateway, "other");
        await using var _o = other;
        var (query, queryFirst) = await SigverClient.JoinAsync(gateway, "a/b?x=1");
        await using var _q = query;

        Assert.True(aFirst);
        Assert.True(encodedFirst); // %2F is not decoded: another key
        Assert.True(otherFirst);
        Assert.False(queryFirst); // the query string is no part of the key
        Assert.Equal(3, gateway.GetService<Relay.Sigver.ISigverGroups>().GroupCount);
    }

    [Theory]
    [InlineData("/sigver")]
    [InlineData("/sigver/")]
    public async Task EmptyKey_IsClosedWith4001(string path)
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var peer = await SigverClient.ConnectAsync(gateway, path);

        Assert.Equal(RelayCloseCodes.SigverInvalidKey, await peer.ExpectCloseAsync());
    }

    [Fact]
    public async Task KeyOf512Characters_IsAccepted_AndOf513_IsClosedWith4001_CountingEscapesRaw()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (longest, first) = await SigverClient.JoinAsync(gateway, new string('k', 512));
        await using var l = longest;
        Assert.True(first);

        await using var tooLong = await SigverClient.ConnectAsync(gateway, new string('k', 513));
        Assert.Equal(RelayCloseCodes.SigverInvalidKey, await tooLong.ExpectCloseAsync());

        // 511 characters decoded, 513 raw: the original counts the raw path.
        await using var escaped = await SigverClient.ConnectAsync(gateway, new string('k', 510) + "%25");
        Assert.Equal(RelayCloseCodes.SigverInvalidKey, await escaped.ExpectCloseAsync());
        Assert.Equal(1, gateway.GetService<Relay.Sigver.ISigverGroups>().PeerCount);
    }
}
