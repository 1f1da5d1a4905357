import Foundation
import HopscopeModel
import Packets

/// What an active probe sends: ICMP echo, an ARP request, a UDP datagram, a TCP SYN, a DHCP
/// exchange (discover, offer, request, ack) or a DNS query.
public enum ProbeKind: Sendable, Hashable, Codable, CustomStringConvertible {
    case ping(count: Int)
    case arp
    case udp(port: UInt16)
    case tcp(port: UInt16)
    case dhcp
    case dns(name: String)

    public var description: String {
        switch self {
        case .ping(let n): "\(n) ICMP echo request\(n == 1 ? "" : "s")"
        case .arp: "an ARP request"
        case .udp(let p): "a UDP datagram to port \(p)"
        case .tcp(let p): "a TCP SYN to port \(p)"
        case .dhcp: "a DHCP exchange (discover, request)"
        case .dns(let name): "a DNS query for \(name)"
        }
    }
}

/// One probe as sent: what, to where, and the marks that recognise its packets on any hop (a
/// random payload, DHCP transaction id, DNS question, TCP/UDP source port), whatever NAT or a
/// tunnel does to its addresses.
public struct Probe: Sendable, Hashable, Codable {
    public var kind: ProbeKind
    /// The destination (nil for DHCP, which is broadcast).
    public var destination: IPv4Address?
    /// 16 random bytes carried by ICMP and UDP probes.
    public var marker: [UInt8]
    /// ICMP identifier, DHCP xid (low 16 bits), DNS id.
    public var identifier: UInt16
    public var transactionID: UInt32
    /// The source port of UDP, TCP and DNS probes (chosen up front so captures can tell them).
    public var sourcePort: UInt16
    /// The MAC a DHCP probe asks for (the instance's).
    public var clientMAC: MACAddress?

    public init(kind: ProbeKind, destination: IPv4Address?, clientMAC: MACAddress? = nil) {
        var g = SystemRandomNumberGenerator()
        self.kind = kind
        self.destination = destination
        marker = Array("hopscope".utf8) + (0..<8).map { _ in UInt8.random(in: 0...255, using: &g) }
        identifier = UInt16.random(in: 1...UInt16.max, using: &g)
        transactionID = UInt32.random(in: 1...UInt32.max, using: &g)
        sourcePort = UInt16.random(in: 41_000...59_000, using: &g)
        self.clientMAC = clientMAC
    }

    /// Which way a captured packet of this probe travels.
    public enum Leg: String, Sendable, Codable {
        /// From the prober: echo request, ARP request, datagram, SYN, DHCP client message, DNS query.
        case request
        /// Back to it: echo reply, ARP reply, SYN-ACK or RST, DHCP server message, DNS response.
        case answer
    }

    /// Says whether `frame` (an Ethernet frame, possibly tunnelled) belongs to this probe, and
    /// which leg; nil for every other frame. Looks at the innermost headers, so a VXLAN copy on
    /// the underlay counts as the packet itself.
    public func leg(of frame: [UInt8], linkType: LinkType = .ethernet) -> Leg? {
        let layers = Packet(decoding: frame, linkType: linkType).headers(in: frame)
        switch kind {
        case .ping:
            guard let icmp = layers.last(where: { if case .icmp = $0 { true } else { false } }),
                  frame.count > icmp.offset + 8, contains(frame[(icmp.offset + 8)...], marker) else { return nil }
            switch frame[icmp.offset] {
            case 8: return .request
            case 0: return .answer
            default: return nil
            }
        case .arp:
            guard let destination, case .arp(let a)? = layers.last(where: { if case .arp = $0 { true } else { false } }) else { return nil }
            if a.isRequest && a.targetProtocolAddress == destination { return .request }
            if a.isReply && a.senderProtocolAddress == destination { return .answer }
            return nil
        case .udp(let port):
            if let q = quotedPorts(layers, frame), q.destination == port, q.source == sourcePort || q.address == destination { return .answer }
            guard case .udp(let u)? = layers.last(where: { if case .udp = $0 { true } else { false } }) else { return nil }
            if u.destinationPort == port && contains(frame[(u.offset + 8)...], marker) { return .request }
            if u.sourcePort == port && u.destinationPort == sourcePort { return .answer }
            return nil
        case .tcp(let port):
            if let q = quotedPorts(layers, frame), q.destination == port, q.source == sourcePort || q.address == destination { return .answer }
            guard case .tcp(let t)? = layers.last(where: { if case .tcp = $0 { true } else { false } }) else { return nil }
            if t.destinationPort == port && t.sourcePort == sourcePort && t.syn && !t.ack { return .request }
            if t.sourcePort == port && t.destinationPort == sourcePort && ((t.syn && t.ack) || t.rst) { return .answer }
            return nil
        case .dhcp:
            guard case .dhcp(let m)? = layers.last(where: { if case .dhcp = $0 { true } else { false } }),
                  m.xid == transactionID else { return nil }
            return m.op == 1 ? .request : .answer
        case .dns(let name):
            guard case .dns(let m)? = layers.last(where: { if case .dns = $0 { true } else { false } }) else { return nil }
            let questions = frame.withUnsafeBytes { (try? m.questions(in: $0)) ?? [] }
            guard questions.contains(where: { Probe.sameName($0.name, name) }) else { return nil }
            return m.isResponse ? .answer : .request
        }
    }

    /// One line saying what the frame is, tcpdump-like, for evidence.
    public static func summary(of frame: [UInt8], linkType: LinkType = .ethernet) -> String {
        let packet = Packet(decoding: frame, linkType: linkType)
        return frame.withUnsafeBytes { packet.summary(in: $0) }
    }

    /// The ports and destination address of the datagram an ICMP destination unreachable quotes
    /// (the probe as the refusing host saw it: SNAT may have changed its source port), or nil
    /// for any other frame.
    func quotedPorts(_ layers: [LayerHeader], _ frame: [UInt8]) -> (source: UInt16, destination: UInt16, address: IPv4Address?)? {
        guard case .icmp(let icmp)? = layers.last(where: { if case .icmp = $0 { true } else { false } }),
              frame.count > icmp.offset, frame[icmp.offset] == 3 else { return nil }
        return frame.withUnsafeBytes { b -> (source: UInt16, destination: UInt16, address: IPv4Address?)? in
            guard let quoted = icmp.quotedPacket(in: b) else { return nil }
            let address = quoted.firstIPv4(in: b)?.destination
            for layer in quoted.layers {
                switch layer.header(in: b) {
                case .udp(let u): return (u.sourcePort, u.destinationPort, address)
                case .tcp(let t): return (t.sourcePort, t.destinationPort, address)
                default: continue
                }
            }
            return nil
        }
    }

    static func sameName(_ a: String, _ b: String) -> Bool {
        func norm(_ s: String) -> String { (s.hasSuffix(".") ? String(s.dropLast()) : s).lowercased() }
        return norm(a) == norm(b)
    }

    func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
