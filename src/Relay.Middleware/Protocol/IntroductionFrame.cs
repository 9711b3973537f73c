namespace Relay.Protocol;

/// <summary>What a client frame on the introduction channel turned out to be.</summary>
internal enum IntroductionFrame
{
    /// <summary>Not a well-formed message of either dialect; ignored.</summary>
    Malformed,

    /// <summary>Well formed, but of a type the relay does not act on; ignored.</summary>
    UnknownType,

    /// <summary><c>Heartbeat</c> or <c>❤️</c>: keeps the socket alive, nothing else.</summary>
    Heartbeat,

    /// <summary>Documents to join and/or leave.</summary>
    Membership,

    /// <summary>More documents in one message than the relay accepts.</summary>
    TooManyDocuments,
}
