/// One decoded header of a frame: which protocol it is and where it lies, in 16 bytes.
///
/// A `Packet` keeps only these descriptors, never field values: decoding a header checks it and
/// writes 16 bytes, and copying a layer is two register moves. The fields are read from the frame
/// when asked for: `header(in:)` gives every field as a value (`LayerHeader`), while summaries
/// and flow identities read only the few they print or match on. Pass the bytes the packet was
/// decoded from. Plain data: no references, nothing to release.
public struct Layer: Hashable, Sendable, BitwiseCopyable {
    /// The protocol of the header.
    public let protocolID: ProtocolID
    // What decoding learnt that the header's own bytes do not say, per protocol:
    // - vlan: `extra` is the TPID (the EtherType of the header before);
    // - ipv6Extension: `extra` is the header's own type (the Next Header that led to it),
    //   `flags & hasValue` and `aux` the Jumbo Payload length of a Hop-by-Hop header;
    // - dhcp: `flags & hasValue` and `extra` the message type (option 53);
    // - dns: `flags & overTCP`, `aux` where the answer section starts, `extra` the upper bits of
    //   an EDNS extended RCODE;
    // - gre: `flags & carriesPacket` for version 0 (a tunnel, whatever its payload);
    // - nullLoopback: `aux` the address family in host order.
    @usableFromInline let flags: UInt8
    @usableFromInline let extra: UInt16
    @usableFromInline let start: UInt32
    /// Where the bytes the header was decoded in end: its datagram's end as the enclosing headers
    /// declare it, cut at the end of the capture.
    @usableFromInline let limit: UInt32
    @usableFromInline let aux: UInt32

    @usableFromInline static let hasValue: UInt8 = 1
    @usableFromInline static let overTCP: UInt8 = 2
    @usableFromInline static let carriesPacket: UInt8 = 4

    @inline(__always)
    init(_ protocolID: ProtocolID, _ start: Int, _ limit: Int, flags: UInt8 = 0, extra: UInt16 = 0, aux: UInt32 = 0) {
        self.protocolID = protocolID
        self.flags = flags
        self.extra = extra
        // Frames are at most 4 GiB (pcap lengths are 32-bit; `Packet.decode` cuts longer buffers).
        self.start = UInt32(truncatingIfNeeded: start)
        self.limit = UInt32(truncatingIfNeeded: limit)
        self.aux = aux
    }

    /// Byte offset of the header in the frame.
    @inlinable public var offset: Int { Int(start) }

    /// Where the bytes this header was decoded in end (exclusive): the end of its datagram as
    /// the enclosing headers declare it, or of the capture when that comes first. A payload layer
    /// spans `offset..<end`.
    @inlinable public var end: Int { Int(limit) }

    /// True for the headers that carry another packet inside (the inner packet follows them).
    @inlinable public var isTunnel: Bool {
        switch protocolID {
        case .vxlan, .geneve: true
        case .gre: flags & Self.carriesPacket != 0
        default: false
        }
    }

    /// True for IPv4 and IPv6 fixed headers.
    @inlinable public var isNetwork: Bool { protocolID == .ipv4 || protocolID == .ipv6 }

    /// Every field of the header, read from `frame` (the bytes the packet was decoded from).
    public func header(in frame: UnsafeRawBufferPointer) -> LayerHeader {
        precondition(Int(limit) <= frame.count, "header(in:) needs the frame the packet was decoded from")
        let b = frame
        return switch protocolID {
        case .ethernet: .ethernet(EthernetHeader(self, b))
        case .vlan: .vlan(VLANTag(self, b))
        case .linuxSLL: .linuxSLL(LinuxSLLHeader(self, b))
        case .linuxSLL2: .linuxSLL2(LinuxSLL2Header(self, b))
        case .nullLoopback: .nullLoopback(NullLoopbackHeader(self))
        case .arp: .arp(ARPPacket(self, b))
        case .ipv4: .ipv4(IPv4Header(self, b))
        case .ipv6: .ipv6(IPv6Header(self, b))
        case .ipv6Extension: .ipv6Extension(IPv6ExtensionHeader(self, b))
        case .icmp: .icmp(ICMPHeader(self, b))
        case .icmpv6: .icmpv6(ICMPv6Header(self, b))
        case .udp: .udp(UDPHeader(self, b))
        case .tcp: .tcp(TCPHeader(self, b))
        case .gre: .gre(GREHeader(self, b))
        case .vxlan: .vxlan(VXLANHeader(self, b))
        case .geneve: .geneve(GeneveHeader(self, b))
        case .dhcp: .dhcp(DHCPMessage(self, b))
        case .dns: .dns(DNSMessage(self, b))
        case .payload: .payload(PayloadLayer(offset: offset, length: end - offset))
        }
    }
}

/// One decoded header with every field read: what `Layer.header(in:)` gives, and the JSON form
/// of a layer. Owns its values (no reference to the frame), so it may outlive the frame.
public enum LayerHeader: Hashable, Sendable, BitwiseCopyable {
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
}

/// The layers of one frame, outermost first, in fixed inline storage (no heap allocation).
///
/// Holds up to `capacity` layers; a frame with more (deep tunnel nesting) stops decoding with a
/// `malformed(tooManyLayers)` issue rather than allocating.
public struct LayerStack: RandomAccessCollection, Sendable, BitwiseCopyable {
    public static let capacity = 16
    @usableFromInline typealias Storage = (Layer, Layer, Layer, Layer, Layer, Layer, Layer, Layer,
                                           Layer, Layer, Layer, Layer, Layer, Layer, Layer, Layer)
    @usableFromInline var storage: Storage
    public private(set) var count: Int = 0

    public init() {
        let empty = Layer(.payload, 0, 0)
        storage = (empty, empty, empty, empty, empty, empty, empty, empty,
                   empty, empty, empty, empty, empty, empty, empty, empty)
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable
    public subscript(position: Int) -> Layer {
        @inline(__always) get {
            precondition(position >= 0 && position < count, "layer index out of range")
            // A switch projects one element in place (16 bytes read); withUnsafeBytes(of:) would
            // first copy the whole inline tuple into a temporary on every access.
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
            default: storage.15
            }
        }
    }

    /// Appends a layer; false when the stack is full.
    @inline(__always)
    mutating func append(_ layer: Layer) -> Bool {
        guard count < Self.capacity else { return false }
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.storeBytes(of: layer, toByteOffset: count &* MemoryLayout<Layer>.stride, as: Layer.self)
        }
        count &+= 1
        return true
    }

    @inline(__always)
    mutating func removeAll() { count = 0 }

    /// Calls `body` with the layers as a pointer view, for loops that read them many times.
    ///
    /// The stack is copied once onto the caller's stack frame (about 260 bytes): reading a
    /// borrowed stack element by element makes the compiler load every slot up front on each
    /// call, and a large loadable value cannot be addressed in place without such a copy.
    @inline(__always)
    func withView<R>(_ body: (LayerView) -> R) -> R {
        var copy = storage
        let count = count
        return withUnsafeMutableBytes(of: &copy) { raw in
            body(LayerView(base: raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: Layer.self), count: count))
        }
    }

    /// The first layer of a protocol, if any.
    @inlinable public func first(_ protocolID: ProtocolID) -> Layer? {
        for i in 0..<count where self[i].protocolID == protocolID { return self[i] }
        return nil
    }
}

/// The layers of a packet through a pointer, valid inside `LayerStack.withView` only: what the
/// summaries and flow identities walk. Indexing is unchecked; callers stay below `count`.
struct LayerView {
    let base: UnsafePointer<Layer>
    let count: Int

    @inline(__always)
    subscript(position: Int) -> Layer {
        assert(position >= 0 && position < count, "layer index out of range")
        return base[position]
    }

    /// Index of the first layer of the encapsulated packet (see `Packet.innerStartIndex`).
    func innerStart() -> Int? {
        var sawNetwork = false
        for i in 0..<count {
            switch self[i].protocolID {
            case .vxlan, .geneve: return i + 1 < count ? i + 1 : nil
            case .gre: if self[i].isTunnel { return i + 1 < count ? i + 1 : nil }
            case .ipv4, .ipv6:
                if sawNetwork { return i }
                sawNetwork = true
            case .icmp, .icmpv6: return nil
            default: break
            }
        }
        return nil
    }
}
