/// One decoded frame: its layers outermost first, and the first decoding error if any.
///
/// `Packet` holds no references and no copies of the frame (offsets only), so decoding into a
/// reused `Packet` allocates nothing: that is the hot path for captures and `hopscope read`.
/// Values that need the frame bytes (names, options, summaries, JSON) take them as an argument;
/// pass the same bytes the packet was decoded from. `Sendable`: it is plain data.
public struct Packet: Sendable, BitwiseCopyable {
    public var linkType: LinkType
    /// Bytes captured (the frame's length in the file or from libpcap: caplen).
    public var capturedLength: Int
    /// Bytes the frame had on the wire (len); larger than `capturedLength` when the snap length cut it.
    public var wireLength: Int
    public var layers: LayerStack
    /// The first error met. Layers decoded before it stay in `layers`; decoding stops at a fatal
    /// error, while a non-fatal one (a bad option, a length beyond the frame) is recorded and
    /// decoding continues.
    public var issue: DecodeError?
    /// True when an IPv4 or IPv6 header said this is a fragment; the application payload of a
    /// fragment is kept raw.
    public internal(set) var isFragment: Bool = false
    /// True when an IP header declared more bytes than the frame holds (snap length, or a lying
    /// length already reported): inner layers then decode what is there instead of failing.
    public internal(set) var isIPPayloadCut: Bool = false

    /// True when the capture kept fewer bytes than the frame had (snap length).
    public var isCutBySnapLength: Bool { capturedLength < wireLength }

    public init() {
        linkType = .ethernet
        capturedLength = 0
        wireLength = 0
        layers = LayerStack()
    }

    /// Decodes a frame. See `decode(_:linkType:wireLength:)`.
    public init(decoding frame: UnsafeRawBufferPointer, linkType: LinkType, wireLength: Int? = nil) {
        self.init()
        decode(frame, linkType: linkType, wireLength: wireLength)
    }

    /// Decodes a frame given as an array (convenience for tests and tools; copies nothing either).
    public init(decoding frame: [UInt8], linkType: LinkType, wireLength: Int? = nil) {
        self.init()
        frame.withUnsafeBytes { decode($0, linkType: linkType, wireLength: wireLength) }
    }

    /// Every layer's fields read from `frame` (the bytes this packet was decoded from), outermost
    /// first: for code that matches on whole headers (the lab's guest, probes) rather than the
    /// few fields summaries read. Allocates one array of owned values.
    public func headers(in frame: [UInt8]) -> [LayerHeader] {
        frame.withUnsafeBytes { b in layers.map { $0.header(in: b) } }
    }

    /// Decodes `frame` into this value, replacing what it held. Never allocates, never traps on
    /// any input: short frames give `truncated`, impossible ones `malformed` (in `issue`).
    ///
    /// - Parameters:
    ///   - frame: the captured bytes; only read during the call.
    ///   - linkType: the capture's link type (`pcap_datalink`).
    ///   - wireLength: the frame's length on the wire (pcap `len`); nil when the whole frame was
    ///     captured. It decides whether a short field is `truncated` (the snap length cut it) or
    ///     `malformed` (the frame itself is too short for what its headers claim).
    public mutating func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType, wireLength: Int? = nil) {
        self.linkType = linkType
        capturedLength = frame.count
        self.wireLength = max(wireLength ?? frame.count, frame.count)
        layers.removeAll()
        issue = nil
        isFragment = false
        isIPPayloadCut = false
        let end = min(frame.count, Self.maximumFrameLength)
        let first: Next
        switch linkType {
        case .ethernet: first = .ethernet(0, end)
        case .linuxSLL: first = LinuxSLLHeader.decode(frame, 0, end, &self)
        case .linuxSLL2: first = LinuxSLL2Header.decode(frame, 0, end, &self)
        case .raw, .rawOpenBSD, .rawFile: first = .rawIP(0, end)
        // Like tcpdump, trust the version nibble over the link type's promise.
        case .ipv4, .ipv6: first = .rawIP(0, end)
        case .null: first = NullLoopbackHeader.decode(bigEndian: false, frame, 0, end, &self)
        case .loop: first = NullLoopbackHeader.decode(bigEndian: true, frame, 0, end, &self)
        default: first = fail(.malformed(.payload, at: 0, .unsupportedLinkType, value: Int(linkType.rawValue)))
        }
        run(first, frame)
    }

    /// Longest frame decoded: layer offsets are 32-bit (as pcap lengths are); bytes beyond are ignored.
    static let maximumFrameLength = Int(UInt32.max)

    /// Decodes the datagram an ICMP error quotes: an IP header and at least 8 bytes of its payload.
    init(quotedIn frame: UnsafeRawBufferPointer, range: ByteRange, version: Int) {
        self.init()
        linkType = version == 4 ? .ipv4 : .ipv6
        capturedLength = range.count
        // The quote is cut on purpose (RFC 792: header + 64 bits): shortness is truncation.
        wireLength = Int.max
        run(.rawIP(range.offset, range.end), frame)
    }

    private mutating func run(_ first: Next, _ b: UnsafeRawBufferPointer) {
        var next = first
        // Each step pushes a layer (or stops), and the stack is bounded, so this loop is too.
        while true {
            switch next {
            case .done:
                return
            case .ethernet(let start, let end):
                next = EthernetHeader.decode(b, start, end, &self)
            case .rawIP(let start, let end):
                guard start < end else { next = fail(.truncated(.ipv4, at: start, needed: 1, available: 0)); continue }
                switch b.u8(start) >> 4 {
                case 4: next = .etherType(EtherType.ipv4, start, end)
                case 6: next = .etherType(EtherType.ipv6, start, end)
                default: next = fail(.malformed(.ipv4, at: start, .badVersion, value: Int(b.u8(start) >> 4)))
                }
            case .etherType(let type, let start, let end):
                switch type {
                case EtherType.ipv4: next = IPv4Header.decode(b, start, end, &self)
                case EtherType.ipv6: next = IPv6Header.decode(b, start, end, &self)
                case EtherType.arp: next = ARPPacket.decode(b, start, end, &self)
                case EtherType.vlan, EtherType.qinq, EtherType.qinqLegacy: next = VLANTag.decode(tpid: type, b, start, end, &self)
                case EtherType.transparentEthernet: next = EthernetHeader.decode(b, start, end, &self)
                default: next = .payload(start, end)
                }
            case .ipProtocol(let proto, let start, let end, let ipv6Start):
                if ipv6Start >= 0 && IPv6ExtensionHeader.isExtension(proto) {
                    next = IPv6ExtensionHeader.decode(type: proto, ipv6Start: ipv6Start, b, start, end, &self)
                    continue
                }
                switch proto {
                case IPProtocolNumber.tcp: next = TCPHeader.decode(b, start, end, &self)
                case IPProtocolNumber.udp: next = UDPHeader.decode(b, start, end, &self)
                case IPProtocolNumber.icmp: next = ICMPHeader.decode(b, start, end, &self)
                case IPProtocolNumber.icmpv6: next = ICMPv6Header.decode(b, start, end, &self)
                case IPProtocolNumber.gre: next = GREHeader.decode(b, start, end, &self)
                case IPProtocolNumber.ipv4: next = IPv4Header.decode(b, start, end, &self)
                case IPProtocolNumber.ipv6: next = IPv6Header.decode(b, start, end, &self)
                case IPProtocolNumber.noNextHeader: next = start < end ? .payload(start, end) : .done
                default: next = .payload(start, end)
                }
            case .vxlan(let start, let end):
                next = VXLANHeader.decode(b, start, end, &self)
            case .geneve(let start, let end):
                next = GeneveHeader.decode(b, start, end, &self)
            case .dns(let start, let end, let overTCP):
                next = DNSMessage.decode(overTCP: overTCP, b, start, end, &self)
            case .dhcp(let start, let end):
                next = DHCPMessage.decode(b, start, end, &self)
            case .payload(let start, let end):
                if end > start { _ = push(Layer(.payload, start, end)) }
                return
            }
        }
    }

    // MARK: Used by the protocol decoders

    /// Adds a decoded layer; false (with a `tooManyLayers` issue) when the stack is full.
    @inline(__always)
    mutating func push(_ layer: Layer) -> Bool {
        if layers.append(layer) { return true }
        note(.malformed(layer.protocolID, at: layer.offset, .tooManyLayers, value: LayerStack.capacity))
        return false
    }

    /// Records an error and stops decoding.
    mutating func fail(_ error: DecodeError) -> Next {
        note(error)
        return .done
    }

    /// Adds the layer decoded so far, then records the error and stops.
    mutating func fail(_ error: DecodeError, after layer: Layer) -> Next {
        _ = push(layer)
        return fail(error)
    }

    /// Records an error (the first one wins) and lets decoding go on. A field that runs past the
    /// end of a frame that was captured whole is not truncation but a lie in a length field:
    /// it is reported as `malformed`.
    mutating func note(_ error: DecodeError) {
        guard issue == nil else { return }
        var error = error
        if error.kind == .truncated && !isCutBySnapLength { error.kind = .malformed }
        issue = error
    }
}

/// What the decoder reads next: the hand-off from one header to the one it encapsulates.
enum Next {
    case done
    case ethernet(Int, Int)
    case rawIP(Int, Int)
    case etherType(UInt16, Int, Int)
    /// IP payload by protocol number; `ipv6Start` is the IPv6 header's offset (for extension
    /// headers and jumbograms), or -1 inside IPv4.
    case ipProtocol(UInt8, Int, Int, ipv6Start: Int)
    case vxlan(Int, Int)
    case geneve(Int, Int)
    case dns(Int, Int, overTCP: Bool)
    case dhcp(Int, Int)
    case payload(Int, Int)
}
