namespace Relay.Tests.Protocol;

/// <summary>
/// Exact bytes the reference client sends. @localfirst/relay 4.2.2 encodes every message with
/// <c>encode</c> from msgpackr 1.12.1 (its <c>dist/lib/msgpack.js</c>); each fixture was printed with
/// <code>
/// cd tests/interop &amp;&amp; npm ci
/// node --input-type=module -e 'import { encode } from "msgpackr";
///   console.log(Buffer.from(encode(MESSAGE)).toString("hex"))'
/// </code>
/// where MESSAGE is the object named on each fixture. Long ids are <c>"a".repeat(n)</c>; their fixtures
/// keep msgpackr's header verbatim and spell out the repeated <c>61</c> bytes with <see cref="Repeat"/>.
/// </summary>
internal static class ReferenceClientFrames
{
    /// <summary><c>{type:"Join", documentIds:["abc"]}</c>: map16 even for two entries, fixstr everywhere.</summary>
    public static byte[] JoinOne => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647391a3616263");

    /// <summary><c>{type:"Join", documentIds:["doc-0", …, "doc-19"]}</c>: array16 for twenty ids.</summary>
    public static byte[] JoinTwenty => Hex(
        "de0002a474797065a44a6f696eab646f63756d656e74496473dc0014" +
        "a5646f632d30a5646f632d31a5646f632d32a5646f632d33a5646f632d34a5646f632d35a5646f632d36a5646f632d37a5646f632d38a5646f632d39" +
        "a6646f632d3130a6646f632d3131a6646f632d3132a6646f632d3133a6646f632d3134a6646f632d3135a6646f632d3136a6646f632d3137a6646f632d3138a6646f632d3139");

    /// <summary><c>{type:"Leave", documentIds:["abc"]}</c>.</summary>
    public static byte[] LeaveOne => Hex("de0002a474797065a54c65617665ab646f63756d656e7449647391a3616263");

    /// <summary><c>{type:"Heartbeat"}</c>: what the 4.2.2 client sends every 55 s.</summary>
    public static byte[] Heartbeat => Hex("de0001a474797065a9486561727462656174");

    /// <summary><c>{type:"❤️"}</c>: the heartbeat the 4.x server matched (U+2764 U+FE0F, six bytes).</summary>
    public static byte[] Heart => Hex("de0001a474797065a6e29da4efb88f");

    /// <summary><c>{type:"Join", documentIds:["a".repeat(31)]}</c>: the longest fixstr.</summary>
    public static byte[] JoinId31 => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647391bf" + Repeat("61", 31));

    /// <summary><c>{type:"Join", documentIds:["a".repeat(32)]}</c>: the shortest str8.</summary>
    public static byte[] JoinId32 => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647391d920" + Repeat("61", 32));

    /// <summary><c>{type:"Join", documentIds:["a".repeat(255)]}</c>: the longest str8.</summary>
    public static byte[] JoinId255 => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647391d9ff" + Repeat("61", 255));

    /// <summary><c>{type:"Join", documentIds:["a".repeat(256)]}</c>: the shortest str16.</summary>
    public static byte[] JoinId256 => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647391da0100" + Repeat("61", 256));

    /// <summary><c>{type:"Join", documentIds:["café", "文档", "😀"]}</c>.</summary>
    public static byte[] JoinNonAscii => Hex("de0002a474797065a44a6f696eab646f63756d656e7449647393a5636166c3a9a6e69687e6a1a3a4f09f9880");

    /// <summary>Every Join and Leave above.</summary>
    public static IEnumerable<byte[]> Memberships => [JoinOne, JoinTwenty, LeaveOne, JoinId31, JoinId32, JoinId255, JoinId256, JoinNonAscii];

    /// <summary>Both heartbeats above.</summary>
    public static IEnumerable<byte[]> Heartbeats => [Heartbeat, Heart];

    /// <summary>Every fixture above, for tests that mutate or truncate real frames.</summary>
    public static IEnumerable<byte[]> All => Memberships.Concat(Heartbeats);

    public static byte[] Hex(string hex) => Convert.FromHexString(hex);

    public static string Repeat(string hex, int count) => string.Concat(Enumerable.Repeat(hex, count));
}
