using System.Text;
using Relay.Protocol;

namespace Relay.Tests.Protocol;

/// <summary>Runs one client frame through a codec with a fresh request and reports both.</summary>
internal static class IntroductionParsing
{
    public const int DefaultMaxDocuments = 1_000;

    public static (IntroductionFrame Result, IntroductionRequest Request) ParseMessagePack(ReadOnlySpan<byte> frame, int maxDocuments = DefaultMaxDocuments)
    {
        var request = new IntroductionRequest();
        var result = MessagePackIntroductionCodec.Parse(frame.ToArray(), maxDocuments, request);
        return (result, request);
    }

    public static (IntroductionFrame Result, IntroductionRequest Request) ParseJson(string json, int maxDocuments = DefaultMaxDocuments) =>
        ParseJson(Encoding.UTF8.GetBytes(json), maxDocuments);

    public static (IntroductionFrame Result, IntroductionRequest Request) ParseJson(ReadOnlySpan<byte> utf8, int maxDocuments = DefaultMaxDocuments)
    {
        var request = new IntroductionRequest();
        var result = JsonIntroductionCodec.Parse(utf8, maxDocuments, request);
        return (result, request);
    }

    /// <summary>A MessagePack string as the reference encoder writes it (fixstr/str8/str16/str32).</summary>
    public static byte[] Str(string value) => Infrastructure.MsgPack.Encode(value);

    /// <summary>Asserts the parse was ignored and left nothing behind in the request.</summary>
    public static void AssertIgnored(IntroductionFrame expected, (IntroductionFrame Result, IntroductionRequest Request) parsed)
    {
        Assert.Equal(expected, parsed.Result);
        Assert.Empty(parsed.Request.Join);
        Assert.Empty(parsed.Request.Leave);
    }
}
