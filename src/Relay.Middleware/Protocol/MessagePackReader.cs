using System.Buffers.Binary;

namespace Relay.Protocol;

/// <summary>
/// A strict reader for the MessagePack subset the introduction protocol uses (maps, arrays, strings),
/// with the ability to skip any other value. Every length prefix is checked against the bytes actually
/// present before anything is read or allocated; nesting is skipped iteratively, so depth cannot
/// exhaust the stack.
/// </summary>
internal ref struct MessagePackReader(ReadOnlySpan<byte> buffer)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private int _position;

    public readonly bool End => _position == _buffer.Length;

    private readonly int Remaining => _buffer.Length - _position;

    /// <summary>Reads a map header; each entry must have room for at least a key and a value byte.</summary>
    public bool TryReadMapHeader(out int count) =>
        TryReadContainerHeader(MessagePackCode.MinFixMap, MessagePackCode.Map16, MessagePackCode.Map32, bytesPerItem: 2, out count);

    /// <summary>Reads an array header; each element must have room for at least one byte.</summary>
    public bool TryReadArrayHeader(out int count) =>
        TryReadContainerHeader(MessagePackCode.MinFixArray, MessagePackCode.Array16, MessagePackCode.Array32, bytesPerItem: 1, out count);

    private bool TryReadContainerHeader(byte fixCode, byte code16, byte code32, int bytesPerItem, out int count)
    {
        count = 0;
        if (End)
        {
            return false;
        }

        var code = _buffer[_position];
        int headerLength;
        uint length;
        if ((code & 0xf0) == fixCode)
        {
            headerLength = 1;
            length = (uint)(code & 0x0f);
        }
        else if (code == code16)
        {
            if (!TryPeekUInt16(out var length16))
            {
                return false;
            }

            headerLength = 3;
            length = length16;
        }
        else if (code == code32)
        {
            if (!TryPeekUInt32(out length))
            {
                return false;
            }

            headerLength = 5;
        }
        else
        {
            return false;
        }

        // A claim of more items than the remaining bytes could hold is a lie.
        if (length > (uint)(Remaining - headerLength) / (uint)bytesPerItem)
        {
            return false;
        }

        _position += headerLength;
        count = (int)length;
        return true;
    }

    /// <summary>Reads a string as its raw UTF-8 bytes (not validated here).</summary>
    public bool TryReadStringBytes(out ReadOnlySpan<byte> utf8)
    {
        utf8 = default;
        if (End)
        {
            return false;
        }

        var code = _buffer[_position];
        int headerLength;
        uint length;
        switch (code)
        {
            case >= MessagePackCode.MinFixStr and <= MessagePackCode.MaxFixStr:
                headerLength = 1;
                length = (uint)(code & 0x1f);
                break;
            case MessagePackCode.Str8:
                if (Remaining < 2)
                {
                    return false;
                }

                headerLength = 2;
                length = _buffer[_position + 1];
                break;
            case MessagePackCode.Str16:
                if (!TryPeekUInt16(out var length16))
                {
                    return false;
                }

                headerLength = 3;
                length = length16;
                break;
            case MessagePackCode.Str32:
                if (!TryPeekUInt32(out length))
                {
                    return false;
                }

                headerLength = 5;
                break;
            default:
                return false;
        }

        if (length > (uint)(Remaining - headerLength))
        {
            return false;
        }

        utf8 = _buffer.Slice(_position + headerLength, (int)length);
        _position += headerLength + (int)length;
        return true;
    }

    /// <summary>
    /// Skips one complete value of any type. Containers are walked with a counter rather than by
    /// recursion, so hostile nesting costs time in proportion to its bytes and no stack.
    /// </summary>
    public bool TrySkip()
    {
        long pending = 1;
        while (pending > 0)
        {
            // Every value still owed needs at least one byte.
            if (pending > Remaining)
            {
                return false;
            }

            pending--;
            var code = _buffer[_position];
            long payload;
            int headerLength;
            switch (code)
            {
                case <= MessagePackCode.MaxPositiveFixInt:
                case >= MessagePackCode.MinNegativeFixInt:
                case MessagePackCode.Nil:
                case MessagePackCode.False:
                case MessagePackCode.True:
                    headerLength = 1;
                    payload = 0;
                    break;
                case >= MessagePackCode.MinFixMap and <= MessagePackCode.MaxFixMap:
                case MessagePackCode.Map16:
                case MessagePackCode.Map32:
                    if (!TryReadMapHeader(out var mapCount))
                    {
                        return false;
                    }

                    pending += 2L * mapCount;
                    continue;
                case >= MessagePackCode.MinFixArray and <= MessagePackCode.MaxFixArray:
                case MessagePackCode.Array16:
                case MessagePackCode.Array32:
                    if (!TryReadArrayHeader(out var arrayCount))
                    {
                        return false;
                    }

                    pending += arrayCount;
                    continue;
                case >= MessagePackCode.MinFixStr and <= MessagePackCode.MaxFixStr:
                case MessagePackCode.Str8:
                case MessagePackCode.Str16:
                case MessagePackCode.Str32:
                    if (!TryReadStringBytes(out _))
                    {
                        return false;
                    }

                    continue;
                case MessagePackCode.UInt8 or MessagePackCode.Int8:
                    (headerLength, payload) = (1, 1);
                    break;
                case MessagePackCode.UInt16 or MessagePackCode.Int16:
                    (headerLength, payload) = (1, 2);
                    break;
                case MessagePackCode.UInt32 or MessagePackCode.Int32 or MessagePackCode.Float32:
                    (headerLength, payload) = (1, 4);
                    break;
                case MessagePackCode.UInt64 or MessagePackCode.Int64 or MessagePackCode.Float64:
                    (headerLength, payload) = (1, 8);
                    break;
                case MessagePackCode.FixExt1:
                    (headerLength, payload) = (2, 1);
                    break;
                case MessagePackCode.FixExt2:
                    (headerLength, payload) = (2, 2);
                    break;
                case MessagePackCode.FixExt4:
                    (headerLength, payload) = (2, 4);
                    break;
                case MessagePackCode.FixExt8:
                    (headerLength, payload) = (2, 8);
                    break;
                case MessagePackCode.FixExt16:
                    (headerLength, payload) = (2, 16);
                    break;
                case MessagePackCode.Bin8:
                    if (Remaining < 2)
                    {
                        return false;
                    }

                    (headerLength, payload) = (2, _buffer[_position + 1]);
                    break;
                case MessagePackCode.Bin16:
                    if (!TryPeekUInt16(out var bin16))
                    {
                        return false;
                    }

                    (headerLength, payload) = (3, bin16);
                    break;
                case MessagePackCode.Bin32:
                    if (!TryPeekUInt32(out var bin32))
                    {
                        return false;
                    }

                    (headerLength, payload) = (5, bin32);
                    break;
                case MessagePackCode.Ext8:
                    if (Remaining < 3)
                    {
                        return false;
                    }

                    (headerLength, payload) = (3, _buffer[_position + 1]);
                    break;
                case MessagePackCode.Ext16:
                    if (!TryPeekUInt16(out var ext16))
                    {
                        return false;
                    }

                    (headerLength, payload) = (4, ext16);
                    break;
                case MessagePackCode.Ext32:
                    if (!TryPeekUInt32(out var ext32))
                    {
                        return false;
                    }

                    (headerLength, payload) = (6, ext32);
                    break;
                default:
                    // 0xc1 is never used.
                    return false;
            }

            if (headerLength + payload > Remaining)
            {
                return false;
            }

            _position += headerLength + (int)payload;
        }

        return true;
    }

    private readonly bool TryPeekUInt16(out ushort value)
    {
        if (Remaining < 3)
        {
            value = 0;
            return false;
        }

        value = BinaryPrimitives.ReadUInt16BigEndian(_buffer.Slice(_position + 1));
        return true;
    }

    private readonly bool TryPeekUInt32(out uint value)
    {
        if (Remaining < 5)
        {
            value = 0;
            return false;
        }

        value = BinaryPrimitives.ReadUInt32BigEndian(_buffer.Slice(_position + 1));
        return true;
    }
}
