import HopscopeModel

// Linux cooked capture, version 1 (LINKTYPE_LINUX_SLL, 113): what libpcap writes for `-i any` on
// older versions and for devices without a usable link-layer header.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Packet type          |        ARPHRD_ type           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Link-layer address length     |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |               Link-layer address (8 bytes, padded)            |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |        Protocol type          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Direction of a cooked-capture packet relative to the capturing host (Linux `PACKET_*`).
public enum LinuxPacketType: UInt16, Sendable, BitwiseCopyable, Codable {
    case toUs = 0, broadcast = 1, multicast = 2, toOtherHost = 3, outgoing = 4
    case loopback = 5, user = 6, kernel = 7
    case unknown = 0xFFFF

    /// tcpdump's words for it (`In`, `Out`, `B`, `M`, `P`).
    public var tcpdumpName: String {
        switch self {
        case .toUs: "In"
        case .broadcast: "B"
        case .multicast: "M"
        case .toOtherHost: "P"
        case .outgoing: "Out"
        default: "?"
        }
    }
}

/// The Linux cooked-capture v1 header.
public struct LinuxSLLHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var packetType: UInt16
    /// ARPHRD_ type of the capturing device (1 Ethernet, 772 loopback, 65534 none/tun).
    public var arphrdType: UInt16
    public var addressLength: UInt16
    /// Link-layer source address when it is 6 bytes long (Ethernet-like devices).
    public var sourceMAC: MACAddress?
    /// EtherType of the payload (or a Linux `ETH_P_*` value for non-Ethernet payloads).
    public var protocolType: UInt16

    public static let length = 16

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.linuxSLL, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.linuxSLL, start, end)) else { return .done }
        return cookedPayload(protocolType: b.u16(start + 14), start + length, end)
    }

}

extension LinuxSLLHeader {
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let addressLength = b.u16(start + 4)
        self.init(offset: start, packetType: b.u16(start), arphrdType: b.u16(start + 2), addressLength: addressLength,
                  sourceMAC: addressLength == 6 ? b.mac(start + 6) : nil, protocolType: b.u16(start + 14))
    }

    /// Where a cooked capture's payload goes: EtherTypes as usual; Linux pseudo-protocols raw.
    static func cookedPayload(protocolType: UInt16, _ start: Int, _ end: Int) -> Next {
        protocolType >= 0x0600 ? .etherType(protocolType, start, end) : .payload(start, end)
    }
}
