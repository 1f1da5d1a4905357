/// One decoded header of a frame. Every case holds only fixed-size values (offsets into the frame
/// for variable parts), so a `Layer` and a whole `Packet` are plain bytes: copying one allocates
/// nothing and never touches a reference count.
public enum Layer: Hashable, Sendable, BitwiseCopyable {
    case ethernet(EthernetHeader)
    case vlan(VLANTag)
    case linuxSLL(LinuxSLLHeader)
    case linuxSLL2(LinuxSLL2Header)
    case nullLoopback(NullLoopbackHeader)
    case arp(ARPPacket)
    case ipv4(IPv4Header)
    case ipv6(IPv6Header)
    case ipv6Extension(IPv6ExtensionHeader)
    case icmp(ICMPHeader)
    case icmpv6(ICMPv6Header)
    case udp(UDPHeader)
    case tcp(TCPHeader)
    case gre(GREHeader)
    case vxlan(VXLANHeader)
    case geneve(GeneveHeader)
    case dhcp(DHCPMessage)
    case dns(DNSMessage)
    case payload(PayloadLayer)

    public var protocolID: ProtocolID {
        switch self {
        case .ethernet: .ethernet
        case .vlan: .vlan
        case .linuxSLL: .linuxSLL
        case .linuxSLL2: .linuxSLL2
        case .nullLoopback: .nullLoopback
        case .arp: .arp
        case .ipv4: .ipv4
        case .ipv6: .ipv6
        case .ipv6Extension: .ipv6Extension
        case .icmp: .icmp
        case .icmpv6: .icmpv6
        case .udp: .udp
        case .tcp: .tcp
        case .gre: .gre
        case .vxlan: .vxlan
        case .geneve: .geneve
        case .dhcp: .dhcp
        case .dns: .dns
        case .payload: .payload
        }
    }

    /// Byte offset of the header in the frame.
    public var offset: Int {
        switch self {
        case .ethernet(let h): h.offset
        case .vlan(let h): h.offset
        case .linuxSLL(let h): h.offset
        case .linuxSLL2(let h): h.offset
        case .nullLoopback(let h): h.offset
        case .arp(let h): h.offset
        case .ipv4(let h): h.offset
        case .ipv6(let h): h.offset
        case .ipv6Extension(let h): h.offset
        case .icmp(let h): h.offset
        case .icmpv6(let h): h.offset
        case .udp(let h): h.offset
        case .tcp(let h): h.offset
        case .gre(let h): h.offset
        case .vxlan(let h): h.offset
        case .geneve(let h): h.offset
        case .dhcp(let h): h.offset
        case .dns(let h): h.offset
        case .payload(let h): h.offset
        }
    }

    /// True for the headers that carry another packet inside (the inner packet follows them).
    public var isTunnel: Bool {
        switch self {
        case .vxlan, .geneve: true
        case .gre(let h): h.version == 0
        default: false
        }
    }

    /// True for IPv4 and IPv6 fixed headers.
    public var isNetwork: Bool {
        switch self {
        case .ipv4, .ipv6: true
        default: false
        }
    }
}

/// The layers of one frame, outermost first, in fixed inline storage (no heap allocation).
///
/// Holds up to `capacity` layers; a frame with more (deep tunnel nesting) stops decoding with a
/// `malformed(tooManyLayers)` issue rather than allocating.
public struct LayerStack: RandomAccessCollection, Sendable, BitwiseCopyable {
    public static let capacity = 16
    private typealias Storage = (Layer, Layer, Layer, Layer, Layer, Layer, Layer, Layer,
                                 Layer, Layer, Layer, Layer, Layer, Layer, Layer, Layer)
    private var storage: Storage
    public private(set) var count: Int = 0

    public init() {
        let empty = Layer.payload(PayloadLayer(offset: 0, length: 0))
        storage = (empty, empty, empty, empty, empty, empty, empty, empty,
                   empty, empty, empty, empty, empty, empty, empty, empty)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    // Always inlined: the stack is a large loadable value, and an out-of-line getter would be
    // handed a copy of all of it on every call.
    @inline(__always)
    public subscript(position: Int) -> Layer {
        precondition(position >= 0 && position < count, "layer index out of range")
        // A switch projects one element; reading through withUnsafeBytes(of:) would copy the
        // whole inline tuple on every access.
        return switch position {
        case 0: storage.0
        case 1: storage.1
        case 2: storage.2
        case 3: storage.3
        case 4: storage.4
        case 5: storage.5
        case 6: storage.6
        case 7: storage.7
        case 8: storage.8
        case 9: storage.9
        case 10: storage.10
        case 11: storage.11
        case 12: storage.12
        case 13: storage.13
        case 14: storage.14
        case 15: storage.15
        default: storage.15
        }
    }

    /// Appends a layer; false when the stack is full.
    @inline(__always)
    mutating func append(_ layer: Layer) -> Bool {
        guard count < Self.capacity else { return false }
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.storeBytes(of: layer, toByteOffset: count * MemoryLayout<Layer>.stride, as: Layer.self)
        }
        count += 1
        return true
    }

    @inline(__always)
    mutating func removeAll() { count = 0 }
}
