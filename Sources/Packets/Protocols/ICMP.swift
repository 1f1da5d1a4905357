import HopscopeModel

// ICMP for IPv4, RFC 792
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   rest of header: Identifier | Sequence Number (echo, 0/8),   |
//  |   Gateway Internet Address (redirect, 5), unused | Next-Hop   |
//  |   MTU (destination unreachable code 4, RFC 1191), Pointer (12)|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data: echo payload, or for errors (3, 4, 5, 11, 12) the      |
//  |  Internet Header + 64 bits of the datagram that caused it     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// The ICMP header. For error messages `data` holds the quoted datagram, decoded on demand with
/// `quotedPacket(in:)` (it is what tells which flow an unreachable refers to).
public struct ICMPHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var type: UInt8
    public var code: UInt8
    public var checksum: UInt16
    /// The 4 bytes after the checksum, whose meaning depends on the type.
    public var restOfHeader: UInt32
    /// Everything after the 8-byte header, in the frame.
    public var data: ByteRange

    public static let length = 8

    public var isEcho: Bool { type == 0 || type == 8 }
    public var identifier: UInt16 { UInt16(restOfHeader >> 16) }
    public var sequenceNumber: UInt16 { UInt16(restOfHeader & 0xFFFF) }
    public var gatewayAddress: IPv4Address { IPv4Address(value: restOfHeader) }
    public var nextHopMTU: UInt16 { UInt16(restOfHeader & 0xFFFF) }
    /// Destination unreachable, source quench, redirect, time exceeded, parameter problem.
    public var isError: Bool { type == 3 || type == 4 || type == 5 || type == 11 || type == 12 }

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.icmp, at: start, needed: length, available: end - start))
        }
        let header = ICMPHeader(offset: start, type: b.u8(start), code: b.u8(start + 1), checksum: b.u16(start + 2),
                                restOfHeader: b.u32(start + 4), data: ByteRange(offset: start + length, count: end - start - length))
        guard packet.push(.icmp(header)) else { return .done }
        return .payload(start + length, end)
    }

    /// Decodes the datagram quoted by an ICMP error (its IP header and first bytes).
    public func quotedPacket(in b: UnsafeRawBufferPointer) -> Packet? {
        guard isError, data.count > 0, data.end <= b.count else { return nil }
        return Packet(quotedIn: b, range: data, version: 4)
    }
}
