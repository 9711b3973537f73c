using Relay.Protocol;
using Relay.Tests.Infrastructure;

namespace Relay.Tests.Protocol;

public sealed class MessagePackWriterTests
{
    [Theory]
    [MemberData(nameof(MessagePackReaderTests.StringHeaders), MemberType = typeof(MessagePackReaderTests))]
    public void WriteString_AtWidthBoundaries_ChoosesTheSmallestHeader(int length, string expectedHeader)
    {
        var value = new byte[length];
        value.AsSpan().Fill((byte)'x');
        var size = MessagePackWriter.GetStringSize(length);
        var buffer = new byte[size];
        var writer = new MessagePackWriter(buffer);

        writer.WriteString(value);

        var header = Convert.FromHexString(expectedHeader);
        Assert.Equal(header.Length + length, size);
        Assert.Equal(size, writer.Written);
        Assert.Equal(expectedHeader, Convert.ToHexStringLower(buffer.AsSpan(0, header.Length)));
        Assert.True(buffer.AsSpan(header.Length).IndexOfAnyExcept((byte)'x') < 0);
    }

    [Theory]
    [InlineData(15, "é", "be")] // 15 chars, 30 bytes: still a fixstr
    [InlineData(16, "é", "d920")] // 16 chars, 32 bytes: str8
    [InlineData(8, "😀", "d920")] // 16 UTF-16 units, 32 bytes
    [InlineData(128, "é", "da0100")]
    public void WriteString_NonAscii_SizesTheHeaderByUtf8Bytes(int repeat, string unit, string expectedHeader)
    {
        var value = string.Concat(Enumerable.Repeat(unit, repeat));
        var buffer = new byte[MessagePackWriter.GetStringSize(System.Text.Encoding.UTF8.GetByteCount(value))];
        var writer = new MessagePackWriter(buffer);

        writer.WriteString(value);

        Assert.Equal(buffer.Length, writer.Written);
        Assert.StartsWith(expectedHeader, Convert.ToHexStringLower(buffer), StringComparison.Ordinal);
        Assert.Equal(value, MsgPack.Decode(buffer));
    }

    [Theory]
    [InlineData(0, "80", "90")]
    [InlineData(15, "8f", "9f")]
    [InlineData(16, "de0010", "dc0010")]
    [InlineData(65535, "deffff", "dcffff")]
    [InlineData(65536, "df00010000", "dd00010000")]
    public void WriteHeaders_AtCountBoundaries_ChooseTheSmallestHeader(int count, string expectedMap, string expectedArray)
    {
        Assert.Equal(expectedMap.Length / 2, MessagePackWriter.GetHeaderSize(count));

        var map = new byte[5];
        var mapWriter = new MessagePackWriter(map);
        mapWriter.WriteMapHeader(count);
        Assert.Equal(expectedMap, Convert.ToHexStringLower(map.AsSpan(0, mapWriter.Written)));

        var array = new byte[5];
        var arrayWriter = new MessagePackWriter(array);
        arrayWriter.WriteArrayHeader(count);
        Assert.Equal(expectedArray, Convert.ToHexStringLower(array.AsSpan(0, arrayWriter.Written)));
    }

    [Fact]
    public void Writes_InSequence_DecodeWithTheIndependentDecoder()
    {
        string[] items = ["a", new string('b', 40), "ü", new string('c', 300)];
        var size = MessagePackWriter.GetHeaderSize(1) + MessagePackWriter.GetStringSize(5) + MessagePackWriter.GetHeaderSize(items.Length);
        foreach (var item in items)
        {
            size += MessagePackWriter.GetStringSize(System.Text.Encoding.UTF8.GetByteCount(item));
        }

        var buffer = new byte[size];
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(1);
        writer.WriteString("items"u8);
        writer.WriteArrayHeader(items.Length);
        foreach (var item in items)
        {
            writer.WriteString(item);
        }

        Assert.Equal(size, writer.Written);
        var decoded = Assert.IsType<Dictionary<string, object?>>(MsgPack.Decode(buffer));
        Assert.Equal(items, Assert.IsType<List<object?>>(decoded["items"]).Cast<string>());
    }
}
