using Relay.Protocol;

namespace Relay.Tests.Protocol;

public sealed class MessagePackReaderTests
{
    [Theory]
    [InlineData("80", 0)]
    [InlineData("81a161c0", 1)]
    [InlineData("de0000", 0)]
    [InlineData("de0001a161c0", 1)]
    [InlineData("df00000000", 0)]
    [InlineData("df00000001a161c0", 1)]
    public void TryReadMapHeader_EveryWidth_ReadsCountAndAdvancesPastHeader(string hex, int expected)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.True(reader.TryReadMapHeader(out var count));
        Assert.Equal(expected, count);
        for (var i = 0; i < 2 * count; i++)
        {
            Assert.True(reader.TrySkip());
        }

        Assert.True(reader.End);
    }

    [Fact]
    public void TryReadMapHeader_FixMapOfFifteen_ReadsFifteen()
    {
        var bytes = new byte[1 + 30];
        bytes[0] = 0x8f;
        bytes.AsSpan(1).Fill(0xc0);
        var reader = new MessagePackReader(bytes);

        Assert.True(reader.TryReadMapHeader(out var count));
        Assert.Equal(15, count);
    }

    [Theory]
    [InlineData("90", 0)]
    [InlineData("93c0c0c0", 3)]
    [InlineData("dc0000", 0)]
    [InlineData("dc0002c0c0", 2)]
    [InlineData("dd00000000", 0)]
    [InlineData("dd00000002c0c0", 2)]
    public void TryReadArrayHeader_EveryWidth_ReadsCountAndAdvancesPastHeader(string hex, int expected)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.True(reader.TryReadArrayHeader(out var count));
        Assert.Equal(expected, count);
        for (var i = 0; i < count; i++)
        {
            Assert.True(reader.TrySkip());
        }

        Assert.True(reader.End);
    }

    [Fact]
    public void TryReadArrayHeader_FixArrayOfFifteen_ReadsFifteen()
    {
        var bytes = new byte[1 + 15];
        bytes[0] = 0x9f;
        bytes.AsSpan(1).Fill(0xc0);
        var reader = new MessagePackReader(bytes);

        Assert.True(reader.TryReadArrayHeader(out var count));
        Assert.Equal(15, count);
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
    [InlineData(31, "bf")]
    [InlineData(32, "d920")]
    [InlineData(255, "d9ff")]
    [InlineData(256, "da0100")]
    [InlineData(65535, "daffff")]
    [InlineData(65536, "db00010000")]
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
    [InlineData("")]
    [InlineData("8f")] // fixmap of 15 with nothing after it
    [InlineData("de")]
    [InlineData("de00")]
    [InlineData("de0001a1")] // one entry needs two bytes, only one present
    [InlineData("df000000")]
    [InlineData("dfffffffff")]
    [InlineData("90")] // an array is not a map
    [InlineData("a0")]
    [InlineData("c0")]
    public void TryReadMapHeader_TruncatedOverclaimingOrOtherType_Fails(string hex)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.False(reader.TryReadMapHeader(out var count));
        Assert.Equal(0, count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("91")]
    [InlineData("dc")]
    [InlineData("dc00")]
    [InlineData("dc0002c0")]
    [InlineData("dd000000")]
    [InlineData("ddffffffff")]
    [InlineData("80")]
    [InlineData("a0")]
    public void TryReadArrayHeader_TruncatedOverclaimingOrOtherType_Fails(string hex)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.False(reader.TryReadArrayHeader(out var count));
        Assert.Equal(0, count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a1")]
    [InlineData("d9")]
    [InlineData("d901")]
    [InlineData("da00")]
    [InlineData("da000261")] // str16 claiming two bytes, one present
    [InlineData("db000000")]
    [InlineData("dbffffffff61")]
    [InlineData("c40161")] // bin is not str
    [InlineData("90")]
    [InlineData("c0")]
    public void TryReadStringBytes_TruncatedOverclaimingOrOtherType_Fails(string hex)
    {
        var reader = new MessagePackReader(Convert.FromHexString(hex));

        Assert.False(reader.TryReadStringBytes(out var utf8));
        Assert.True(utf8.IsEmpty);
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
}
