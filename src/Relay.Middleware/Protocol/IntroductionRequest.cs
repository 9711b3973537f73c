namespace Relay.Protocol;

/// <summary>
/// The documents one client message asks to join and to leave. A session reuses one instance for
/// every message it reads.
/// </summary>
internal sealed class IntroductionRequest
{
    public List<string> Join { get; } = [];

    public List<string> Leave { get; } = [];

    public void Clear()
    {
        Join.Clear();
        Leave.Clear();
    }
}
