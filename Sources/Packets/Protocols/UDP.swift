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

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= headerLength else {
            return packet.fail(.truncated(.udp, at: start, needed: headerLength, available: captured))
        }
        let length = b.u16(start + 4)
        var header = UDPHeader(offset: start, sourcePort: b.u16(start), destinationPort: b.u16(start + 2), length: length,
                               checksum: b.u16(start + 6), payload: ByteRange(offset: start + headerLength, count: captured - headerLength))
        var payloadEnd = end
        if length != 0 {
            // Length 0 is left by UDP segmentation offload (and jumbograms); else it must fit.
            guard Int(length) >= headerLength else {
                _ = packet.push(.udp(header))
                return packet.fail(.malformed(.udp, at: start + 4, .lengthTooSmall, value: Int(length)))
            }
            if Int(length) <= captured {
                payloadEnd = start + Int(length)
            } else if !packet.isCutBySnapLength && !packet.isFragment && !packet.isIPPayloadCut {
                _ = packet.push(.udp(header))
                return packet.fail(.malformed(.udp, at: start + 4, .lengthBeyondEnclosing, value: Int(length)))
            }
        }
        header.payload = ByteRange(offset: start + headerLength, count: payloadEnd - start - headerLength)
        guard packet.push(.udp(header)) else { return .done }
        let data = start + headerLength
        if data == payloadEnd { return .done }
        // A fragment carries only part of the application message: keep it raw.
        if packet.isFragment { return .payload(data, payloadEnd) }
        let sport = header.sourcePort, dport = header.destinationPort
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
    /// `UDP, length 10`, or the application's summary (DNS, DHCP, VXLAN, Geneve).
    func summarize(writer w: SummaryWriter, index i: Int, to t: inout TextBuffer) {
        if i > 0, case .ipv6Extension = w.packet.layers[i - 1] {
            t.decimal(sourcePort); t.append(" > "); t.decimal(destinationPort); t.append(": ")
        }
        let dataLength = length >= 8 ? Int(length) - 8 : payload.count
        if i + 1 < w.packet.layers.count {
            switch w.packet.layers[i + 1] {
            case .dns(let m): m.summarize(writer: w, to: &t); return
            case .dhcp(let m): m.summarize(writer: w, length: dataLength, to: &t); return
            case .vxlan(let v): v.summarize(writer: w, index: i + 1, end: payload.offset + dataLength, to: &t); return
            case .geneve(let g): g.summarize(writer: w, index: i + 1, end: payload.offset + dataLength, to: &t); return
            default: break
            }
        }
        t.append("UDP, length "); t.decimal(dataLength)
    }
}
