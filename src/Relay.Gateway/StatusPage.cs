using System.Globalization;
using System.Net;

namespace Relay.Gateway;

/// <summary><c>GET /</c>: a small self-contained page saying what this is, with live counts.</summary>
internal static class StatusPage
{
    public static IResult Render(IRelayStatus status)
    {
        var s = status.GetSnapshot();
        var html = string.Create(CultureInfo.InvariantCulture, $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Relay</title>
            <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
            table{border-collapse:collapse}td{padding:.2rem 1rem .2rem 0}td.n{text-align:right;font-variant-numeric:tabular-nums}</style>
            </head><body>
            <h1>Relay</h1>
            <p>A peer relay for local-first and WebRTC apps, running inside this YARP gateway.
            Peers meet at <code>/introduction/{peerId}</code> and are piped together at
            <code>/connection/{localPeerId}/{remotePeerId}/{documentId}</code>; videre rooms, targeted signaling
            and Netflux (sigver) are served beside them.</p>
            <table>
            <tr><td>Connected peers</td><td class="n" id="peers">{{s.Peers}}</td></tr>
            <tr><td>Documents</td><td class="n" id="documents">{{s.Documents}}</td></tr>
            <tr><td>Waiting connections</td><td class="n" id="pending">{{s.PendingConnections}}</td></tr>
            <tr><td>Active pairings</td><td class="n" id="pairings">{{s.ActivePairings}}</td></tr>
            <tr><td>Rooms (users)</td><td class="n" id="rooms">{{s.Rooms}} ({{s.RoomUsers}})</td></tr>
            <tr><td>Targeted signaling: connected (registered)</td><td class="n" id="targeted">{{s.TargetedSessions}} ({{s.TargetedUsers}})</td></tr>
            <tr><td>Netflux peers (groups)</td><td class="n" id="sigver">{{s.SigverPeers}} ({{s.SigverGroups}})</td></tr>
            </table>
            <p>Version {{WebUtility.HtmlEncode(typeof(StatusPage).Assembly.GetName().Version?.ToString())}}.</p>
            </body></html>
            """);
        return Results.Content(html, "text/html; charset=utf-8");
    }
}
