namespace Relay.Lifetime;

/// <summary>A live relay socket (a peer, or one half of a pairing) that the relay's clock and shutdown reach.</summary>
internal interface IRelaySession
{
    /// <summary>Checks this session's deadlines (idle, pending, stall, close handshake) against <paramref name="now"/>.</summary>
    void OnTick(long now);

    /// <summary>Starts closing with 1001 because the gateway is shutting down.</summary>
    void CloseForShutdown();

    /// <summary>Aborts the socket(s) at once: the drain timeout has passed.</summary>
    void Abort();
}
