namespace Relay.Targeted;

/// <summary>
/// Registered usernames and the one connected session each may have: the state of targeted signaling, behind
/// an interface so that a cluster implementation can replace the in-process one. Registrations are never
/// removed: they live as long as the gateway (as the original's did), bounded by
/// <see cref="RelayTargetedOptions.MaxRegistrations"/>.
/// </summary>
internal interface ITargetedRegistry
{
    int RegisteredCount { get; }

    int ActiveCount { get; }

    /// <summary>Registers <paramref name="username"/>; on success <paramref name="token"/> is the secret that names this registration in the signed cookie.</summary>
    RegistrationResult Register(string username, out string? token);

    /// <summary>True if <paramref name="username"/> is registered and <paramref name="token"/> is its registration's.</summary>
    bool IsRegistered(string username, string token);

    /// <summary>Makes <paramref name="session"/> its user's connected session, unless the user is unknown or already connected.</summary>
    ConnectResult Connect(TargetedSession session, string token);

    /// <summary>Forgets <paramref name="session"/> if it is still its user's connected session (a kicked or replaced one is not).</summary>
    void Disconnect(TargetedSession session);

    /// <summary>The connected session of <paramref name="username"/>, if any.</summary>
    TargetedSession? FindActive(string username);

    /// <summary>Forgets every connected session and returns them, for the caller to close.</summary>
    List<TargetedSession> RemoveAllActive();
}

internal enum RegistrationResult
{
    Registered,
    Taken,
    Full,
}

internal enum ConnectResult
{
    Connected,
    Unauthenticated,
    AlreadyExists,
}
