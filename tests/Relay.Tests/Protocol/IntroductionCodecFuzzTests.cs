using System.Buffers.Binary;
using System.Text;
using MessagePack;
using Relay.Protocol;
using Relay.Tests.Infrastructure;
using static Relay.Tests.Protocol.IntroductionParsing;

namespace Relay.Tests.Protocol;

/// <summary>
/// Hostile and random input for both introduction codecs. Seeds are fixed so a failure reproduces; the
/// message names the input. Whatever arrives, <c>Parse</c> must return (never throw), leave the request
/// empty unless it reports a membership, and never allocate in proportion to a length the frame claims.
/// </summary>
public sealed class IntroductionCodecFuzzTests
{
    /// <summary>Bytes <c>Parse</c> may allocate for a frame it refuses (no ids to keep): none are expected.</summary>
    private const long AllocationBound = 1024;

    private static readonly byte[] TypeKey = Str("type");
    private static readonly byte[] DocumentIdsKey = Str("documentIds");
    private static readonly byte[] JoinValue = Str("Join");

    private static readonly (string Json, IntroductionFrame Result)[] JsonMessages =
    [
        ("""{"type":"Join","documentIds":["abc","文档"]}""", IntroductionFrame.Membership),
        ("""{"type":"Leave","documentIds":["abc"]}""", IntroductionFrame.Membership),
        ("""{"type":"Hello","join":["a\"b","\u00e9"],"leave":["c"]}""", IntroductionFrame.Membership),
        ("""{"type":"Heartbeat","meta":{"x":[1,2.5,null,true]}}""", IntroductionFrame.Heartbeat),
    ];

    /// <summary>Encodes strictly, so an id holding a lone surrogate throws instead of turning into U+FFFD.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private delegate (IntroductionFrame Result, IntroductionRequest Request) Parser(ReadOnlySpan<byte> frame);

    public static TheoryData<string> Codecs() => ["MessagePack", "Json"];

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Parse_RandomBytes_NeverThrows(string codec)
    {
        var parse = ParserFor(codec);
        var random = new Random(codec == "Json" ? 1_984 : 20_240_601);
        var buffer = new byte[64];
        for (var i = 0; i < 20_000; i++)
        {
            var frame = buffer.AsSpan(0, random.Next(buffer.Length + 1));
            random.NextBytes(frame);
            AssertConsistent(parse(frame), frame, oneList: codec == "MessagePack");
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Parse_EveryTruncationOfAValidFrame_IsMalformed(string codec)
    {
        var parse = ParserFor(codec);
        foreach (var (frame, expected) in ValidFrames(codec))
        {
            Assert.Equal(expected, parse(frame).Result);
            for (var length = 0; length < frame.Length; length++)
            {
                var parsed = parse(frame.AsSpan(0, length));
                Assert.True(parsed.Result == IntroductionFrame.Malformed, Describe(frame.AsSpan(0, length)) + $" gave {parsed.Result}");
                AssertIgnored(IntroductionFrame.Malformed, parsed);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Parse_EverySingleByteMutationOfAValidFrame_NeverThrows(string codec)
    {
        var parse = ParserFor(codec);
        foreach (var (original, _) in ValidFrames(codec))
        {
            var frame = original.ToArray();
            for (var position = 0; position < frame.Length; position++)
            {
                for (var value = 0; value < 256; value++)
                {
                    frame[position] = (byte)value;
                    AssertConsistent(parse(frame), frame, oneList: codec == "MessagePack");
                }

                frame[position] = original[position];
            }
        }
    }

    [Fact]
    public void MessagePackParse_ValidPrefixThenRandomBytes_NeverThrows()
    {
        // Random tails after a real prefix get past the map header and reach every later branch.
        var random = new Random(7_331);
        var frames = ReferenceClientFrames.All.ToArray();
        var buffer = new byte[512];
        for (var i = 0; i < 20_000; i++)
        {
            var source = frames[random.Next(frames.Length)];
            var prefix = random.Next(1, Math.Min(source.Length, 40));
            var tail = random.Next(24);
            source.AsSpan(0, prefix).CopyTo(buffer);
            random.NextBytes(buffer.AsSpan(prefix, tail));
            var frame = buffer.AsSpan(0, prefix + tail);
            AssertConsistent(ParseMessagePack(frame), frame, oneList: true);
        }
    }

    [Fact]
    public void MessagePackParse_MutationThatStillDecodes_AgreesWithTheIndependentDecoder()
    {
        // Whenever the codec accepts a mutated Join and the test-side decoder can read the frame too, both
        // must see the same documents: the codec never invents, drops or reorders an id.
        var original = ReferenceClientFrames.JoinNonAscii;
        var frame = original.ToArray();
        var compared = 0;
        for (var position = 0; position < frame.Length; position++)
        {
            for (var value = 0; value < 256; value++)
            {
                frame[position] = (byte)value;
                var (result, request) = ParseMessagePack(frame);
                if (result == IntroductionFrame.Membership && TryDecodeIndependently(frame, out var ids))
                {
                    Assert.Equal(ids, request.Join.Count > 0 ? request.Join : request.Leave);
                    compared++;
                }
            }

            frame[position] = original[position];
        }

        // Mutations inside the ids' bytes keep them valid ASCII often enough for this to mean something.
        Assert.True(compared > 500, $"only {compared} mutations were compared");
    }

    public static TheoryData<string, byte, uint> ClaimedLengths()
    {
        var data = new TheoryData<string, byte, uint>();
        foreach (var position in (string[])["root", "key", "type value", "documentIds value", "id", "unknown key's value"])
        {
            foreach (var code in (byte[])[MessagePackCode.Str32, MessagePackCode.Bin32, MessagePackCode.Ext32, MessagePackCode.Array32, MessagePackCode.Map32])
            {
                foreach (var claim in (uint[])[uint.MaxValue, 0x8000_0000, int.MaxValue])
                {
                    data.Add(position, code, claim);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ClaimedLengths))]
    public void Parse_LengthPrefixClaimingFarMoreThanTheFrame_IsMalformedWithoutAllocating(string position, byte code, uint claim)
    {
        var header = new byte[5];
        header[0] = code;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), claim);
        byte[] frame =
        [
            .. position switch
            {
                "root" => header,
                "key" => [0x81, .. header],
                "type value" => [0x81, .. TypeKey, .. header],
                "documentIds value" => [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, .. header],
                "id" => [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x91, .. header],
                _ => [0x82, .. TypeKey, .. JoinValue, .. Str("x"), .. header],
            },
            .. new byte[64], // some bytes, far fewer than claimed
        ];

        var (result, allocated) = ParseMeasuringAllocation(frame);

        Assert.Equal(IntroductionFrame.Malformed, result);
        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Parse_Map32ClaimingFourBillionEntries_IsMalformedWithoutAllocating()
    {
        var (result, allocated) = ParseMeasuringAllocation([0xdf, 0xff, 0xff, 0xff, 0xff, .. TypeKey, .. JoinValue]);

        Assert.Equal(IntroductionFrame.Malformed, result);
        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Parse_Array16WhoseElementsAreNotIds_IsMalformedWithoutPresizingFromTheCount()
    {
        // The claim fits the frame (65,535 one-byte nils), so only the elements themselves can refuse it;
        // a list sized from the count would allocate half a megabyte before the first element is read.
        byte[] frame = [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0xdc, 0xff, 0xff, .. Enumerable.Repeat((byte)0xc0, 65_535)];

        var (result, allocated) = ParseMeasuringAllocation(frame, maxDocuments: int.MaxValue);

        Assert.Equal(IntroductionFrame.Malformed, result);
        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Parse_ArrayCountOverTheLimit_IsTooManyDocumentsBeforeReadingAnId()
    {
        // 1,001 real ids against a limit of 1,000: refused on the count, so no id string is made.
        var ids = Enumerable.Range(0, 1_001).Select(i => $"{i}").ToArray();
        var frame = MsgPack.Join(ids);

        var (result, allocated) = ParseMeasuringAllocation(frame);

        Assert.Equal(IntroductionFrame.TooManyDocuments, result);
        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated");
    }

    [Theory]
    [InlineData(0x91, 1)] // [[[...nil...]]]
    [InlineData(0x81, 3)] // {"a":{"a":{...nil...}}}
    public void Parse_HundredThousandLevelsUnderAnUnknownKey_AreSkippedWithoutRecursionOrAllocation(byte container, int levelSize)
    {
        const int Depth = 100_000;
        var nested = new byte[(Depth * levelSize) + 1];
        for (var i = 0; i < Depth; i++)
        {
            nested[i * levelSize] = container;
            if (levelSize == 3)
            {
                nested[(i * levelSize) + 1] = 0xa1;
                nested[(i * levelSize) + 2] = (byte)'a';
            }
        }

        nested[^1] = 0xc0;
        byte[] frame = [0x82, .. TypeKey, .. Str("Heartbeat"), .. Str("deep"), .. nested];

        var (result, allocated) = ParseMeasuringAllocation(frame);

        Assert.Equal(IntroductionFrame.Heartbeat, result);
        Assert.True(allocated < AllocationBound, $"{allocated} bytes allocated");

        // Without its innermost value the same nesting is malformed.
        Assert.Equal(IntroductionFrame.Malformed, ParseMessagePack(frame.AsSpan(0, frame.Length - 1)).Result);
    }

    [Fact]
    public void Parse_HundredThousandNestedArraysAsDocumentIds_IsMalformed()
    {
        byte[] frame = [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, .. Enumerable.Repeat((byte)0x91, 100_000), .. Str("d")];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    public static TheoryData<string, string> WrongTypes()
    {
        string[] values =
        [
            "c0", "c2", "c3", "01", "ff", "cc80", "ce00000001", "d3ffffffffffffffff", "ca3f800000", "cb3ff0000000000000",
            "c40161", "c5000161", "c600000001" + "61", "c7010161", "d40161", "d801" + new string('0', 32),
            "90", "91a161", "dc0001a161", "80", "81a161a161", "de0001a161a161", "a161", "d90161",
        ];
        var data = new TheoryData<string, string>();
        foreach (var value in values)
        {
            var isString = value.StartsWith('a') || value.StartsWith("d9", StringComparison.Ordinal);
            var isArray = value.StartsWith('9') || value.StartsWith("dc", StringComparison.Ordinal);
            var isMap = value.StartsWith('8') || value.StartsWith("de", StringComparison.Ordinal);
            if (!isMap)
            {
                data.Add("root", value);
            }

            if (!isString)
            {
                data.Add("type value", value);
                data.Add("id", value);
            }

            if (!isArray)
            {
                data.Add("documentIds value", value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public void Parse_WrongTypeInAnyPosition_IsMalformed(string position, string valueHex)
    {
        var value = Convert.FromHexString(valueHex);
        byte[] frame = position switch
        {
            "root" => value,
            "type value" => [0x82, .. TypeKey, .. value, .. DocumentIdsKey, 0x91, .. Str("d")],
            "documentIds value" => [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, .. value],
            _ => [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x92, .. Str("d"), .. value],
        };

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    public static TheoryData<string> InvalidUtf8() => new()
    {
        "80", // a lone continuation byte
        "c3", // a two-byte sequence cut short
        "e6964a", // a three-byte sequence whose last byte is not a continuation
        "c0af", // overlong "/"
        "c1bf", // overlong
        "e080af", // overlong three-byte "/"
        "f08080af", // overlong four-byte "/"
        "eda080", // U+D800, a surrogate, encoded
        "edbfbf", // U+DFFF
        "f4908080", // above U+10FFFF
        "ff",
        "fe",
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void MessagePackParse_InvalidUtf8InAnId_IsMalformed(string bytesHex)
    {
        var bytes = Convert.FromHexString(bytesHex);
        byte[] frame = [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x92, .. Str("ok"), (byte)(0xa0 | (bytes.Length + 1)), (byte)'x', .. bytes];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void JsonParse_InvalidUtf8InAnId_IsMalformed(string bytesHex)
    {
        byte[] frame = [.. """{"join":["ok","x"""u8, .. Convert.FromHexString(bytesHex), .. "\"]}"u8];

        AssertIgnored(IntroductionFrame.Malformed, ParseJson(frame));
    }

    [Theory]
    [InlineData("""{"join":["\ud800"]}""")]
    [InlineData("""{"join":["\udc00"]}""")]
    [InlineData("""{"join":["a\ud83d"]}""")]
    [InlineData("""{"join":["\ud83dx"]}""")]
    [InlineData("""{"join":["\ud83d\ud83d"]}""")]
    [InlineData("""{"join":["\ude00\ud83d"]}""")]
    [InlineData("""{"type":"Join","documentIds":["\ud800"]}""")]
    [InlineData("""{"type":"\ud800","join":["a"]}""")]
    [InlineData("""{"join":["\u12"]}""")]
    [InlineData("""{"join":["\x41"]}""")]
    [InlineData("{\"join\":[\"tab\tinside\"]}")] // control characters must be escaped
    public void JsonParse_BadEscapeOrLoneSurrogate_IsMalformed(string json) => AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));

    [Theory]
    [InlineData('[', ']')]
    [InlineData('{', '}')]
    public void JsonParse_HundredThousandLevels_IsMalformedWithoutRecursing(char open, char close)
    {
        // Objects need keys to nest, so "{" levels are written as {"a":{"a":...}}.
        var level = open == '[' ? "[" : """{"a":""";
        var json = """{"join":["a"],"deep":""" + string.Concat(Enumerable.Repeat(level, 100_000)) + "null" + new string(close, 100_000) + "}";

        AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));
    }

    [Fact]
    public void JsonParse_RandomJsonishText_NeverThrows()
    {
        // Drawn from JSON's own punctuation, the known keys and troublesome bytes, so most inputs get deep.
        string[] pieces =
        [
            "{", "}", "[", "]", ":", ",", "\"", "\\", "\\u", "d800", "dc00", "00e9", " ", "\n", "\"join\"", "\"leave\"",
            "\"type\"", "\"documentIds\"", "\"Join\"", "\"Leave\"", "\"Heartbeat\"", "null", "true", "1", "-2.5e3", "\"a\"", "\xff", "é",
        ];
        var random = new Random(42);
        var text = new StringBuilder();
        for (var i = 0; i < 20_000; i++)
        {
            text.Clear();
            var count = random.Next(1, 24);
            for (var j = 0; j < count; j++)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            // Latin-1 keeps "\xff" a single, invalid, byte.
            var frame = Encoding.Latin1.GetBytes(text.ToString());
            AssertConsistent(ParseJson(frame), frame, oneList: false);
        }
    }

    /// <summary>
    /// What any parse must leave behind: a defined result; an empty request unless a membership; every id
    /// a well-formed string; and, for MessagePack (one type per message), only one of Join and Leave filled.
    /// </summary>
    private static void AssertConsistent((IntroductionFrame Result, IntroductionRequest Request) parsed, ReadOnlySpan<byte> frame, bool oneList)
    {
        var (result, request) = parsed;
        if (!Enum.IsDefined(result))
        {
            Assert.Fail($"{Describe(frame)} gave {result}");
        }

        if (result != IntroductionFrame.Membership && (request.Join.Count > 0 || request.Leave.Count > 0))
        {
            Assert.Fail($"{Describe(frame)} gave {result} but left ids in the request");
        }

        if (oneList && request.Join.Count > 0 && request.Leave.Count > 0)
        {
            Assert.Fail($"{Describe(frame)} both joined and left");
        }

        foreach (var id in request.Join.Concat(request.Leave))
        {
            try
            {
                StrictUtf8.GetByteCount(id);
            }
            catch (EncoderFallbackException)
            {
                Assert.Fail($"{Describe(frame)} produced an id with a lone surrogate");
            }
        }
    }

    private static Parser ParserFor(string codec) =>
        codec == "MessagePack" ? frame => ParseMessagePack(frame) : frame => ParseJson(frame);

    /// <summary>The reference client's frames for MessagePack; cevitxe-, 4.x-shaped and heartbeat objects for JSON.</summary>
    private static IEnumerable<(byte[] Frame, IntroductionFrame Result)> ValidFrames(string codec) =>
        codec == "MessagePack"
            ? ReferenceClientFrames.Memberships.Select(f => (f, IntroductionFrame.Membership))
                .Concat(ReferenceClientFrames.Heartbeats.Select(f => (f, IntroductionFrame.Heartbeat)))
            : JsonMessages.Select(m => (Encoding.UTF8.GetBytes(m.Json), m.Result));

    private static bool TryDecodeIndependently(byte[] frame, out List<string> ids)
    {
        ids = [];
        try
        {
            if (MsgPack.Decode(frame) is Dictionary<string, object?> map && map.TryGetValue("documentIds", out var list) && list is List<object?> items)
            {
                foreach (var item in items)
                {
                    // The test decoder turns invalid UTF-8 into U+FFFD where the codec refuses it.
                    if (item is not string id || id.Contains('\uFFFD', StringComparison.Ordinal))
                    {
                        return false;
                    }

                    ids.Add(id);
                }

                return true;
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidCastException or ArgumentException or MessagePackSerializationException or EndOfStreamException)
        {
            // The test decoder reads less of MessagePack than the codec; such frames are not compared.
        }

        return false;
    }

    private static (IntroductionFrame Result, long Allocated) ParseMeasuringAllocation(byte[] frame, int maxDocuments = DefaultMaxDocuments)
    {
        // The first call pays for JIT and static initialisation. Each measured call gets a fresh request,
        // so capacity an earlier call gave its lists cannot hide a list sized from a claim; the least of
        // three measurements ignores a one-off allocation by the runtime (tiering, on-stack replacement),
        // while an allocation that follows the claim shows in every one.
        var result = MessagePackIntroductionCodec.Parse(frame, maxDocuments, new IntroductionRequest());
        var least = long.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var request = new IntroductionRequest();
            var before = GC.GetAllocatedBytesForCurrentThread();
            MessagePackIntroductionCodec.Parse(frame, maxDocuments, request);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return (result, least);
    }

    private static string Describe(ReadOnlySpan<byte> frame) =>
        frame.Length <= 64 ? $"frame {Convert.ToHexStringLower(frame)}" : $"frame of {frame.Length} bytes starting {Convert.ToHexStringLower(frame[..64])}";
}
