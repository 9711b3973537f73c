using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Relay.Admission;
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
    ILogger<ConnectionHandler> logger)
{
    private readonly PairingServices _services = new(broker, sessions, buffers, metrics, options, logger);

    public async Task HandleAsync(HttpContext context, string? localPeerId, string? remotePeerId, string? documentId)
    {
        if (!await acceptor.AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        if (!ids.IsValid(localPeerId) || !ids.IsValid(remotePeerId) || !ids.IsValid(documentId))
        {
            await acceptor.RefuseAsync(context, StatusCodes.Status400BadRequest, RejectionReason.InvalidId,
                "Invalid peer or document id.").ConfigureAwait(false);
            return;
        }

        if (!await acceptor.AuthorizeAsync(context, localPeerId!, documentId).ConfigureAwait(false))
        {
            return;
        }

        var (socket, output) = await acceptor.AcceptBatchedAsync(context).ConfigureAwait(false);
        using var disposeSocket = socket;
        var half = new ConnectionHalf(socket, output, _services);

        // Every request arrives as a pairing of one; a request whose partner already waits joins that
        // pairing instead, and the one it brought is dropped unused.
        var arriving = new Pairing(new PairingKey(localPeerId!, remotePeerId!, documentId!), half, _services);
        var waiting = broker.Arrive(arriving, out var replaced);
        replaced?.EndWait(WaitEndReason.Replaced);
        await (waiting is null ? arriving.RunFirstAsync() : waiting.RunSecondAsync(half)).ConfigureAwait(false);
    }
}
