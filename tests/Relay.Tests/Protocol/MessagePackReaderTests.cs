using Relay.Protocol;

namespace Relay.Tests.Protocol;

public sealed class MessagePackReaderTests
{
    /// <summary>Map and array headers of every width, each followed by the values it announces.</summary>
    public static TheoryData<string, string, int> Headers() => new()
    {
        { "map", "80", 0 },
        { "map", "81a161c0", 1 },
        { "map", "8f" + Nils(30), 15 },
        { "map", "de0000", 0 },
        { "map", "de0001a161c0", 1 },
        { "map", "df00000000", 0 },
        { "map", "df00000001a161c0", 1 },
        { "array", "90", 0 },
        { "array", "93c0c0c0", 3 },
        { "array", "9f" + Nils(15), 15 },
        { "array", "dc0000", 0 },
        { "array", "dc0002c0c0", 2 },
        { "array", "dd00000000", 0 },
        { "array", "dd00000002c0c0", 2 },
    };

    /// <summary>Strings at every width boundary: (UTF-8 length, the smallest header for it).</summary>
    public static TheoryData<int, string> StringHeaders() => new()
    {
        { 0, "a0" },
        { 31, "bf" },
        { 32, "d920" },
        { 255, "d9ff" },
        { 256, "da0100" },
        { 65535, "daffff" },
        { 65536, "db00010000" },
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public void TryReadHeader_EveryWidth_ReadsCountAndAdvancesPastHeader(string kind, string hex, int expected)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.True(TryReadHeader(ref reader, kind, out var count));
        Assert.Equal(expected, count);
        for (var i = 0; i < (kind == "map" ? 2 * count : count); i++)
        {
            Assert.True(reader.TrySkip());
        }

        Assert.True(reader.End);
    }

    [Theory]
    [InlineData("a0", "")]
    [InlineData("a3616263", "abc")]
    [InlineData("d900", "")]
    [InlineData("d903616263", "abc")]
    [InlineData("da0003616263", "abc")]
    [InlineData("db00000003616263", "abc")]
    public void TryReadStringBytes_EveryWidth_ReturnsTheBytes(string hex, string expected)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.True(reader.TryReadStringBytes(out var utf8));
        Assert.Equal(expected, System.Text.Encoding.UTF8.GetString(utf8));
        Assert.True(reader.End);
    }

    [Theory]
    [MemberData(nameof(StringHeaders))]
    public void TryReadStringBytes_AtWidthBoundaries_ReturnsEveryByte(int length, string headerHex)
    {
        var header = Convert.FromHexString(headerHex);
        var bytes = new byte[header.Length + length];
        header.CopyTo(bytes, 0);
        bytes.AsSpan(header.Length).Fill((byte)'x');
        var reader = new MessagePackReader(bytes);

        Assert.True(reader.TryReadStringBytes(out var utf8));
        Assert.Equal(length, utf8.Length);
        Assert.True(reader.End);
    }

    [Fact]
    public void TryReadStringBytes_InvalidUtf8_IsReturnedRawForTheCallerToValidate()
    {
        var reader = new MessagePackReader(Convert.FromHexString("a2c0af"));

        Assert.True(reader.TryReadStringBytes(out var utf8));
        Assert.Equal([0xc0, 0xaf], utf8.ToArray());
    }

    [Theory]
    [InlineData("map", "")]
    [InlineData("map", "8f")] // fixmap of 15 with nothing after it
    [InlineData("map", "de")]
    [InlineData("map", "de00")]
    [InlineData("map", "de0001a1")] // one entry needs two bytes, only one present
    [InlineData("map", "df000000")]
    [InlineData("map", "dfffffffff")]
    [InlineData("map", "90")] // an array is not a map
    [InlineData("map", "a0")]
    [InlineData("map", "c0")]
    [InlineData("array", "")]
    [InlineData("array", "91")]
    [InlineData("array", "dc")]
    [InlineData("array", "dc00")]
    [InlineData("array", "dc0002c0")]
    [InlineData("array", "dd000000")]
    [InlineData("array", "ddffffffff")]
    [InlineData("array", "80")]
    [InlineData("array", "a0")]
    [InlineData("string", "")]
    [InlineData("string", "a1")]
    [InlineData("string", "d9")]
    [InlineData("string", "d901")]
    [InlineData("string", "da00")]
    [InlineData("string", "da000261")] // str16 claiming two bytes, one present
    [InlineData("string", "db000000")]
    [InlineData("string", "dbffffffff61")]
    [InlineData("string", "c40161")] // bin is not str
    [InlineData("string", "90")]
    [InlineData("string", "c0")]
    public void TryRead_TruncatedOverclaimingOrOtherType_Fails(string kind, string hex)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        if (kind == "string")
        {
            Assert.False(reader.TryReadStringBytes(out var utf8));
            Assert.True(utf8.IsEmpty);
        }
        else
        {
            Assert.False(TryReadHeader(ref reader, kind, out var count));
            Assert.Equal(0, count);
        }
    }

    [Fact]
    public void FailedRead_DoesNotAdvance()
    {
        var reader = new MessagePackReader(Convert.FromHexString("a3616263"));

        Assert.False(reader.TryReadMapHeader(out _));
        Assert.False(reader.TryReadArrayHeader(out _));
        Assert.True(reader.TryReadStringBytes(out var utf8));
        Assert.Equal("abc"u8.ToArray(), utf8.ToArray());
    }

    /// <summary>One complete value of every MessagePack type and width, including containers holding them.</summary>
    public static TheoryData<string> EveryValue() => new()
    {
        "00", "7f", // positive fixint
        "e0", "ff", // negative fixint
        "c0", "c2", "c3", // nil, false, true
        "c400", "c403010203", // bin8
        "c50003010203", // bin16
        "c600000003010203", // bin32
        "c70201aabb", "c700ff", // ext8 (incl. empty payload, negative type)
        "c8000201aabb", // ext16
        "c90000000201aabb", // ext32
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
    public void TrySkip_EveryType_ConsumesExactlyOneValue(string hex)
    {
        // The value followed by a marker: skipping must stop right before the marker.
        var reader = new MessagePackReader(Convert.FromHexString(hex + "a1" + "7a"));

        Assert.True(reader.TrySkip());
        Assert.True(reader.TryReadStringBytes(out var marker));
        Assert.Equal("z"u8.ToArray(), marker.ToArray());
        Assert.True(reader.End);
    }

    [Theory]
    [MemberData(nameof(EveryValue))]
    public void TrySkip_EveryTruncation_Fails(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        for (var length = 0; length < bytes.Length; length++)
        {
            var reader = new MessagePackReader(bytes.AsSpan(0, length));
            Assert.False(reader.TrySkip(), $"{length} of {bytes.Length} bytes of {hex}");
        }
    }

    [Fact]
    public void TrySkip_NeverUsedCode_Fails()
    {
        var reader = new MessagePackReader([0xc1]);

        Assert.False(reader.TrySkip());
    }

    [Theory]
    [InlineData("c4ff")]
    [InlineData("c5ffff")]
    [InlineData("c6ffffffff")]
    [InlineData("c7ff01")]
    [InlineData("c8ffff01")]
    [InlineData("c9ffffffff01")]
    [InlineData("dbffffffff")]
    [InlineData("ddffffffff")]
    [InlineData("dfffffffff")]
    public void TrySkip_LengthBeyondTheBuffer_Fails(string hex)
    {
        var bytes = Convert.FromHexString(hex + "00000000");
        var reader = new MessagePackReader(bytes);

        Assert.False(reader.TrySkip());
    }

    [Fact]
    public void TrySkip_HundredThousandNestedArrays_SkipsWithoutRecursing()
    {
        const int Depth = 100_000;
        var bytes = new byte[Depth + 1];
        bytes.AsSpan(0, Depth).Fill(0x91);
        bytes[Depth] = 0xc0;
        var reader = new MessagePackReader(bytes);

        Assert.True(reader.TrySkip());
        Assert.True(reader.End);
    }

    [Fact]
    public void TrySkip_HundredThousandNestedMapsMissingTheInnermostValue_Fails()
    {
        // {"a":{"a":{...}}} with the innermost value cut off.
        const int Depth = 100_000;
        var bytes = new byte[Depth * 3];
        for (var i = 0; i < Depth; i++)
        {
            bytes[3 * i] = 0x81;
            bytes[(3 * i) + 1] = 0xa1;
            bytes[(3 * i) + 2] = (byte)'a';
        }

        var reader = new MessagePackReader(bytes);

        Assert.False(reader.TrySkip());
    }

    private static bool TryReadHeader(ref MessagePackReader reader, string kind, out int count) =>
        kind == "map" ? reader.TryReadMapHeader(out count) : reader.TryReadArrayHeader(out count);

    private static string Nils(int count) => string.Concat(Enumerable.Repeat("c0", count));
}
