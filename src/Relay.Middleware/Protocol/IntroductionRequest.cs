namespace Relay.Protocol;

/// <summary>
/// The documents one client message asks to join and to leave. A session reuses one instance for
/// every message it reads.
/// </summary>
internal sealed class IntroductionRequest
{
    public List<string> Join { get; } = [];

    public List<string> Leave { get; } = [];

    /// <summary>
    /// The JSON dialect the message's arrays show: <see cref="IntroductionDialect.CevitxeJson"/> for <c>join</c> or
    /// <c>leave</c>, <see cref="IntroductionDialect.RelayV3Json"/> for <c>documentIds</c> alone; null when it names
    /// no array (a heartbeat), and for MessagePack frames.
    /// </summary>
    public IntroductionDialect? JsonDialect { get; set; }

    public void Clear()
    {
        Join.Clear();
        Leave.Clear();
        JsonDialect = null;
    }
}
