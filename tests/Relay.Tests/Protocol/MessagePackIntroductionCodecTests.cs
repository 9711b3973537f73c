using Relay.Protocol;
using Relay.Tests.Infrastructure;
using static Relay.Tests.Protocol.IntroductionParsing;

namespace Relay.Tests.Protocol;

public sealed class MessagePackIntroductionCodecTests
{
    private static readonly byte[] TypeKey = Str("type");
    private static readonly byte[] DocumentIdsKey = Str("documentIds");
    private static readonly byte[] JoinValue = Str("Join");

    [Fact]
    public void Parse_ReferenceJoinOfOne_IsMembershipJoiningIt()
    {
        var (result, request) = ParseMessagePack(ReferenceClientFrames.JoinOne);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["abc"], request.Join);
        Assert.Empty(request.Leave);
    }

    [Fact]
    public void Parse_ReferenceJoinOfTwenty_JoinsAllInOrder()
    {
        var (result, request) = ParseMessagePack(ReferenceClientFrames.JoinTwenty);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"doc-{i}"), request.Join);
    }

    [Fact]
    public void Parse_ReferenceLeave_IsMembershipLeavingIt()
    {
        var (result, request) = ParseMessagePack(ReferenceClientFrames.LeaveOne);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Empty(request.Join);
        Assert.Equal(["abc"], request.Leave);
    }

    [Fact]
    public void Parse_ReferenceHeartbeat_IsHeartbeat() =>
        AssertIgnored(IntroductionFrame.Heartbeat, ParseMessagePack(ReferenceClientFrames.Heartbeat));

    [Fact]
    public void Parse_HeartOfTheFourXServer_IsHeartbeat() =>
        AssertIgnored(IntroductionFrame.Heartbeat, ParseMessagePack(ReferenceClientFrames.Heart));

    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(255)]
    [InlineData(256)]
    public void Parse_ReferenceIdsAtStringWidthBoundaries_ReadWholeId(int length)
    {
        var frame = length switch
        {
            31 => ReferenceClientFrames.JoinId31,
            32 => ReferenceClientFrames.JoinId32,
            255 => ReferenceClientFrames.JoinId255,
            _ => ReferenceClientFrames.JoinId256,
        };

        var (result, request) = ParseMessagePack(frame);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal([new string('a', length)], request.Join);
    }

    [Fact]
    public void Parse_ReferenceNonAsciiIds_DecodesUtf8()
    {
        var (result, request) = ParseMessagePack(ReferenceClientFrames.JoinNonAscii);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["café", "文档", "😀"], request.Join);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Parse_DocumentIdsBeforeType_IsStillAJoin(bool map16)
    {
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["documentIds"] = new[] { "x", "y" }, ["type"] = "Join" }, map16);

        var (result, request) = ParseMessagePack(frame);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["x", "y"], request.Join);
    }

    [Fact]
    public void Parse_EveryContainerAndStringWidth_IsAccepted()
    {
        // map32 { str32 "type": str16 "Join", str8 "documentIds": array32 [str32 "a", str16 "b", str8 "c"] }
        var frame = Convert.FromHexString(
            "df00000002" +
            "db00000004" + "74797065" + "da0004" + "4a6f696e" +
            "d90b" + "646f63756d656e74496473" + "dd00000003" + "db0000000161" + "da000162" + "d90163");

        var (result, request) = ParseMessagePack(frame);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a", "b", "c"], request.Join);
    }

    [Fact]
    public void Parse_UnknownKeysOfEveryType_AreSkipped()
    {
        // Unknown keys before, between and after the known ones, their values of every shape.
        byte[] frame =
        [
            0xde, 0x00, 0x06,
            .. Str("version"), 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
            .. TypeKey, .. JoinValue,
            .. Str("meta"), 0x82, .. Str("bin"), 0xc4, 0x02, 0xff, 0xfe, .. Str("ext"), 0xd6, 0x01, 1, 2, 3, 4,
            .. DocumentIdsKey, 0x91, .. Str("d"),
            .. Str("nested"), 0x91, 0x91, 0x91, 0x80,
            .. Str("nil"), 0xc0,
        ];

        var (result, request) = ParseMessagePack(frame);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["d"], request.Join);
    }

    [Fact]
    public void Parse_NonStringKey_IsSkippedLikeAnyUnknownKey()
    {
        // msgpackr (the 4.x server's decoder) turns {1: nil, true: "x"} into {"1": null, "true": "x"}
        // and the server reads on; a Join must not be lost for a key it never looks at.
        byte[] frame =
        [
            0x84,
            0x01, 0xc0,
            0xc3, .. Str("x"),
            .. TypeKey, .. JoinValue,
            .. DocumentIdsKey, 0x91, .. Str("d"),
        ];

        var (result, request) = ParseMessagePack(frame);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["d"], request.Join);
    }

    [Fact]
    public void Parse_NonStringKeyWithItsValueMissing_IsMalformed()
    {
        byte[] frame = [0x82, .. TypeKey, .. JoinValue, 0x01];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_DuplicateType_IsMalformed()
    {
        // Which one would the sender mean? Ambiguous frames are refused rather than guessed at.
        byte[] frame = [0x83, .. TypeKey, .. Str("Leave"), .. DocumentIdsKey, 0x91, .. Str("d"), .. TypeKey, .. JoinValue];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_DuplicateDocumentIds_IsMalformed()
    {
        byte[] frame = [0x83, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x91, .. Str("a"), .. DocumentIdsKey, 0x91, .. Str("b")];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_MissingType_IsUnknownTypeAndJoinsNothing()
    {
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["documentIds"] = new[] { "d" } });

        AssertIgnored(IntroductionFrame.UnknownType, ParseMessagePack(frame));
    }

    [Theory]
    [InlineData("Introduction")]
    [InlineData("join")]
    [InlineData("")]
    [InlineData("Join ")]
    public void Parse_OtherType_IsUnknownTypeAndJoinsNothing(string type)
    {
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["type"] = type, ["documentIds"] = new[] { "d" } });

        AssertIgnored(IntroductionFrame.UnknownType, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_HeartbeatWithDocumentIds_JoinsNothing()
    {
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["type"] = "Heartbeat", ["documentIds"] = new[] { "d" } });

        AssertIgnored(IntroductionFrame.Heartbeat, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_EmptyMap_IsUnknownType() => AssertIgnored(IntroductionFrame.UnknownType, ParseMessagePack([0x80]));

    [Fact]
    public void Parse_JoinWithoutDocumentIds_IsAnEmptyMembership()
    {
        var (result, request) = ParseMessagePack(MsgPack.Heartbeat("Join"));

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Empty(request.Join);
        Assert.Empty(request.Leave);
    }

    [Fact]
    public void Parse_TrailingBytes_IsMalformed()
    {
        byte[] frame = [.. ReferenceClientFrames.JoinOne, 0xc0];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Fact]
    public void Parse_TwoMessagesInOneFrame_IsMalformed()
    {
        byte[] frame = [.. ReferenceClientFrames.JoinOne, .. ReferenceClientFrames.JoinOne];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    [Theory]
    [InlineData("Join")]
    [InlineData("Leave")]
    public void Parse_ExactlyMaxDocuments_IsAccepted(string type)
    {
        var ids = Enumerable.Range(0, 5).Select(i => $"d{i}").ToArray();
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["type"] = type, ["documentIds"] = ids });

        var (result, request) = ParseMessagePack(frame, maxDocuments: 5);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(ids, type == "Join" ? request.Join : request.Leave);
    }

    [Theory]
    [InlineData("Join")]
    [InlineData("Leave")]
    public void Parse_MoreThanMaxDocuments_IsTooManyDocumentsAndKeepsNone(string type)
    {
        var ids = Enumerable.Range(0, 6).Select(i => $"d{i}").ToArray();
        var frame = MsgPack.Encode(new Dictionary<string, object?> { ["type"] = type, ["documentIds"] = ids });

        AssertIgnored(IntroductionFrame.TooManyDocuments, ParseMessagePack(frame, maxDocuments: 5));
    }

    [Fact]
    public void Parse_ReusedRequest_IsClearedFirst()
    {
        var request = new IntroductionRequest();
        Assert.Equal(IntroductionFrame.Membership, MessagePackIntroductionCodec.Parse(ReferenceClientFrames.JoinOne, 10, request));

        Assert.Equal(IntroductionFrame.Membership, MessagePackIntroductionCodec.Parse(ReferenceClientFrames.LeaveOne, 10, request));
        Assert.Empty(request.Join);
        Assert.Equal(["abc"], request.Leave);

        Assert.Equal(IntroductionFrame.Heartbeat, MessagePackIntroductionCodec.Parse(ReferenceClientFrames.Heartbeat, 10, request));
        Assert.Empty(request.Join);
        Assert.Empty(request.Leave);
    }

    [Fact]
    public void Parse_MalformedAfterSomeIdsWereRead_KeepsNone()
    {
        // Two good ids, then nil where the third should be.
        byte[] frame = [0x82, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x93, .. Str("a"), .. Str("b"), 0xc0];

        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
    }

    /// <summary>
    /// The bytes <c>WriteIntroduction</c> must produce. msgpackr 1.12.1 (the reference client's decoder)
    /// was checked by hand to decode each as named, with
    /// <c>node --input-type=module -e 'import { decode } from "msgpackr"; console.log(decode(Buffer.from(HEX, "hex")))'</c>.
    /// </summary>
    public static TheoryData<string, string[], string> Introductions() => new()
    {
        // {"type":"Introduction","peerId":"peer-1","documentIds":["doc-a","doc-b"]}
        {
            "peer-1", ["doc-a", "doc-b"],
            "83a474797065ac496e74726f64756374696f6ea6706565724964a6706565722d31ab646f63756d656e7449647392a5646f632d61a5646f632d62"
        },
        // {"type":"Introduction","peerId":"pppppppppppppppppppppppppppppppp","documentIds":["d0",…,"d15"]}: str8 and array16
        {
            new string('p', 32), [.. Enumerable.Range(0, 16).Select(i => $"d{i}")],
            "83a474797065ac496e74726f64756374696f6ea6706565724964d920" + ReferenceClientFrames.Repeat("70", 32) +
            "ab646f63756d656e74496473dc0010a26430a26431a26432a26433a26434a26435a26436a26437a26438a26439a3643130a3643131a3643132a3643133a3643134a3643135"
        },
        // {"type":"Introduction","peerId":"été","documentIds":["文档","😀"]}
        {
            "été", ["文档", "😀"],
            "83a474797065ac496e74726f64756374696f6ea6706565724964a5c3a974c3a9ab646f63756d656e7449647392a6e69687e6a1a3a4f09f9880"
        },
    };

    [Theory]
    [MemberData(nameof(Introductions))]
    public void WriteIntroduction_WritesWhatTheReferenceDecoderReads(string peerId, string[] documentIds, string expectedHex)
    {
        var message = MessagePackIntroductionCodec.WriteIntroduction(peerId, documentIds);
        try
        {
            Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Binary, message.Type);
            Assert.Equal(expectedHex, Convert.ToHexStringLower(message.Payload.Span));
        }
        finally
        {
            message.Release();
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(31, 15)]
    [InlineData(32, 16)]
    [InlineData(255, 17)]
    [InlineData(256, 300)]
    [InlineData(65536, 2)]
    public void WriteIntroduction_RoundTripsThroughTheIndependentDecoder(int idLength, int count)
    {
        var peerId = new string('p', Math.Max(idLength, 1));
        var documentIds = Enumerable.Range(0, count).Select(i => $"{i}:{new string('é', idLength / 2)}").ToArray();

        var message = MessagePackIntroductionCodec.WriteIntroduction(peerId, documentIds);
        try
        {
            var (type, decodedPeer, decodedIds) = MsgPack.DecodeIntroduction(message.Payload.ToArray());
            Assert.Equal("Introduction", type);
            Assert.Equal(peerId, decodedPeer);
            Assert.Equal(documentIds, decodedIds);
        }
        finally
        {
            message.Release();
        }
    }

    /// <summary>One complete value of every MessagePack type and width, including containers holding them.</summary>
    public static TheoryData<string> EveryValue() => new()
    {
        "00", "7f", // positive fixint
        "e0", "ff", // negative fixint
        "c0", "c2", "c3", // nil, false, true
        "c400", "c403010203", "c50003010203", "c600000003010203", // bin8/16/32
        "c70201aabb", "c700ff", "c8000201aabb", "c90000000201aabb", // ext8 (incl. empty payload), ext16, ext32
        "d401aa", "d501aabb", "d601aabbccdd", "d701" + "0102030405060708", "d8ff" + "000102030405060708090a0b0c0d0e0f", // fixext 1/2/4/8/16
        "ca3f800000", "cb3ff0000000000000", // float32, float64
        "ccff", "cdffff", "ceffffffff", "cfffffffffffffffff", // uint8..64
        "d080", "d18000", "d280000000", "d38000000000000000", // int8..64
        "a0", "a3616263", "d903616263", "da0003616263", "db00000003616263", // str widths
        "90", "93010203", "dc0002c0c0", "dd00000002c0c0", // array widths
        "80", "81a161c0", "de0001a161c0", "df00000001a161c0", // map widths
        "9281a16193c401ffd401aacb3ff000000000000080", // [{a:[bin, fixext1, float64]}, {}]
        "81" + "93c3c2c0" + "de0001" + "cf0000000000000001" + "dd00000001" + "c900000000ff", // map with an array key and a map value
    };

    [Theory]
    [MemberData(nameof(EveryValue))]
    public void Parse_UnknownKeyWithAnyValue_SkipsExactlyThatValue(string hex)
    {
        var value = Convert.FromHexString(hex);

        // As the value of an unknown key, and as a key itself (a non-string key is an unknown key too).
        var asValue = ParseMessagePack([0x83, .. TypeKey, .. JoinValue, .. Str("extra"), .. value, .. DocumentIdsKey, 0x91, .. Str("doc")]);
        var asKey = ParseMessagePack([0x83, .. value, 0xc0, .. TypeKey, .. JoinValue, .. DocumentIdsKey, 0x91, .. Str("doc")]);

        Assert.Equal(IntroductionFrame.Membership, asValue.Result);
        Assert.Equal(["doc"], asValue.Request.Join);
        Assert.Equal(IntroductionFrame.Membership, asKey.Result);
        Assert.Equal(["doc"], asKey.Request.Join);
    }

    [Theory]
    [MemberData(nameof(EveryValue))]
    public void Parse_UnknownValueCutShort_IsMalformed(string hex)
    {
        var value = Convert.FromHexString(hex);
        for (var length = 0; length < value.Length; length++)
        {
            byte[] frame = [0x82, .. TypeKey, .. JoinValue, .. Str("extra"), .. value.AsSpan(0, length)];
            AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack(frame));
        }
    }

    [Fact]
    public void Parse_NeverUsedCode_IsMalformed()
    {
        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack([0x82, .. TypeKey, .. JoinValue, .. Str("extra"), 0xc1]));
        AssertIgnored(IntroductionFrame.Malformed, ParseMessagePack([0xc1]));
    }
}
