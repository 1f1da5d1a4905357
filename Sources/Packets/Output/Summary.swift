import HopscopeModel

/// How summaries are written.
public struct SummaryOptions: Sendable {
    /// Print link-level headers too (MAC addresses, EtherType, VLAN tags), like `tcpdump -e`.
    public var linkHeaders: Bool

    public init(linkHeaders: Bool = false) { self.linkHeaders = linkHeaders }
}

extension Packet {
    /// A one-line summary in tcpdump's style (`tcpdump -n -S`): `IP 10.0.0.5 > 203.0.113.1: ICMP
    /// echo request, id 1, seq 1, length 64`. Tunnelled packets continue on the same line after
    /// `: ` (`VXLAN, flags [I] (0x08), vni 100: IP ...`); DHCP adds its message type, DNS its
    /// names and answers. `frame` must be the bytes this packet was decoded from.
    public func summary(in frame: UnsafeRawBufferPointer, options: SummaryOptions = SummaryOptions()) -> String {
        var text = TextBuffer()
        writeSummary(in: frame, to: &text, options: options)
        return text.string
    }

    /// Appends the one-line summary (no newline) to `text`. Allocates nothing once `text` has grown
    /// to a line's size.
    public func writeSummary(in frame: UnsafeRawBufferPointer, to text: inout TextBuffer, options: SummaryOptions = SummaryOptions()) {
        precondition(capturedLength <= frame.count, "writeSummary(in:) needs the frame the packet was decoded from")
        layers.withView { layers in
            SummaryWriter(layers: layers, issue: issue, b: frame, options: options).write(from: 0, end: wireLength, to: text)
        }
        if let issue {
            switch issue.kind {
            case .truncated:
                text.append(" [|")
                text.append(contentsOf: issue.layer.rawValue)
                text.append("]")
            case .malformed:
                text.append(" [malformed ")
                text.append(contentsOf: issue.layer.rawValue)
                text.append(": ")
                text.append(contentsOf: issue.reason.rawValue)
                text.append("]")
            }
        }
    }
}

/// Walks the layers and writes each one's part of the line. Each protocol's words live in its
/// own file (`summarize`); this type only sequences them.
struct SummaryWriter {
    let layers: LayerView
    let issue: DecodeError?
    let b: UnsafeRawBufferPointer
    let options: SummaryOptions

    /// Writes layers from index `i` on. `end` is where the enclosing datagram ends according to
    /// its headers (the wire length for the link layer), which is what tcpdump's lengths count.
    func write(from i: Int, end: Int, to t: TextBuffer, afterLinkHeader: Bool = false) {
        guard i < layers.count else { return }
        let layer = layers[i]
        switch layer.protocolID {
        case .ethernet:
            let h = EthernetHeader(layer, b)
            if options.linkHeaders {
                t.mac(h.source); t.append(" > "); t.mac(h.destination)
                if h.isLength {
                    t.append(", 802.3, length "); t.decimal(max(0, end - h.offset))
                    if i + 1 < layers.count { t.append(": ") }
                    write(from: i + 1, end: end, to: t)
                    return
                }
                t.append(", ethertype "); EtherTypeName.write(h.etherType, to: t)
                t.append(", length "); t.decimal(max(0, end - h.offset)); t.append(": ")
                write(from: i + 1, end: end, to: t, afterLinkHeader: true)
            } else if i + 1 >= layers.count || isPayload(i + 1) {
                if h.isLength {
                    t.append("802.3, length "); t.decimal(max(0, end - h.offset - EthernetHeader.length))
                } else {
                    t.append("ethertype "); EtherTypeName.write(h.etherType, to: t)
                    t.append(", length "); t.decimal(max(0, end - h.offset - EthernetHeader.length))
                }
            } else {
                write(from: i + 1, end: end, to: t)
            }
        case .vlan:
            let v = VLANTag(layer, b)
            if options.linkHeaders {
                t.append("vlan "); t.decimal(v.vlanID); t.append(", p "); t.decimal(v.priority)
                if v.dropEligible { t.append(", DEI") }
                t.append(", ethertype "); EtherTypeName.write(v.etherType, to: t); t.append(", ")
                write(from: i + 1, end: end, to: t, afterLinkHeader: true)
            } else if i + 1 >= layers.count || isPayload(i + 1) {
                t.append("vlan "); t.decimal(v.vlanID); t.append(", ethertype "); EtherTypeName.write(v.etherType, to: t)
            } else {
                write(from: i + 1, end: end, to: t)
            }
        case .linuxSLL:
            let h = LinuxSLLHeader(layer, b)
            if options.linkHeaders { t.append(contentsOf: LinuxPacketType(rawValue: h.packetType)?.tcpdumpName ?? "?"); t.append(" ") }
            if options.linkHeaders, let mac = h.sourceMAC { t.mac(mac); t.append(" ethertype "); EtherTypeName.write(h.protocolType, to: t); t.append(", ") }
            write(from: i + 1, end: end, to: t)
        case .linuxSLL2:
            let h = LinuxSLL2Header(layer, b)
            t.append("ifindex "); t.decimal(h.interfaceIndex); t.append(" ")
            t.append(contentsOf: LinuxPacketType(rawValue: UInt16(h.packetType))?.tcpdumpName ?? "?"); t.append(" ")
            if options.linkHeaders, let mac = h.sourceMAC { t.mac(mac); t.append(" ethertype "); EtherTypeName.write(h.protocolType, to: t); t.append(", ") }
            write(from: i + 1, end: end, to: t)
        case .nullLoopback:
            let h = NullLoopbackHeader(layer)
            if options.linkHeaders { t.append("AF "); t.decimal(h.family); t.append(": ") }
            if i + 1 >= layers.count || isPayload(i + 1) { t.append("loopback family "); t.decimal(h.family) }
            write(from: i + 1, end: end, to: t)
        case .arp:
            ARPPacket(layer, b).summarize(b, length: end - layer.offset, to: t)
        case .ipv4:
            IPv4Header(layer, b).summarize(writer: self, index: i, omitPrefix: afterLinkHeader, to: t)
        case .ipv6:
            IPv6Header(layer, b).summarize(writer: self, index: i, omitPrefix: afterLinkHeader, to: t)
        case .ipv6Extension, .icmp, .icmpv6, .udp, .tcp, .gre, .vxlan, .geneve, .dhcp, .dns, .payload:
            writeTransport(from: i, end: end, to: t)
        }
    }

    /// Writes what follows an IP header's addresses (`: ` already written).
    func writeTransport(from i: Int, end: Int, to t: TextBuffer) {
        guard i < layers.count else { return }
        let layer = layers[i]
        switch layer.protocolID {
        case .icmp: ICMPHeader(layer, b).summarize(writer: self, length: end - layer.offset, to: t)
        case .icmpv6: ICMPv6Header(layer, b).summarize(length: end - layer.offset, to: t)
        case .udp: UDPHeader(layer, b).summarize(writer: self, index: i, to: t)
        case .tcp:
            let h = TCPHeader(layer, b)
            h.summarize(writer: self, index: i, length: end - h.offset - h.headerLength, to: t)
        case .gre: GREHeader(layer, b).summarize(writer: self, index: i, length: end - layer.offset, to: t)
        case .ipv6Extension: IPv6ExtensionHeader(layer, b).summarize(writer: self, index: i, end: end, to: t)
        case .ipv4, .ipv6: write(from: i, end: end, to: t)
        default: break
        }
    }

    /// Writes `src[.port] > dst[.port]:` for an IP header at `i`, with the ports of a TCP or UDP
    /// header right after it (tcpdump's form). Returns whether a further layer follows.
    @inline(__always)
    func writeAddresses(of i: Int, source: IPAddress, destination: IPAddress, to t: TextBuffer) -> Bool {
        let hasNext = i + 1 < layers.count
        var ports = false
        var portsAt = 0
        if hasNext {
            let next = layers[i + 1]
            if next.protocolID == .tcp || next.protocolID == .udp {
                ports = true
                portsAt = next.offset
            }
        }
        t.ip(source)
        if ports { t.byte(UInt8(ascii: ".")); t.decimal(b.u16(portsAt)) }
        t.append(" > ")
        t.ip(destination)
        if ports { t.byte(UInt8(ascii: ".")); t.decimal(b.u16(portsAt + 2)) }
        t.append(":")
        return hasNext
    }

    @inline(__always)
    func isPayload(_ i: Int) -> Bool { layers[i].protocolID == .payload }

    /// True when the layer before `i` is an IPv6 extension header (the transport then prints its
    /// own ports, as tcpdump does).
    @inline(__always)
    func followsExtensionHeader(_ i: Int) -> Bool { i > 0 && layers[i - 1].protocolID == .ipv6Extension }

    /// The layer after `i`, when there is one.
    @inline(__always)
    func next(_ i: Int) -> Layer? { i + 1 < layers.count ? layers[i + 1] : nil }

    /// Writes the inner packet of a tunnel (`: ` and its layers) if one was decoded.
    func writeInner(from i: Int, end: Int, to t: TextBuffer) {
        guard i < layers.count, !isPayload(i) else { return }
        t.append(": ")
        write(from: i, end: end, to: t)
    }
}

/// tcpdump's names for EtherTypes in `-e` output: `IPv4 (0x0800)`.
enum EtherTypeName {
    /// tcpdump's name for an EtherType, or nil when it has none.
    static func name(_ type: UInt16) -> StaticString? {
        switch type {
        case EtherType.ipv4: "IPv4"
        case EtherType.ipv6: "IPv6"
        case EtherType.arp: "ARP"
        case EtherType.vlan: "802.1Q"
        case EtherType.qinq: "802.1Q-QinQ"
        case EtherType.qinqLegacy: "802.1Q-9100"
        case 0x9200: "802.1Q-9200"
        case 0x8035: "Reverse ARP"
        case 0x88CC: "LLDP"
        case 0x8847: "MPLS unicast"
        case 0x8864: "PPPoE S"
        default: nil
        }
    }

    static func write(_ type: UInt16, to t: TextBuffer) {
        t.append(name(type) ?? "Unknown")
        t.append(" (0x"); t.hex(type, width: 4); t.append(")")
    }
}
