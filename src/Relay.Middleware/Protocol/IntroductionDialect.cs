namespace Relay.Protocol;

/// <summary>Which client a peer's messages show it to be, and so the shape its introductions are sent in.</summary>
internal enum IntroductionDialect
{
    /// <summary>@localfirst/relay 4.x: binary MessagePack, answered <c>{type:"Introduction", peerId, documentIds}</c>. The default.</summary>
    MessagePack,

    /// <summary>cevitxe-signal-server: JSON text with <c>join</c>/<c>leave</c> arrays, answered <c>{"type":"Introduction","id":...,"keys":[...]}</c>.</summary>
    CevitxeJson,

    /// <summary>@localfirst/relay 3.x: JSON text with <c>documentIds</c>, answered <c>{"type":"Introduction","userName":...,"documentIds":[...]}</c>.</summary>
    RelayV3Json,
}
