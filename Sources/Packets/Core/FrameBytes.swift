import HopscopeModel

// Big-endian field access over the bytes of one captured frame.
//
// Every decoder checks, once per header, that the bytes it is about to read lie inside the layer
// (and so inside the frame); these accessors then read without further checks in release builds.
// That is what keeps the hot path free of per-field branches, and it is why they are internal.

extension UnsafeRawBufferPointer {
    @inline(__always) func u8(_ offset: Int) -> UInt8 { self[offset] }

    @inline(__always) func u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) func u24(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) << 16 | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2])
    }

    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) func u64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always) func mac(_ offset: Int) -> MACAddress {
        MACAddress(value: UInt64(u32(offset)) << 16 | UInt64(u16(offset + 4)))
    }

    @inline(__always) func ipv4(_ offset: Int) -> IPv4Address {
        IPv4Address(value: u32(offset))
    }

    @inline(__always) func ipv6(_ offset: Int) -> IPv6Address {
        IPv6Address(high: u64(offset), low: u64(offset + 8))
    }

    /// The bytes in `range` as lower-case hex with colons (`01:00:5e`), tshark's form for raw fields.
    func hexString(_ range: Range<Int>, separator: String = ":") -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(range.count * 3)
        for i in range {
            if i != range.lowerBound { out.append(contentsOf: separator.utf8) }
            out.append(digits[Int(self[i] >> 4)])
            out.append(digits[Int(self[i] & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A byte range inside a frame: where a variable-length part of a header (options, records) lies.
///
/// Decoders keep ranges instead of copies so that decoding allocates nothing; the element values
/// are read from the frame bytes on demand.
public struct ByteRange: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var count: Int

    public init(offset: Int, count: Int) {
        self.offset = offset
        self.count = count
    }

    public static let empty = ByteRange(offset: 0, count: 0)
    public var end: Int { offset + count }
    public var range: Range<Int> { offset..<end }
    public var isEmpty: Bool { count == 0 }
}
