// UDP, RFC 768
//
//   0      7 8     15 16    23 24    31
//  +--------+--------+--------+--------+
//  |     Source      |   Destination   |
//  |      Port       |      Port       |
//  +--------+--------+--------+--------+
//  |                 |                 |
//  |     Length      |    Checksum     |
//  +--------+--------+--------+--------+
//  |          data octets ...
//  +---------------- ...

/// The UDP header. The payload is dispatched by port: DHCP (67/68), DNS (53), VXLAN (4789 and
/// Linux's default 8472), Geneve (6081).
public struct UDPHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Length of header and data in bytes, as on the wire.
    public var length: UInt16
    public var checksum: UInt16
    /// Where the data lies in the frame (cut at the end of the capture).
    public var payload: ByteRange

    public static let headerLength = 8

    public enum WellKnownPort {
        public static let dns: UInt16 = 53
        public static let bootps: UInt16 = 67
        public static let bootpc: UInt16 = 68
        public static let vxlan: UInt16 = 4789
        public static let vxlanLinux: UInt16 = 8472
        public static let geneve: UInt16 = 6081
    }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= headerLength else {
            return packet.fail(.truncated(.udp, at: start, needed: headerLength, available: captured))
        }
        let layer = Layer(.udp, start, end)
        let length = Int(b.u16(start + 4))
        var payloadEnd = end
        if length != 0 {
            // Length 0 is left by UDP segmentation offload (and jumbograms); else it must fit.
            guard length >= headerLength else {
                return packet.fail(.malformed(.udp, at: start + 4, .lengthTooSmall, value: length), after: layer)
            }
            if length <= captured {
                payloadEnd = start + length
            } else if !packet.isCutBySnapLength && !packet.isFragment && !packet.isIPPayloadCut {
                return packet.fail(.malformed(.udp, at: start + 4, .lengthBeyondEnclosing, value: length), after: layer)
            }
        }
        guard packet.push(layer) else { return .done }
        let data = start + headerLength
        if data == payloadEnd { return .done }
        // A fragment carries only part of the application message: keep it raw.
        if packet.isFragment { return .payload(data, payloadEnd) }
        let sport = b.u16(start), dport = b.u16(start + 2)
        if dport == WellKnownPort.vxlan || dport == WellKnownPort.vxlanLinux { return .vxlan(data, payloadEnd) }
        if dport == WellKnownPort.geneve { return .geneve(data, payloadEnd) }
        if sport == WellKnownPort.dns || dport == WellKnownPort.dns { return .dns(data, payloadEnd, overTCP: false) }
        if sport == WellKnownPort.bootps || dport == WellKnownPort.bootps || sport == WellKnownPort.bootpc || dport == WellKnownPort.bootpc {
            return .dhcp(data, payloadEnd)
        }
        return .payload(data, payloadEnd)
    }

}

extension UDPHeader {
    /// The fields as decoding saw them: `payload` ends where Length says when it fits the frame.
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let captured = layer.end - start
        let length = b.u16(start + 4)
        let dataLength = Int(length) >= Self.headerLength && Int(length) <= captured ? Int(length) - Self.headerLength : captured - Self.headerLength
        self.init(offset: start, sourcePort: b.u16(start), destinationPort: b.u16(start + 2), length: length,
                  checksum: b.u16(start + 6), payload: ByteRange(offset: start + Self.headerLength, count: dataLength))
    }
}

extension UDPHeader {
    /// `UDP, length 10`, or the application's summary (DNS, DHCP, VXLAN, Geneve).
    func summarize(writer w: SummaryWriter, index i: Int, to t: TextBuffer) {
        if w.followsExtensionHeader(i) {
            t.decimal(sourcePort); t.append(" > "); t.decimal(destinationPort); t.append(": ")
        }
        let dataLength = length >= 8 ? Int(length) - 8 : payload.count
        if let next = w.next(i) {
            switch next.protocolID {
            case .dns: DNSMessage.summarize(next, writer: w, to: t); return
            case .dhcp: DHCPMessage(next, w.b).summarize(writer: w, length: dataLength, to: t); return
            case .vxlan: VXLANHeader(next, w.b).summarize(writer: w, index: i + 1, end: payload.offset + dataLength, to: t); return
            case .geneve: GeneveHeader(next, w.b).summarize(writer: w, index: i + 1, end: payload.offset + dataLength, to: t); return
            default: break
            }
        }
        t.append("UDP, length "); t.decimal(dataLength)
    }
}
