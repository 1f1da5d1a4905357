import HopscopeModel

// IPv6, RFC 8200 section 3
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                         Source Address                        +
//  |                          (128 bits)                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                      Destination Address                      +
//  |                          (128 bits)                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A Payload Length of 0 means a jumbogram (RFC 2675: the length is in a Hop-by-Hop Jumbo Payload
// option) or an offloaded super-packet (BIG TCP); the payload then runs to the end of the frame
// unless a Jumbo Payload option says otherwise.

/// The IPv6 fixed header. Extension headers follow as `IPv6ExtensionHeader` layers.
public struct IPv6Header: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var version: UInt8
    public var trafficClass: UInt8
    public var flowLabel: UInt32
    public var payloadLength: UInt16
    public var nextHeader: UInt8
    public var hopLimit: UInt8
    public var source: IPv6Address
    public var destination: IPv6Address
    /// Where the payload (extension headers included) lies in the frame.
    public var payload: ByteRange

    public static let length = 40
    public var dscp: UInt8 { trafficClass >> 2 }
    public var ecn: UInt8 { trafficClass & 3 }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= length else {
            return packet.fail(.truncated(.ipv6, at: start, needed: length, available: captured))
        }
        let version = b.u8(start) >> 4
        guard version == 6 else { return packet.fail(.malformed(.ipv6, at: start, .badVersion, value: Int(version))) }
        let payloadLength = Int(b.u16(start + 4))
        var payloadEnd = end
        if payloadLength != 0 {
            if start + length + payloadLength <= end {
                payloadEnd = start + length + payloadLength
            } else {
                packet.isIPPayloadCut = true
                if !packet.isCutBySnapLength {
                    packet.note(.malformed(.ipv6, at: start + 4, .lengthBeyondEnclosing, value: payloadLength))
                }
            }
        }
        guard packet.push(Layer(.ipv6, start, end)) else { return .done }
        return .ipProtocol(b.u8(start + 6), start + length, payloadEnd, ipv6Start: start)
    }

}

extension IPv6Header {
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset, end = layer.end
        let first = b.u32(start)
        let payloadLength = b.u16(start + 4)
        let payloadEnd = payloadLength != 0 && start + Self.length + Int(payloadLength) <= end ? start + Self.length + Int(payloadLength) : end
        self.init(offset: start, version: 6, trafficClass: UInt8(truncatingIfNeeded: first >> 20), flowLabel: first & 0xFFFFF,
                  payloadLength: payloadLength, nextHeader: b.u8(start + 6), hopLimit: b.u8(start + 7),
                  source: b.ipv6(start + 8), destination: b.ipv6(start + 24),
                  payload: ByteRange(offset: start + Self.length, count: payloadEnd - start - Self.length))
    }
}

// IPv6 extension headers, RFC 8200 section 4 (and RFC 4302 for AH)
//
//  Hop-by-Hop / Destination Options / Routing (generic form):
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |  Hdr Ext Len  |  options, or Routing Type and |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  Segments Left, then data     |
//  |   ((Hdr Ext Len + 1) * 8 bytes in all)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  Fragment (8 bytes):
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Identification                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  Authentication Header: Payload Len counts 32-bit words minus 2.

/// One IPv6 extension header (Hop-by-Hop, Routing, Fragment, Destination Options or AH).
public struct IPv6ExtensionHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// The header's own protocol number: 0 Hop-by-Hop, 43 Routing, 44 Fragment, 60 Destination
    /// Options, 51 Authentication.
    public var headerType: UInt8
    public var nextHeader: UInt8
    /// Hdr Ext Len as on the wire (8-octet units beyond the first 8; AH: 4-octet units minus 2).
    public var headerExtensionLength: UInt8
    /// Length of the whole extension header in bytes.
    public var length: Int
    /// Routing header: Routing Type and Segments Left.
    public var routingType: UInt8
    public var segmentsLeft: UInt8
    /// Fragment header: offset in 8-byte units, M flag, Identification.
    public var fragmentOffset: UInt16
    public var moreFragments: Bool
    public var identification: UInt32
    /// Hop-by-Hop Jumbo Payload option value (RFC 2675), when present.
    public var jumboPayloadLength: UInt32?
    /// Options (Hop-by-Hop, Destination) or type-specific data (Routing), in the frame.
    public var data: ByteRange

    public var name: String {
        switch headerType {
        case IPProtocolNumber.hopByHop: "hop-by-hop"
        case IPProtocolNumber.routing: "routing"
        case IPProtocolNumber.fragment: "fragment"
        case IPProtocolNumber.destinationOptions: "destination-options"
        case IPProtocolNumber.authentication: "authentication"
        default: "extension-\(headerType)"
        }
    }

    static func isExtension(_ protocolNumber: UInt8) -> Bool {
        switch protocolNumber {
        case IPProtocolNumber.hopByHop, IPProtocolNumber.routing, IPProtocolNumber.fragment,
             IPProtocolNumber.destinationOptions, IPProtocolNumber.authentication: true
        default: false
        }
    }

    /// Length of the extension header of `type` whose Hdr Ext Len is `hdrExtLen`.
    @inline(__always)
    static func length(type: UInt8, hdrExtLen: UInt8) -> Int {
        switch type {
        case IPProtocolNumber.fragment: 8
        case IPProtocolNumber.authentication: (Int(hdrExtLen) + 2) * 4
        default: (Int(hdrExtLen) + 1) * 8
        }
    }

    static func decode(type: UInt8, ipv6Start: Int, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= 8 else {
            return packet.fail(.truncated(.ipv6Extension, at: start, needed: 8, available: captured))
        }
        let length = length(type: type, hdrExtLen: b.u8(start + 1))
        guard captured >= length else {
            return packet.fail(.truncated(.ipv6Extension, at: start, needed: length, available: captured),
                               after: Layer(.ipv6Extension, start, end, extra: UInt16(type)))
        }
        var payloadEnd = end
        var flags: UInt8 = 0
        var jumboLength: UInt32 = 0
        if type == IPProtocolNumber.hopByHop || type == IPProtocolNumber.destinationOptions {
            switch IPv6Option.scan(b, ByteRange(offset: start + 2, count: length - 2)) {
            case .failure(let error): packet.note(error)
            case .success(let jumbo):
                if let jumbo {
                    flags = Layer.hasValue
                    jumboLength = jumbo
                    // A jumbogram's length counts from the end of the fixed header (RFC 2675).
                    if type == IPProtocolNumber.hopByHop, ipv6Start >= 0, b.u16(ipv6Start + 4) == 0 {
                        let declaredEnd = ipv6Start + IPv6Header.length + Int(jumbo)
                        if declaredEnd < end { payloadEnd = declaredEnd }
                    }
                }
            }
        }
        guard packet.push(Layer(.ipv6Extension, start, end, flags: flags, extra: UInt16(type), aux: jumboLength)) else { return .done }
        if type == IPProtocolNumber.fragment {
            packet.isFragment = true
            if b.u16(start + 2) >> 3 != 0 { return .payload(start + length, payloadEnd) }
        }
        return .ipProtocol(b.u8(start), start + length, payloadEnd, ipv6Start: ipv6Start)
    }

}

extension IPv6ExtensionHeader {
    /// The fields as decoding saw them: a header cut short keeps only its first 8 bytes' fields.
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let captured = layer.end - start
        let type = UInt8(truncatingIfNeeded: layer.extra)
        let hdrExtLen = b.u8(start + 1)
        let length = Self.length(type: type, hdrExtLen: hdrExtLen)
        self.init(offset: start, headerType: type, nextHeader: b.u8(start), headerExtensionLength: hdrExtLen,
                  length: length, routingType: 0, segmentsLeft: 0, fragmentOffset: 0, moreFragments: false,
                  identification: 0, jumboPayloadLength: layer.flags & Layer.hasValue != 0 ? layer.aux : nil,
                  data: ByteRange(offset: start + 2, count: min(length, captured) - 2))
        if type == IPProtocolNumber.routing {
            // In the first 8 bytes, so known even when the rest is cut off.
            routingType = b.u8(start + 2)
            segmentsLeft = b.u8(start + 3)
        }
        guard captured >= length else { return }
        switch type {
        case IPProtocolNumber.fragment:
            let word = b.u16(start + 2)
            fragmentOffset = word >> 3
            moreFragments = word & 1 != 0
            identification = b.u32(start + 4)
            data = .empty
        case IPProtocolNumber.routing:
            data = ByteRange(offset: start + 4, count: length - 4)
        default:
            break
        }
    }
}

/// One option of a Hop-by-Hop or Destination Options header (RFC 8200 section 4.2): Pad1 is a
/// single zero byte; every other option is Option Type, Opt Data Len, data.
public struct IPv6Option: Hashable, Sendable, Codable {
    public var type: UInt8
    public var length: UInt8?
    public var data: [UInt8]

    public var name: String {
        switch type {
        case 0: "Pad1"
        case 1: "PadN"
        case 5: "router-alert"
        case 0xC2: "jumbo"
        case 0x04: "tunnel-encapsulation-limit"
        case 0xC9: "home-address"
        default: "unknown-\(type)"
        }
    }

    /// Validates the options and returns the Jumbo Payload length if one is present.
    static func scan(_ b: UnsafeRawBufferPointer, _ range: ByteRange) -> Result<UInt32?, DecodeError> {
        var i = range.offset
        var jumbo: UInt32?
        let rangeEnd = min(range.end, b.count)
        while i < rangeEnd {
            let type = b.u8(i)
            if type == 0 { i += 1; continue }
            guard i + 1 < rangeEnd else { return .failure(.malformed(.ipv6Extension, at: i, .badOptionLength)) }
            let length = Int(b.u8(i + 1))
            guard i + 2 + length <= rangeEnd else { return .failure(.malformed(.ipv6Extension, at: i, .badOptionLength, value: length)) }
            if type == 0xC2 && length == 4 { jumbo = b.u32(i + 2) }
            i += 2 + length
        }
        return .success(jumbo)
    }

    /// Every option of a Hop-by-Hop or Destination Options header.
    public static func all(in b: UnsafeRawBufferPointer, of header: IPv6ExtensionHeader) throws(DecodeError) -> [IPv6Option] {
        guard header.headerType == IPProtocolNumber.hopByHop || header.headerType == IPProtocolNumber.destinationOptions else { return [] }
        var out: [IPv6Option] = []
        var i = header.data.offset
        let end = min(header.data.end, b.count)
        while i < end {
            let type = b.u8(i)
            if type == 0 { out.append(IPv6Option(type: 0, length: nil, data: [])); i += 1; continue }
            guard i + 1 < end else { throw .malformed(.ipv6Extension, at: i, .badOptionLength) }
            let length = Int(b.u8(i + 1))
            guard i + 2 + length <= end else { throw .malformed(.ipv6Extension, at: i, .badOptionLength, value: length) }
            out.append(IPv6Option(type: type, length: UInt8(length), data: Array(b[(i + 2)..<(i + 2 + length)])))
            i += 2 + length
        }
        return out
    }
}

extension IPv6Header {
    /// `IP6 fe80::1 > ff02::1: ICMP6, ...`; extension headers as tcpdump names them (`HBH`,
    /// `frag (0|1448)`), then the transport.
    func summarize(writer w: SummaryWriter, index i: Int, omitPrefix: Bool, to t: TextBuffer) {
        if !omitPrefix { t.append("IP6 ") }
        let end = payloadLength == 0 ? payload.end : payload.offset + Int(payloadLength)
        let hasNext = w.writeAddresses(of: i, source: .v6(source), destination: .v6(destination), to: t)
        if !hasNext || w.isPayload(i + 1) {
            if hasNext || w.issue == nil {
                t.append("  ip-proto-"); t.decimal(nextHeader); t.append(" "); t.decimal(max(0, end - payload.offset))
            }
            return
        }
        t.append(" ")
        w.writeTransport(from: i + 1, end: end, to: t)
    }
}

extension IPv6ExtensionHeader {
    func summarize(writer w: SummaryWriter, index i: Int, end: Int, to t: TextBuffer) {
        switch headerType {
        case IPProtocolNumber.hopByHop: t.append("HBH ")
        case IPProtocolNumber.destinationOptions: t.append("DSTOPT ")
        case IPProtocolNumber.routing:
            t.append("RT6 (len="); t.decimal(headerExtensionLength); t.append(", type="); t.decimal(routingType)
            t.append(", segleft="); t.decimal(segmentsLeft); t.append(") ")
        case IPProtocolNumber.fragment:
            t.append("frag ("); t.decimal(Int(fragmentOffset) * 8); t.append("|"); t.decimal(max(0, end - offset - 8)); t.append(")")
            if fragmentOffset != 0 { return }
            t.append(" ")
        case IPProtocolNumber.authentication: t.append("AH ")
        default: break
        }
        let next = i + 1
        guard next < w.layers.count else { return }
        if w.isPayload(next) {
            t.append("ip-proto-"); t.decimal(nextHeader); t.append(" "); t.decimal(max(0, end - offset - length))
            return
        }
        w.writeTransport(from: next, end: end, to: t)
    }
}
