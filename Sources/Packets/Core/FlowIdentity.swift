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
/// Plain data (no references): computing one allocates nothing. The optional numbers are stored
/// as a presence bit and a plain value (0 when absent, so equality and hashing stay exact): that
/// keeps the value at 96 bytes, which the identities code fills in place instead of copying.
public struct FlowIdentity: Hashable, Sendable, BitwiseCopyable {
    /// IP source and destination (ARP: sender and target protocol addresses).
    public var source: IPAddress?
    public var destination: IPAddress?
    /// The transport protocol: the last Next Header after IPv6 extension headers.
    public var ipProtocol: UInt8
    /// TTL or hop limit.
    public var ttl: UInt8
    /// The More Fragments flag, and the fragment offset in 8-byte units.
    public var moreFragments: Bool
    public var fragmentOffset: UInt16
    /// EtherType of the network layer: 0x0800 IPv4, 0x86DD IPv6, 0x0806 ARP.
    public var etherType: UInt16
    // Fields in declaration order of size, to leave no padding; see the computed properties.
    private var present: UInt16 = 0
    private var storedSourcePort: UInt16 = 0
    private var storedDestinationPort: UInt16 = 0
    private var storedICMPIdentifier: UInt16 = 0
    private var storedICMPSequence: UInt16 = 0
    private var storedTCPFlags: UInt16 = 0
    private var storedARPOpcode: UInt16 = 0
    private var storedICMPType: UInt8 = 0
    private var storedICMPCode: UInt8 = 0
    private var storedIPIdentification: UInt32 = 0
    private var storedTCPSequence: UInt32 = 0
    private var storedTCPAcknowledgment: UInt32 = 0
    /// Bytes of transport payload according to the headers (not the capture).
    public var payloadLength: Int
    private var storedPayloadDigest: UInt64 = 0

    /// Bytes of payload the digest covers. Small enough that a 96-byte snap length still keeps them
    /// behind Ethernet, IPv4 and UDP headers of the bare packet; large enough to tell pings apart.
    public static let digestWindow = 48

    private static let hasIPIdentification: UInt16 = 1 << 0, hasSourcePort: UInt16 = 1 << 1
    private static let hasDestinationPort: UInt16 = 1 << 2, hasICMPType: UInt16 = 1 << 3, hasICMPCode: UInt16 = 1 << 4
    private static let hasICMPIdentifier: UInt16 = 1 << 5, hasICMPSequence: UInt16 = 1 << 6, hasTCPSequence: UInt16 = 1 << 7
    private static let hasTCPAcknowledgment: UInt16 = 1 << 8, hasTCPFlags: UInt16 = 1 << 9, hasARPOpcode: UInt16 = 1 << 10
    private static let hasPayloadDigest: UInt16 = 1 << 11

    @inline(__always) private func value<T>(_ bit: UInt16, _ stored: T) -> T? { present & bit != 0 ? stored : nil }
    @inline(__always) private mutating func mark<T: BinaryInteger>(_ bit: UInt16, _ value: T?) -> T {
        if value != nil { present |= bit } else { present &= ~bit }
        return value ?? 0
    }

    /// IPv4 Identification, or the Identification of an IPv6 Fragment header.
    public var ipIdentification: UInt32? {
        get { value(Self.hasIPIdentification, storedIPIdentification) }
        set { storedIPIdentification = mark(Self.hasIPIdentification, newValue) }
    }
    public var sourcePort: UInt16? {
        get { value(Self.hasSourcePort, storedSourcePort) }
        set { storedSourcePort = mark(Self.hasSourcePort, newValue) }
    }
    public var destinationPort: UInt16? {
        get { value(Self.hasDestinationPort, storedDestinationPort) }
        set { storedDestinationPort = mark(Self.hasDestinationPort, newValue) }
    }
    public var icmpType: UInt8? {
        get { value(Self.hasICMPType, storedICMPType) }
        set { storedICMPType = mark(Self.hasICMPType, newValue) }
    }
    public var icmpCode: UInt8? {
        get { value(Self.hasICMPCode, storedICMPCode) }
        set { storedICMPCode = mark(Self.hasICMPCode, newValue) }
    }
    /// Echo identifier and sequence number (ICMP and ICMPv6 echo).
    public var icmpIdentifier: UInt16? {
        get { value(Self.hasICMPIdentifier, storedICMPIdentifier) }
        set { storedICMPIdentifier = mark(Self.hasICMPIdentifier, newValue) }
    }
    public var icmpSequence: UInt16? {
        get { value(Self.hasICMPSequence, storedICMPSequence) }
        set { storedICMPSequence = mark(Self.hasICMPSequence, newValue) }
    }
    public var tcpSequence: UInt32? {
        get { value(Self.hasTCPSequence, storedTCPSequence) }
        set { storedTCPSequence = mark(Self.hasTCPSequence, newValue) }
    }
    public var tcpAcknowledgment: UInt32? {
        get { value(Self.hasTCPAcknowledgment, storedTCPAcknowledgment) }
        set { storedTCPAcknowledgment = mark(Self.hasTCPAcknowledgment, newValue) }
    }
    public var tcpFlags: UInt16? {
        get { value(Self.hasTCPFlags, storedTCPFlags) }
        set { storedTCPFlags = mark(Self.hasTCPFlags, newValue) }
    }
    public var arpOpcode: UInt16? {
        get { value(Self.hasARPOpcode, storedARPOpcode) }
        set { storedARPOpcode = mark(Self.hasARPOpcode, newValue) }
    }
    /// Digest of the first `FlowIdentity.digestWindow` bytes of transport payload (all of it when
    /// shorter); nil when the capture did not keep them (snap length) or for a non-first fragment.
    public var payloadDigest: UInt64? {
        get { value(Self.hasPayloadDigest, storedPayloadDigest) }
        set { storedPayloadDigest = mark(Self.hasPayloadDigest, newValue) }
    }

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

extension FlowIdentity: Codable {
    enum CodingKeys: String, CodingKey {
        case etherType, source, destination, ipProtocol, ipIdentification, fragmentOffset, moreFragments, ttl
        case sourcePort, destinationPort, icmpType, icmpCode, icmpIdentifier, icmpSequence
        case tcpSequence, tcpAcknowledgment, tcpFlags, arpOpcode, payloadLength, payloadDigest
    }

    /// The same JSON as when every optional was a stored property: absent values are left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(etherType, forKey: .etherType)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(destination, forKey: .destination)
        try c.encode(ipProtocol, forKey: .ipProtocol)
        try c.encodeIfPresent(ipIdentification, forKey: .ipIdentification)
        try c.encode(fragmentOffset, forKey: .fragmentOffset)
        try c.encode(moreFragments, forKey: .moreFragments)
        try c.encode(ttl, forKey: .ttl)
        try c.encodeIfPresent(sourcePort, forKey: .sourcePort)
        try c.encodeIfPresent(destinationPort, forKey: .destinationPort)
        try c.encodeIfPresent(icmpType, forKey: .icmpType)
        try c.encodeIfPresent(icmpCode, forKey: .icmpCode)
        try c.encodeIfPresent(icmpIdentifier, forKey: .icmpIdentifier)
        try c.encodeIfPresent(icmpSequence, forKey: .icmpSequence)
        try c.encodeIfPresent(tcpSequence, forKey: .tcpSequence)
        try c.encodeIfPresent(tcpAcknowledgment, forKey: .tcpAcknowledgment)
        try c.encodeIfPresent(tcpFlags, forKey: .tcpFlags)
        try c.encodeIfPresent(arpOpcode, forKey: .arpOpcode)
        try c.encode(payloadLength, forKey: .payloadLength)
        try c.encodeIfPresent(payloadDigest, forKey: .payloadDigest)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(etherType: try c.decode(UInt16.self, forKey: .etherType))
        source = try c.decodeIfPresent(IPAddress.self, forKey: .source)
        destination = try c.decodeIfPresent(IPAddress.self, forKey: .destination)
        ipProtocol = try c.decode(UInt8.self, forKey: .ipProtocol)
        ipIdentification = try c.decodeIfPresent(UInt32.self, forKey: .ipIdentification)
        fragmentOffset = try c.decode(UInt16.self, forKey: .fragmentOffset)
        moreFragments = try c.decode(Bool.self, forKey: .moreFragments)
        ttl = try c.decode(UInt8.self, forKey: .ttl)
        sourcePort = try c.decodeIfPresent(UInt16.self, forKey: .sourcePort)
        destinationPort = try c.decodeIfPresent(UInt16.self, forKey: .destinationPort)
        icmpType = try c.decodeIfPresent(UInt8.self, forKey: .icmpType)
        icmpCode = try c.decodeIfPresent(UInt8.self, forKey: .icmpCode)
        icmpIdentifier = try c.decodeIfPresent(UInt16.self, forKey: .icmpIdentifier)
        icmpSequence = try c.decodeIfPresent(UInt16.self, forKey: .icmpSequence)
        tcpSequence = try c.decodeIfPresent(UInt32.self, forKey: .tcpSequence)
        tcpAcknowledgment = try c.decodeIfPresent(UInt32.self, forKey: .tcpAcknowledgment)
        tcpFlags = try c.decodeIfPresent(UInt16.self, forKey: .tcpFlags)
        arpOpcode = try c.decodeIfPresent(UInt16.self, forKey: .arpOpcode)
        payloadLength = try c.decode(Int.self, forKey: .payloadLength)
        payloadDigest = try c.decodeIfPresent(UInt64.self, forKey: .payloadDigest)
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
        layers.withView { $0.innerStart() }
    }

    /// The flow identities of the outer and inner packets. `frame` must be the bytes this packet
    /// was decoded from (the payload digest reads them). Allocates nothing.
    public func identities(in frame: UnsafeRawBufferPointer) -> PacketIdentities {
        precondition(capturedLength <= frame.count, "identities(in:) needs the frame the packet was decoded from")
        return layers.withView { layers in Self.identities(layers, frame) }
    }

    private static func identities(_ layers: LayerView, _ b: UnsafeRawBufferPointer) -> PacketIdentities {
        var result = PacketIdentities()
        let count = layers.count
        guard let innerStart = layers.innerStart() else {
            result.outer = identity(layers, 0..<count, b)
            return result
        }
        result.outer = identity(layers, 0..<innerStart, b)
        result.inner = identity(layers, innerStart..<count, b)
        let tunnel = layers[innerStart - 1]
        switch tunnel.protocolID {
        case .vxlan: result.tunnel = .init(kind: .vxlan, id: b.u32(tunnel.offset + 4) >> 8)
        case .geneve: result.tunnel = .init(kind: .geneve, id: b.u32(tunnel.offset + 4) >> 8)
        case .gre: result.tunnel = .init(kind: .gre, id: GREHeader(tunnel, b).key)
        case .ipv4: result.tunnel = .init(kind: .ipv4, id: nil)
        case .ipv6: result.tunnel = .init(kind: .ipv6, id: nil)
        default:
            // IP-in-IP after an extension header: the outer IP layer names the tunnel.
            result.tunnel = .init(kind: result.outer?.etherType == EtherType.ipv6 ? .ipv6 : .ipv4, id: nil)
        }
        return result
    }

    /// The identity of the first network packet within `range` of the layers.
    @inline(__always)
    private static func identity(_ layers: LayerView, _ range: Range<Int>, _ b: UnsafeRawBufferPointer) -> FlowIdentity? {
        var f = FlowIdentity(etherType: 0)
        var found = false
        var datagramEnd = 0
        for i in range {
            let layer = layers[i]
            switch layer.protocolID {
            case .arp:
                if found { return f }
                let arp = ARPPacket(layer, b)
                f.etherType = EtherType.arp
                if let a = arp.senderProtocolAddress { f.source = .v4(a) }
                if let a = arp.targetProtocolAddress { f.destination = .v4(a) }
                f.arpOpcode = arp.opcode
                return f
            case .ipv4:
                if found { return f }
                found = true
                let ip = IPv4Header(layer, b)
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
                f.payloadDigest = Self.digest(b, start: ip.payload.offset, declared: f.payloadLength, captured: ip.payload.end)
            case .ipv6:
                if found { return f }
                found = true
                let ip = IPv6Header(layer, b)
                f.etherType = EtherType.ipv6
                f.source = .v6(ip.source)
                f.destination = .v6(ip.destination)
                f.ipProtocol = ip.nextHeader
                f.ttl = ip.hopLimit
                datagramEnd = ip.payloadLength == 0 ? ip.payload.end : ip.payload.offset + Int(ip.payloadLength)
                f.payloadLength = datagramEnd - ip.payload.offset
                f.payloadDigest = Self.digest(b, start: ip.payload.offset, declared: f.payloadLength, captured: ip.payload.end)
            case .ipv6Extension:
                guard found else { continue }
                let ext = IPv6ExtensionHeader(layer, b)
                f.ipProtocol = ext.nextHeader
                if ext.headerType == IPProtocolNumber.fragment {
                    f.ipIdentification = ext.identification
                    f.fragmentOffset = ext.fragmentOffset
                    f.moreFragments = ext.moreFragments
                }
                let start = ext.offset + ext.length
                f.payloadLength = datagramEnd - start
                f.payloadDigest = Self.digest(b, start: start, declared: f.payloadLength, captured: min(datagramEnd, b.count))
            case .tcp:
                guard found else { return nil }
                let tcp = TCPHeader(layer, b)
                f.sourcePort = tcp.sourcePort
                f.destinationPort = tcp.destinationPort
                f.tcpSequence = tcp.sequenceNumber
                f.tcpAcknowledgment = tcp.acknowledgmentNumber
                f.tcpFlags = tcp.flags
                f.payloadLength = max(0, datagramEnd - tcp.offset - tcp.headerLength)
                f.payloadDigest = Self.digest(b, start: tcp.payload.offset, declared: f.payloadLength, captured: tcp.payload.end)
                return f
            case .udp:
                guard found else { return nil }
                let udp = UDPHeader(layer, b)
                f.sourcePort = udp.sourcePort
                f.destinationPort = udp.destinationPort
                f.payloadLength = udp.length >= 8 ? Int(udp.length) - 8 : max(0, datagramEnd - udp.offset - 8)
                f.payloadDigest = Self.digest(b, start: udp.payload.offset, declared: f.payloadLength, captured: udp.payload.end)
                return f
            case .icmp:
                guard found else { return nil }
                let icmp = ICMPHeader(layer, b)
                f.icmpType = icmp.type
                f.icmpCode = icmp.code
                if icmp.isEcho {
                    f.icmpIdentifier = icmp.identifier
                    f.icmpSequence = icmp.sequenceNumber
                }
                f.payloadLength = max(0, datagramEnd - icmp.data.offset)
                f.payloadDigest = Self.digest(b, start: icmp.data.offset, declared: f.payloadLength, captured: icmp.data.end)
                return f
            case .icmpv6:
                guard found else { return nil }
                let type = b.u8(layer.offset), word = b.u32(layer.offset + 4)
                f.icmpType = type
                f.icmpCode = b.u8(layer.offset + 1)
                if type == 128 || type == 129 {
                    f.icmpIdentifier = UInt16(truncatingIfNeeded: word >> 16)
                    f.icmpSequence = UInt16(truncatingIfNeeded: word)
                }
                let start = layer.offset + ICMPv6Header.length
                f.payloadLength = max(0, datagramEnd - start)
                f.payloadDigest = Self.digest(b, start: start, declared: f.payloadLength, captured: min(datagramEnd, b.count))
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
