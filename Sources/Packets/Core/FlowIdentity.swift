import HopscopeModel

/// The fields of one packet that tell it apart from every other and that survive the path from hop
/// to hop: what cross-hop correlation matches on.
///
/// Which fields survive what:
/// - routing changes `ttl` (one less per router, which also orders the hops) and the link layer;
/// - NAT changes `source`/`destination` and usually `sourcePort`/`destinationPort` (and may change
///   `icmpIdentifier`), never `ipIdentification`, `tcpSequence`, `payloadLength` or `payloadDigest`;
/// - encapsulation (VXLAN, Geneve, GRE) wraps the packet: match the `inner` identity of the
///   tunnelled copy against the `outer` identity of the bare one.
/// `invariant` collects the fields that survive all three.
///
/// Plain data (no references): computing one allocates nothing.
public struct FlowIdentity: Hashable, Sendable, BitwiseCopyable, Codable {
    /// EtherType of the network layer: 0x0800 IPv4, 0x86DD IPv6, 0x0806 ARP.
    public var etherType: UInt16
    /// IP source and destination (ARP: sender and target protocol addresses).
    public var source: IPAddress?
    public var destination: IPAddress?
    /// The transport protocol: the last Next Header after IPv6 extension headers.
    public var ipProtocol: UInt8
    /// IPv4 Identification, or the Identification of an IPv6 Fragment header.
    public var ipIdentification: UInt32?
    /// Fragment offset in 8-byte units and the More Fragments flag.
    public var fragmentOffset: UInt16
    public var moreFragments: Bool
    /// TTL or hop limit.
    public var ttl: UInt8
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// Echo identifier and sequence number (ICMP and ICMPv6 echo).
    public var icmpIdentifier: UInt16?
    public var icmpSequence: UInt16?
    public var tcpSequence: UInt32?
    public var tcpAcknowledgment: UInt32?
    public var tcpFlags: UInt16?
    public var arpOpcode: UInt16?
    /// Bytes of transport payload according to the headers (not the capture).
    public var payloadLength: Int
    /// Digest of the first `FlowIdentity.digestWindow` bytes of transport payload (all of it when
    /// shorter); nil when the capture did not keep them (snap length) or for a non-first fragment.
    public var payloadDigest: UInt64?

    /// Bytes of payload the digest covers. Small enough that a 96-byte snap length still keeps them
    /// behind Ethernet, IPv4 and UDP headers of the bare packet; large enough to tell pings apart.
    public static let digestWindow = 48

    /// The fields that survive routing, NAT and encapsulation.
    public var invariant: Invariant {
        Invariant(ipProtocol: ipProtocol, ipIdentification: ipIdentification, fragmentOffset: fragmentOffset,
                  icmpType: icmpType, icmpSequence: icmpSequence, tcpSequence: tcpSequence, tcpAcknowledgment: tcpAcknowledgment,
                  tcpFlags: tcpFlags, arpOpcode: arpOpcode, payloadLength: payloadLength, payloadDigest: payloadDigest)
    }

    public struct Invariant: Hashable, Sendable, BitwiseCopyable, Codable {
        public var ipProtocol: UInt8
        public var ipIdentification: UInt32?
        public var fragmentOffset: UInt16
        public var icmpType: UInt8?
        public var icmpSequence: UInt16?
        public var tcpSequence: UInt32?
        public var tcpAcknowledgment: UInt32?
        public var tcpFlags: UInt16?
        public var arpOpcode: UInt16?
        public var payloadLength: Int
        public var payloadDigest: UInt64?
    }

    init(etherType: UInt16) {
        self.etherType = etherType
        ipProtocol = 0
        fragmentOffset = 0
        moreFragments = false
        ttl = 0
        payloadLength = 0
    }
}

/// The identities of a frame: the outer packet, and for VXLAN, Geneve, GRE or IP-in-IP the inner
/// one, with the tunnel's VNI or key.
public struct PacketIdentities: Hashable, Sendable, BitwiseCopyable, Codable {
    public var outer: FlowIdentity?
    public var inner: FlowIdentity?
    public var tunnel: Tunnel?

    public struct Tunnel: Hashable, Sendable, BitwiseCopyable, Codable {
        public var kind: ProtocolID
        /// VXLAN or Geneve VNI, or GRE key.
        public var id: UInt32?

        public init(kind: ProtocolID, id: UInt32?) {
            self.kind = kind
            self.id = id
        }
    }
}

extension Packet {
    /// Index of the first layer of the encapsulated packet: the layer after a VXLAN, Geneve or
    /// GRE header, or the second IP header of IP-in-IP. Nil for a packet without encapsulation.
    public var innerStartIndex: Int? {
        withUnsafePointer(to: self) { Self.innerStart($0) }
    }

    /// The flow identities of the outer and inner packets. `frame` must be the bytes this packet
    /// was decoded from (the payload digest reads them). Allocates nothing.
    public func identities(in frame: UnsafeRawBufferPointer) -> PacketIdentities {
        // Through a pointer: the helpers would otherwise each receive a copy of the whole packet.
        withUnsafePointer(to: self) { Self.identities($0, frame) }
    }

    static func innerStart(_ p: UnsafePointer<Packet>) -> Int? {
        var sawNetwork = false
        for i in 0..<p.pointee.layers.count {
            switch p.pointee.layers[i] {
            case .vxlan, .geneve: return i + 1 < p.pointee.layers.count ? i + 1 : nil
            case .gre(let h): if h.version == 0 { return i + 1 < p.pointee.layers.count ? i + 1 : nil }
            case .ipv4, .ipv6:
                if sawNetwork { return i }
                sawNetwork = true
            case .icmp, .icmpv6: return nil
            default: break
            }
        }
        return nil
    }

    static func identities(_ p: UnsafePointer<Packet>, _ b: UnsafeRawBufferPointer) -> PacketIdentities {
        var result = PacketIdentities()
        let count = p.pointee.layers.count
        guard let innerStart = innerStart(p) else {
            result.outer = identity(p, 0..<count, b)
            return result
        }
        result.outer = identity(p, 0..<innerStart, b)
        result.inner = identity(p, innerStart..<count, b)
        switch p.pointee.layers[innerStart - 1] {
        case .vxlan(let h): result.tunnel = .init(kind: .vxlan, id: h.vni)
        case .geneve(let h): result.tunnel = .init(kind: .geneve, id: h.vni)
        case .gre(let h): result.tunnel = .init(kind: .gre, id: h.key)
        case .ipv4: result.tunnel = .init(kind: .ipv4, id: nil)
        case .ipv6: result.tunnel = .init(kind: .ipv6, id: nil)
        default:
            // IP-in-IP after an extension header: the outer IP layer names the tunnel.
            result.tunnel = .init(kind: result.outer?.etherType == EtherType.ipv6 ? .ipv6 : .ipv4, id: nil)
        }
        return result
    }

    /// The identity of the first network packet within `range` of the layers.
    static func identity(_ p: UnsafePointer<Packet>, _ range: Range<Int>, _ b: UnsafeRawBufferPointer) -> FlowIdentity? {
        var f = FlowIdentity(etherType: 0)
        var found = false
        var datagramEnd = 0
        for i in range {
            switch p.pointee.layers[i] {
            case .arp(let arp):
                if found { return f }
                f.etherType = EtherType.arp
                if let a = arp.senderProtocolAddress { f.source = .v4(a) }
                if let a = arp.targetProtocolAddress { f.destination = .v4(a) }
                f.arpOpcode = arp.opcode
                return f
            case .ipv4(let ip):
                if found { return f }
                found = true
                f.etherType = EtherType.ipv4
                f.source = .v4(ip.source)
                f.destination = .v4(ip.destination)
                f.ipProtocol = ip.protocol
                f.ipIdentification = UInt32(ip.identification)
                f.fragmentOffset = ip.fragmentOffset
                f.moreFragments = ip.moreFragments
                f.ttl = ip.timeToLive
                datagramEnd = ip.totalLength == 0 ? ip.payload.end : ip.offset + Int(ip.totalLength)
                f.payloadLength = datagramEnd - ip.payload.offset
                f.payloadDigest = digest(b, start: ip.payload.offset, declared: f.payloadLength, captured: ip.payload.end)
            case .ipv6(let ip):
                if found { return f }
                found = true
                f.etherType = EtherType.ipv6
                f.source = .v6(ip.source)
                f.destination = .v6(ip.destination)
                f.ipProtocol = ip.nextHeader
                f.ttl = ip.hopLimit
                datagramEnd = ip.payloadLength == 0 ? ip.payload.end : ip.payload.offset + Int(ip.payloadLength)
                f.payloadLength = datagramEnd - ip.payload.offset
                f.payloadDigest = digest(b, start: ip.payload.offset, declared: f.payloadLength, captured: ip.payload.end)
            case .ipv6Extension(let ext):
                guard found else { continue }
                f.ipProtocol = ext.nextHeader
                if ext.headerType == IPProtocolNumber.fragment {
                    f.ipIdentification = ext.identification
                    f.fragmentOffset = ext.fragmentOffset
                    f.moreFragments = ext.moreFragments
                }
                let start = ext.offset + ext.length
                f.payloadLength = datagramEnd - start
                f.payloadDigest = digest(b, start: start, declared: f.payloadLength, captured: min(datagramEnd, b.count))
            case .tcp(let tcp):
                guard found else { return nil }
                f.sourcePort = tcp.sourcePort
                f.destinationPort = tcp.destinationPort
                f.tcpSequence = tcp.sequenceNumber
                f.tcpAcknowledgment = tcp.acknowledgmentNumber
                f.tcpFlags = tcp.flags
                f.payloadLength = max(0, datagramEnd - tcp.offset - tcp.headerLength)
                f.payloadDigest = digest(b, start: tcp.payload.offset, declared: f.payloadLength, captured: tcp.payload.end)
                return f
            case .udp(let udp):
                guard found else { return nil }
                f.sourcePort = udp.sourcePort
                f.destinationPort = udp.destinationPort
                f.payloadLength = udp.length >= 8 ? Int(udp.length) - 8 : max(0, datagramEnd - udp.offset - 8)
                f.payloadDigest = digest(b, start: udp.payload.offset, declared: f.payloadLength, captured: udp.payload.end)
                return f
            case .icmp(let icmp):
                guard found else { return nil }
                f.icmpType = icmp.type
                f.icmpCode = icmp.code
                if icmp.isEcho {
                    f.icmpIdentifier = icmp.identifier
                    f.icmpSequence = icmp.sequenceNumber
                }
                f.payloadLength = max(0, datagramEnd - icmp.data.offset)
                f.payloadDigest = digest(b, start: icmp.data.offset, declared: f.payloadLength, captured: icmp.data.end)
                return f
            case .icmpv6(let icmp):
                guard found else { return nil }
                f.icmpType = icmp.type
                f.icmpCode = icmp.code
                if icmp.isEcho {
                    f.icmpIdentifier = icmp.identifier
                    f.icmpSequence = icmp.sequenceNumber
                }
                let start = icmp.offset + ICMPv6Header.length
                f.payloadLength = max(0, datagramEnd - start)
                f.payloadDigest = digest(b, start: start, declared: f.payloadLength, captured: min(datagramEnd, b.count))
                return f
            default:
                continue
            }
        }
        return found ? f : nil
    }

    /// Digest of `min(declared, digestWindow)` bytes from `start`; nil if the capture stops before.
    static func digest(_ b: UnsafeRawBufferPointer, start: Int, declared: Int, captured: Int) -> UInt64? {
        let n = min(max(declared, 0), FlowIdentity.digestWindow)
        guard start >= 0, start + n <= min(captured, b.count) else { return nil }
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        var i = start
        let end = start + n
        while i + 8 <= end {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < end {
            tail |= UInt64(b.u8(i)) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }
}
