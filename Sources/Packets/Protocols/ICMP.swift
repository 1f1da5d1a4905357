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

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.icmp, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.icmp, start, end)) else { return .done }
        return .payload(start + length, end)
    }

}

extension ICMPHeader {
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        self.init(offset: start, type: b.u8(start), code: b.u8(start + 1), checksum: b.u16(start + 2),
                  restOfHeader: b.u32(start + 4), data: ByteRange(offset: start + Self.length, count: layer.end - start - Self.length))
    }

    /// Decodes the datagram quoted by an ICMP error (its IP header and first bytes).
    public func quotedPacket(in b: UnsafeRawBufferPointer) -> Packet? {
        guard isError, data.count > 0, data.end <= b.count else { return nil }
        return Packet(quotedIn: b, range: data, version: 4)
    }
}

extension ICMPHeader {
    /// `ICMP echo request, id 1, seq 1, length 64`, `ICMP 10.0.0.1 udp port 53 unreachable, length 36`.
    func summarize(writer w: SummaryWriter, length: Int, to t: TextBuffer) {
        t.append("ICMP ")
        switch type {
        case 0, 8:
            t.append(type == 8 ? "echo request, id " : "echo reply, id ")
            t.decimal(identifier); t.append(", seq "); t.decimal(sequenceNumber)
        case 3:
            writeUnreachable(w.b, to: t)
        case 4:
            t.append("source quench")
        case 5:
            t.append("redirect ")
            if let quoted = quotedPacket(in: w.b), let ip = quoted.firstIPv4(in: w.b) { t.ipv4(ip.destination) } else { t.append("?") }
            t.append(code == 0 || code == 2 ? " to net " : " to host ")
            t.ipv4(gatewayAddress)
        case 9: t.append("router advertisement")
        case 10: t.append("router solicitation")
        case 11:
            t.append(code == 1 ? "ip reassembly time exceeded" : "time exceeded in-transit")
        case 12:
            t.append("parameter problem - octet "); t.decimal(UInt8(restOfHeader >> 24))
        case 13, 14:
            t.append(type == 13 ? "time stamp query id " : "time stamp reply id ")
            t.decimal(identifier); t.append(" seq "); t.decimal(sequenceNumber)
        default:
            t.append("type-#"); t.decimal(type)
        }
        t.append(", length "); t.decimal(max(0, length))
    }

    private func writeUnreachable(_ b: UnsafeRawBufferPointer, to t: TextBuffer) {
        let quoted = quotedPacket(in: b)
        let ip = quoted?.firstIPv4(in: b)
        func destination(_ t: TextBuffer) { if let ip { t.ipv4(ip.destination) } else { t.append("?") } }
        switch code {
        case 0: t.append("net "); destination(t); t.append(" unreachable")
        case 1: t.append("host "); destination(t); t.append(" unreachable")
        case 2:
            destination(t); t.append(" protocol "); t.decimal(ip?.protocol ?? 0); t.append(" unreachable")
        case 3:
            destination(t)
            var port: UInt16?
            if let quoted {
                for layer in quoted.layers where layer.protocolID == .udp || layer.protocolID == .tcp {
                    t.append(layer.protocolID == .udp ? " udp port " : " tcp port ")
                    port = b.u16(layer.offset + 2)
                }
            }
            if port == nil, let ip, ip.payload.count >= 4 {
                // A quote too short for the transport header still holds both ports.
                t.append(ip.protocol == IPProtocolNumber.tcp ? " tcp port " : ip.protocol == IPProtocolNumber.udp ? " udp port " : " port ")
                port = b.u16(ip.payload.offset + 2)
            }
            t.decimal(port ?? 0); t.append(" unreachable")
        case 4:
            destination(t); t.append(" unreachable - need to frag (mtu "); t.decimal(nextHopMTU); t.append(")")
        case 5: destination(t); t.append(" unreachable - source route failed")
        case 6: t.append("net "); destination(t); t.append(" unreachable - unknown")
        case 7: t.append("host "); destination(t); t.append(" unreachable - unknown")
        case 9: t.append("net "); destination(t); t.append(" unreachable - admin prohibited")
        case 10: t.append("host "); destination(t); t.append(" unreachable - admin prohibited")
        case 13: t.append("host "); destination(t); t.append(" unreachable - admin prohibited filter")
        default: destination(t); t.append(" unreachable - #"); t.decimal(code)
        }
    }
}

extension Packet {
    /// The first IPv4 header, if any, read from `frame` (the bytes the packet was decoded from).
    public func firstIPv4(in frame: UnsafeRawBufferPointer) -> IPv4Header? {
        layers.first(.ipv4).map { IPv4Header($0, frame) }
    }

    /// The first IPv6 header, if any, read from `frame` (the bytes the packet was decoded from).
    public func firstIPv6(in frame: UnsafeRawBufferPointer) -> IPv6Header? {
        layers.first(.ipv6).map { IPv6Header($0, frame) }
    }
}
