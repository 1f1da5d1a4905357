import HopscopeModel

// Ethernet II / IEEE 802.3 MAC header
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+        Source Address         +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     EtherType / Length        |  Payload ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A Type/Length value of 1500 or less is an 802.3 length followed by an LLC header; the decoders
// keep such a payload raw.

/// The Ethernet MAC header.
public struct EthernetHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var destination: MACAddress
    public var source: MACAddress
    /// The EtherType, or the 802.3 length when `isLength`.
    public var etherType: UInt16

    public static let length = 14
    /// True for an 802.3 frame, whose Type/Length field is a length.
    public var isLength: Bool { etherType <= 1500 }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.ethernet, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.ethernet, start, end)) else { return .done }
        let etherType = b.u16(start + 12)
        if etherType <= 1500 { return .payload(start + length, end) }
        return .etherType(etherType, start + length, end)
    }

}

extension EthernetHeader {
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        self.init(offset: start, destination: b.mac(start), source: b.mac(start + 6), etherType: b.u16(start + 12))
    }
}
