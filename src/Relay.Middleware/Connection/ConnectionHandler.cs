using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Relay.Admission;
using Relay.Cluster;
using Relay.Configuration;
using Relay.Lifetime;
using Relay.Telemetry;

namespace Relay.Connection;

/// <summary>
/// Serves <c>/connection/{localPeerId}/{remotePeerId}/{documentId}</c>: admits and accepts the socket,
/// and hands it to its <see cref="Pairing"/>, which the first of the two requests starts and the
/// reciprocal one joins. The request lives as long as its socket.
/// </summary>
internal sealed class ConnectionHandler(
    PairingBroker broker,
    RelaySessions sessions,
    PipeBuffers buffers,
    RelaySocketAcceptor acceptor,
    RelayIdPolicy ids,
    RelayOptions options,
    RelayMetrics metrics,
    ClusterPairings pairings,
    PairingForwarder forwarder,
    ILogger<ConnectionHandler> logger)
{
    private readonly PairingServices _services = new(broker, sessions, buffers, metrics, options, logger);

    public async Task HandleAsync(HttpContext context, string? localPeerId, string? remotePeerId, string? documentId)
    {
        // A half another node forwarded was admitted and authorized there; a forged one is refused.
        if (await acceptor.AdmitForwardableAsync(context, forwarder).ConfigureAwait(false) is not { } forwarded)
        {
            return;
        }

        if (!ids.IsValid(localPeerId) || !ids.IsValid(remotePeerId) || !ids.IsValid(documentId))
        {
            await acceptor.RefuseAsync(context, StatusCodes.Status400BadRequest, RejectionReason.InvalidId,
                "Invalid peer or document id.").ConfigureAwait(false);
            return;
        }

        if (!forwarded && !await acceptor.AuthorizeAsync(context, localPeerId!, documentId).ConfigureAwait(false))
        {
            return;
        }

        var key = new PairingKey(localPeerId!, remotePeerId!, documentId!);
        if (!forwarded && pairings.Enabled && await ForwardedAsync(context, key).ConfigureAwait(false))
        {
            return;
        }

        // Taken before the handshake is answered: a client that sends a second request for one key only after
        // its first was answered has the second win, however the two race to the broker.
        var arrival = sessions.NextArrival();
        var (socket, output) = await acceptor.AcceptBatchedAsync(context).ConfigureAwait(false);
        using var disposeSocket = socket;
        var half = new ConnectionHalf(socket, output, _services);

        // Every request arrives as a pairing of one; a request whose partner already waits joins that
        // pairing instead, and the one it brought is dropped unused.
        var arriving = new Pairing(key, half, _services, arrival);
        var waiting = broker.Arrive(arriving, out var replaced);

        // Replaced may be the arriving request itself, when a later one already waits: it then closes with 4409.
        replaced?.EndWait(WaitEndReason.Replaced);
        await (waiting is null ? arriving.RunFirstAsync() : waiting.RunSecondAsync(half)).ConfigureAwait(false);
    }

    /// <summary>
    /// On a cluster, pipes the request to the node its pairing runs on, if that is another, for as long as it lives
    /// (true); false: the pairing runs here.
    /// </summary>
    private async Task<bool> ForwardedAsync(HttpContext context, PairingKey key)
    {
        var (node, url) = await pairings.PlaceAsync(key).ConfigureAwait(false);
        if (url is null || await forwarder.ForwardAsync(context, url).ConfigureAwait(false))
        {
            return url is not null;
        }

        // That node did not answer: take its record over (or find a newer one) and go where it says.
        (_, url) = await pairings.PlaceAsync(key, unreachable: node).ConfigureAwait(false);
        return url is not null && await forwarder.ForwardAsync(context, url).ConfigureAwait(false);
    }
}
