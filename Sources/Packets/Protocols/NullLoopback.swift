// BSD loopback encapsulation (LINKTYPE_NULL 0 and LINKTYPE_LOOP 108)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    Address family (AF_INET 2, AF_INET6 24/28/30), 32 bits     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// NULL stores the family in the capturing host's byte order, LOOP in network order; a value
// with its high half set must have been written by a host of the other byte order.

/// The 4-byte address-family header of BSD loopback captures.
public struct NullLoopbackHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// The address family, already in the right byte order.
    public var family: UInt32

    public static let length = 4

    static func decode(bigEndian: Bool, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.nullLoopback, at: start, needed: length, available: end - start))
        }
        var family = b.u32(start)
        if !bigEndian && family & 0xFFFF_0000 != 0 { family = family.byteSwapped }
        guard packet.push(Layer(.nullLoopback, start, end, aux: family)) else { return .done }
        switch family {
        case 2: return .etherType(EtherType.ipv4, start + length, end)
        case 10, 24, 28, 30: return .etherType(EtherType.ipv6, start + length, end)
        default: return .payload(start + length, end)
        }
    }

}

extension NullLoopbackHeader {
    init(_ layer: Layer) {
        self.init(offset: layer.offset, family: layer.aux)
    }
}
