using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using Relay.Targeted;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Targeted;

/// <summary>Every kind of bad input at once: each is refused, none disturbs a connected pair, and none is logged above Debug.</summary>
public sealed class TargetedHostileInputTests
{
    [Fact]
    public async Task BadInputOfEveryKind_IsRefused_WithoutDisturbingOthers_OrLoggingAboveDebug()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?>
        {
            ["Relay:Targeted:AdminKey"] = "an-admin-key-of-some-length",
            ["Relay:Targeted:MaxMessageBytes"] = "4096",
        });
        await using var alice = await TargetedUser.RegisterAndConnectAsync(gateway, "alice");
        await using var bob = await TargetedUser.RegisterAndConnectAsync(gateway, "bob");
        await using var mallory = await TargetedUser.RegisterAndConnectAsync(gateway, "mallory");

        foreach (var body in new[] { "{", "[]", """{"username":1}""", """{"username":"a b"}""", """{"username":""}""", """{"username":"alice"}""", $$"""{"username":"{{new string('x', 300)}}"}""" })
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await gateway.Http.PostAsync("/v1/register", content);
            Assert.True(response.StatusCode is HttpStatusCode.BadRequest || (await response.Content.ReadAsStringAsync()).Contains("TAKEN", StringComparison.Ordinal), body);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/kick-active-users"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "guess");
            using var response = await gateway.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var forged = await gateway.ConnectAsync("/v1/connect", o => o.SetRequestHeader("Cookie", "user_username=alice; user_session=%00%ff")))
        {
            Assert.Equal(4000, (int?)(await forged.ReceiveCloseAsync()).Status);
        }

        var malloryLive = mallory.Socket;
        Assert.Equal(4000, (int?)(await (await mallory.ConnectAsync()).ReceiveCloseAsync()).Status);

        // Garbage of every shape, then a message over the limit.
        foreach (var garbage in new[] { "", "{", "null", "[1,2]", """{"target":{},"type":"x"}""", new string('[', 100) + new string(']', 100) })
        {
            await malloryLive.SendTextAsync(garbage);
        }

        await malloryLive.SendBinaryAsync([0xff, 0xfe, 0x00]);
        await malloryLive.SendTextAsync($$"""{"target":"alice","type":"big","payload":"{{new string('x', 5000)}}"}""");
        Assert.Equal(4413, (int?)(await malloryLive.ReceiveCloseAsync()).Status);

        // alice and bob never noticed.
        await TargetedUser.SendAsync(alice.Socket, "bob", "offer", """{"sdp":"v=0"}""");
        Assert.Equal("""{"originator":"alice","target":"bob","type":"offer","payload":{"sdp":"v=0"}}""", (await bob.Socket.ReceiveMessageAsync()).Text);
        Assert.Equal(WebSocketState.Open, alice.Socket.State);
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.Category.StartsWith("Relay", StringComparison.Ordinal) && e.Level > Microsoft.Extensions.Logging.LogLevel.Debug);
    }
}
