import HopscopeModel

// ARP, RFC 826 (shown for Ethernet hardware and IPv4 protocol addresses)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        ar$hrd (hardware)      |        ar$pro (protocol)      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    ar$hln     |    ar$pln     |           ar$op               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  ar$sha (hln bytes) | ar$spa (pln) | ar$tha (hln) | ar$tpa (pln)
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// An ARP packet. Addresses are decoded when they are Ethernet (6 bytes) and IPv4 (4 bytes), the
/// only kind an OpenStack node carries; other lengths keep only their lengths.
public struct ARPPacket: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// ar$hrd: hardware address space (1 = Ethernet).
    public var hardwareType: UInt16
    /// ar$pro: protocol address space (an EtherType, 0x0800 for IPv4).
    public var protocolType: UInt16
    /// ar$hln and ar$pln: address lengths in bytes.
    public var hardwareLength: UInt8
    public var protocolLength: UInt8
    /// ar$op: 1 request, 2 reply (3/4 RARP, 8/9 InARP).
    public var opcode: UInt16
    public var senderHardwareAddress: MACAddress?
    public var senderProtocolAddress: IPv4Address?
    public var targetHardwareAddress: MACAddress?
    public var targetProtocolAddress: IPv4Address?

    public static let fixedLength = 8
    public var length: Int { Self.fixedLength + 2 * (Int(hardwareLength) + Int(protocolLength)) }
    public var isRequest: Bool { opcode == 1 }
    public var isReply: Bool { opcode == 2 }

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= fixedLength else {
            return packet.fail(.truncated(.arp, at: start, needed: fixedLength, available: end - start))
        }
        var arp = ARPPacket(offset: start, hardwareType: b.u16(start), protocolType: b.u16(start + 2),
                            hardwareLength: b.u8(start + 4), protocolLength: b.u8(start + 5), opcode: b.u16(start + 6))
        let hln = Int(arp.hardwareLength), pln = Int(arp.protocolLength)
        guard end - start >= arp.length else {
            _ = packet.push(.arp(arp))
            return packet.fail(.truncated(.arp, at: start + fixedLength, needed: arp.length, available: end - start, .fieldCutShort))
        }
        let sha = start + fixedLength, spa = sha + hln, tha = spa + pln, tpa = tha + hln
        if hln == 6 {
            arp.senderHardwareAddress = b.mac(sha)
            arp.targetHardwareAddress = b.mac(tha)
        }
        if pln == 4 {
            arp.senderProtocolAddress = b.ipv4(spa)
            arp.targetProtocolAddress = b.ipv4(tpa)
        }
        guard packet.push(.arp(arp)) else { return .done }
        return .done
    }
}
