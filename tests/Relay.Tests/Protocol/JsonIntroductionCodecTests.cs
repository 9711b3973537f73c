using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Relay.Protocol;
using static Relay.Tests.Protocol.IntroductionParsing;

namespace Relay.Tests.Protocol;

public sealed class JsonIntroductionCodecTests
{
    [Theory]
    [InlineData("""{"type":"Hello","join":["a","b"]}""")]
    [InlineData("""{"join":["a","b"]}""")]
    [InlineData("""{"type":"Leave","join":["a","b"]}""")] // cevitxe acts on the arrays, whatever the type
    [InlineData("""{"join":["a","b"],"type":"Hello"}""")]
    [InlineData(""" { "type" : "Hello" , "join" : [ "a" , "b" ] } """)]
    public void Parse_CevitxeJoin_JoinsTheArray(string json)
    {
        var (result, request) = ParseJson(json);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a", "b"], request.Join);
        Assert.Empty(request.Leave);
    }

    [Fact]
    public void Parse_CevitxeJoinAndLeave_FillsBoth()
    {
        var (result, request) = ParseJson("""{"type":"Update","join":["a"],"leave":["b","c"]}""");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a"], request.Join);
        Assert.Equal(["b", "c"], request.Leave);
    }

    [Theory]
    [InlineData("""{"type":"Join","documentIds":["a","b"]}""", true)]
    [InlineData("""{"documentIds":["a","b"],"type":"Join"}""", true)]
    [InlineData("""{"type":"Leave","documentIds":["a","b"]}""", false)]
    [InlineData("""{"documentIds":["a","b"],"type":"Leave"}""", false)]
    public void Parse_FourXShapedObject_IsAcceptedAsText(string json, bool join)
    {
        var (result, request) = ParseJson(json);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a", "b"], join ? request.Join : request.Leave);
        Assert.Empty(join ? request.Leave : request.Join);
    }

    [Theory]
    [InlineData("""{"type":"Heartbeat"}""")]
    [InlineData("""{"type":"❤️"}""")]
    [InlineData("""{"type":"\u2764\ufe0f"}""")]
    [InlineData("""{"type":"Heartbeat","documentIds":["a"]}""")]
    public void Parse_Heartbeat_IsHeartbeat(string json) => AssertIgnored(IntroductionFrame.Heartbeat, ParseJson(json));

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"type":"Hello"}""")]
    [InlineData("""{"type":"Hello","documentIds":["a"]}""")]
    [InlineData("""{"documentIds":["a"]}""")] // a 4.x array with no type says neither join nor leave
    [InlineData("""{"join":null,"leave":null}""")]
    [InlineData("""{"type":"Join","documentIds":null}""")]
    [InlineData("""{"type":"Hello","join":[]}""")]
    public void Parse_NothingToActOn_IsUnknownType(string json) => AssertIgnored(IntroductionFrame.UnknownType, ParseJson(json));

    [Theory]
    [InlineData("""{"type":"Join","documentIds":[]}""")]
    [InlineData("""{"type":"Leave","join":[]}""")]
    public void Parse_EmptyArraysWithAMembershipType_IsAnEmptyMembership(string json)
    {
        var (result, request) = ParseJson(json);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Empty(request.Join);
        Assert.Empty(request.Leave);
    }

    [Theory]
    [InlineData("""{"join":[1]}""")]
    [InlineData("""{"join":[null]}""")]
    [InlineData("""{"join":["a",true]}""")]
    [InlineData("""{"join":[["a"]]}""")]
    [InlineData("""{"join":[{}]}""")]
    [InlineData("""{"join":"a"}""")]
    [InlineData("""{"join":{}}""")]
    [InlineData("""{"leave":1}""")]
    [InlineData("""{"type":"Join","documentIds":"a"}""")]
    [InlineData("""{"type":"Join","documentIds":[1]}""")]
    [InlineData("""{"type":1,"join":["a"]}""")]
    [InlineData("""{"type":null,"join":["a"]}""")]
    [InlineData("""{"type":["Join"],"join":["a"]}""")]
    [InlineData("""{"type":{},"join":["a"]}""")]
    public void Parse_WrongValueType_IsMalformed(string json) => AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("[]")]
    [InlineData("""["join"]""")]
    [InlineData("\"join\"")]
    [InlineData("1")]
    [InlineData("null")]
    [InlineData("{")]
    [InlineData("""{"join":["a"]""")]
    [InlineData("""{"join":["a"],}""")]
    [InlineData("""{"join":["a",]}""")]
    [InlineData("""{'join':['a']}""")]
    [InlineData("""{join:["a"]}""")]
    [InlineData("""{"join":["a"]/* comment */}""")]
    public void Parse_NotAJsonObject_IsMalformed(string json) => AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));

    [Theory]
    [InlineData("""{"join":["a"]}x""")]
    [InlineData("""{"join":["a"]}{}""")]
    [InlineData("""{"join":["a"]}{"join":["b"]}""")]
    [InlineData("""{"join":["a"]}]""")]
    [InlineData("""{"join":["a"]} 1""")]
    public void Parse_TrailingData_IsMalformed(string json) => AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));

    [Fact]
    public void Parse_TrailingWhitespace_IsAccepted()
    {
        var (result, request) = ParseJson("{\"join\":[\"a\"]}\r\n\t ");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a"], request.Join);
    }

    [Fact]
    public void Parse_EscapesInIds_AreDecoded()
    {
        var (result, request) = ParseJson("""{"join":["a\"b","c\\d","\/","\u00e9","\ud83d\ude00","tab\there","\u0041"]}""");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a\"b", "c\\d", "/", "é", "😀", "tab\there", "A"], request.Join);
    }

    [Fact]
    public void Parse_EscapedPropertyNames_AreRecognised()
    {
        var (result, request) = ParseJson("""{"\u0074ype":"Join","\u0064ocumentIds":["a"],"\u006aoin":["b"]}""");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["b", "a"], request.Join);
    }

    [Fact]
    public void Parse_RawNonAsciiIds_AreDecoded()
    {
        var (result, request) = ParseJson("""{"join":["café","文档","😀"]}""");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["café", "文档", "😀"], request.Join);
    }

    [Fact]
    public void Parse_UnknownPropertiesOfEveryShape_AreSkipped()
    {
        var (result, request) = ParseJson("""{"v":1.5e3,"meta":{"x":[1,{"y":null}],"z":"w"},"join":["a"],"flag":true,"list":[[],[{}]],"n":null}""");

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a"], request.Join);
    }

    [Fact]
    public void Parse_NestingWithinTheDepthLimit_IsSkipped()
    {
        // The object itself is one level; 15 more fit under the reader's limit of 16.
        var json = """{"deep":""" + new string('[', 15) + new string(']', 15) + ""","join":["a"]}""";

        var (result, request) = ParseJson(json);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a"], request.Join);
    }

    [Fact]
    public void Parse_NestingBeyondTheDepthLimit_IsMalformed()
    {
        var json = """{"deep":""" + new string('[', 16) + new string(']', 16) + ""","join":["a"]}""";

        AssertIgnored(IntroductionFrame.Malformed, ParseJson(json));
    }

    [Fact]
    public void Parse_ExactlyMaxDocumentsAcrossAllArrays_IsAccepted()
    {
        var (result, request) = ParseJson("""{"type":"Join","join":["a"],"leave":["b"],"documentIds":["c"]}""", maxDocuments: 3);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(["a", "c"], request.Join);
        Assert.Equal(["b"], request.Leave);
    }

    [Theory]
    [InlineData("""{"join":["a","b","c","d"]}""")]
    [InlineData("""{"join":["a","b"],"leave":["c","d"]}""")]
    [InlineData("""{"type":"Leave","leave":["a"],"documentIds":["b","c","d"]}""")]
    public void Parse_MoreThanMaxDocumentsAcrossAllArrays_IsTooManyDocumentsAndKeepsNone(string json) =>
        AssertIgnored(IntroductionFrame.TooManyDocuments, ParseJson(json, maxDocuments: 3));

    [Fact]
    public void Parse_ReusedRequest_IsClearedFirst()
    {
        var request = new IntroductionRequest();
        Assert.Equal(IntroductionFrame.Membership, JsonIntroductionCodec.Parse("""{"join":["a"],"leave":["b"]}"""u8, 10, request));

        Assert.Equal(IntroductionFrame.Membership, JsonIntroductionCodec.Parse("""{"leave":["c"]}"""u8, 10, request));
        Assert.Empty(request.Join);
        Assert.Equal(["c"], request.Leave);

        Assert.Equal(IntroductionFrame.Malformed, JsonIntroductionCodec.Parse("""{"join":["d"],"leave":[1]}"""u8, 10, request));
        Assert.Empty(request.Join);
        Assert.Empty(request.Leave);
    }

    [Theory]
    [InlineData("""{"type":"Join","join":["a"]}""", false)]
    [InlineData("""{"leave":["a"]}""", false)]
    [InlineData("""{"type":"Leave","join":[]}""", false)]
    [InlineData("""{"type":"Join","join":null,"documentIds":["a"]}""", false)]
    [InlineData("""{"type":"Join","documentIds":["a"],"leave":["b"]}""", false)]
    [InlineData("""{"type":"Join","documentIds":["a"]}""", true)]
    [InlineData("""{"type":"Leave","documentIds":["a"]}""", true)]
    [InlineData("""{"documentIds":[],"type":"Join"}""", true)]
    public void Parse_Membership_TellsTheDialectByItsArrays(string json, bool relayV3)
    {
        var (result, request) = ParseJson(json);

        Assert.Equal(IntroductionFrame.Membership, result);
        Assert.Equal(relayV3 ? IntroductionDialect.RelayV3Json : IntroductionDialect.CevitxeJson, request.JsonDialect);
    }

    [Theory]
    [InlineData("""{"type":"Heartbeat"}""")]
    [InlineData("""{"type":"Heartbeat","documentIds":["a"]}""")]
    [InlineData("""{"type":"Hello","documentIds":["a"]}""")]
    [InlineData("""{"type":"Join","documentIds":[1]}""")]
    public void Parse_NoMembership_ShowsNoDialect(string json) => Assert.Null(ParseJson(json).Request.JsonDialect);

    [Fact]
    public void WriteIntroduction_RelayV3_WritesUserNameAndDocumentIds()
    {
        var message = JsonIntroductionCodec.WriteIntroduction("peer \"1\"", ["doc-a", "é"], IntroductionDialect.RelayV3Json);
        try
        {
            Assert.Equal(WebSocketMessageType.Text, message.Type);
            using var document = JsonDocument.Parse(message.Payload);
            var root = document.RootElement;
            Assert.Equal(["type", "userName", "documentIds"], root.EnumerateObject().Select(p => p.Name));
            Assert.Equal("Introduction", root.GetProperty("type").GetString());
            Assert.Equal("peer \"1\"", root.GetProperty("userName").GetString());
            Assert.Equal(["doc-a", "é"], root.GetProperty("documentIds").EnumerateArray().Select(k => k.GetString()));
        }
        finally
        {
            message.Release();
        }
    }

    [Fact]
    public void WriteIntroduction_WritesTheCevitxeReplyAsText()
    {
        var message = JsonIntroductionCodec.WriteIntroduction("peer-1", ["doc-a", "doc-b"], IntroductionDialect.CevitxeJson);
        try
        {
            Assert.Equal(WebSocketMessageType.Text, message.Type);
            Assert.Equal("""{"type":"Introduction","id":"peer-1","keys":["doc-a","doc-b"]}""", Encoding.UTF8.GetString(message.Payload.Span));
        }
        finally
        {
            message.Release();
        }
    }

    [Fact]
    public void WriteIntroduction_NoDocuments_WritesAnEmptyKeysArray()
    {
        var message = JsonIntroductionCodec.WriteIntroduction("p", [], IntroductionDialect.CevitxeJson);
        try
        {
            Assert.Equal("""{"type":"Introduction","id":"p","keys":[]}""", Encoding.UTF8.GetString(message.Payload.Span));
        }
        finally
        {
            message.Release();
        }
    }

    [Fact]
    public void WriteIntroduction_CharactersNeedingEscapes_RoundTripThroughAJsonParser()
    {
        string[] keys = ["quote\"", "back\\slash", "new\nline", "é", "😀", "<script>", new string('k', 5000)];
        var message = JsonIntroductionCodec.WriteIntroduction("peer \"1\"", keys, IntroductionDialect.CevitxeJson);
        try
        {
            using var document = JsonDocument.Parse(message.Payload);
            var root = document.RootElement;
            Assert.Equal(["type", "id", "keys"], root.EnumerateObject().Select(p => p.Name));
            Assert.Equal("Introduction", root.GetProperty("type").GetString());
            Assert.Equal("peer \"1\"", root.GetProperty("id").GetString());
            Assert.Equal(keys, root.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
        }
        finally
        {
            message.Release();
        }
    }

    [Fact]
    public void WriteIntroduction_ParsedBackByTheCodec_JoinsNothing()
    {
        // A relay reply echoed back by a confused client is not a Join: its "keys" are not "join".
        var message = JsonIntroductionCodec.WriteIntroduction("p", ["a"], IntroductionDialect.CevitxeJson);
        try
        {
            AssertIgnored(IntroductionFrame.UnknownType, ParseJson(message.Payload.Span));
        }
        finally
        {
            message.Release();
        }
    }
}
