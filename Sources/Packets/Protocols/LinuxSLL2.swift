import HopscopeModel

// Linux cooked capture, version 2 (LINKTYPE_LINUX_SLL2, 276): libpcap 1.10's header for `-i any`,
// which adds the interface index so that a capture on every device still says where each packet was.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Protocol type          |        Reserved (MBZ)         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Interface index                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          ARPHRD_ type         |  Packet type  | Address length|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |               Link-layer address (8 bytes, padded)            |
//  +                                                               +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// The Linux cooked-capture v2 header.
public struct LinuxSLL2Header: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var protocolType: UInt16
    public var reserved: UInt16
    /// ifindex of the device the packet was seen on, in the capturing namespace.
    public var interfaceIndex: UInt32
    public var arphrdType: UInt16
    public var packetType: UInt8
    public var addressLength: UInt8
    public var sourceMAC: MACAddress?

    public static let length = 20

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.linuxSLL2, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.linuxSLL2, start, end)) else { return .done }
        return LinuxSLLHeader.cookedPayload(protocolType: b.u16(start), start + length, end)
    }

}

extension LinuxSLL2Header {
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let addressLength = b.u8(start + 11)
        self.init(offset: start, protocolType: b.u16(start), reserved: b.u16(start + 2), interfaceIndex: b.u32(start + 4),
                  arphrdType: b.u16(start + 8), packetType: b.u8(start + 10), addressLength: addressLength,
                  sourceMAC: addressLength == 6 ? b.mac(start + 12) : nil)
    }
}
