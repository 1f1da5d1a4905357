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

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= fixedLength else {
            return packet.fail(.truncated(.arp, at: start, needed: fixedLength, available: end - start))
        }
        let length = fixedLength + 2 * (Int(b.u8(start + 4)) + Int(b.u8(start + 5)))
        guard end - start >= length else {
            return packet.fail(.truncated(.arp, at: start + fixedLength, needed: length, available: end - start, .fieldCutShort),
                               after: Layer(.arp, start, end))
        }
        _ = packet.push(Layer(.arp, start, end))
        return .done
    }

}

extension ARPPacket {
    /// The fields as decoding saw them: addresses only when the frame holds them all, and never
    /// for ATMARP (RFC 2225, hardware type 19), which lays its addresses out differently.
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        self.init(offset: start, hardwareType: b.u16(start), protocolType: b.u16(start + 2),
                  hardwareLength: b.u8(start + 4), protocolLength: b.u8(start + 5), opcode: b.u16(start + 6))
        guard layer.end - start >= length, hardwareType != 19 else { return }
        let hln = Int(hardwareLength), pln = Int(protocolLength)
        let sha = start + Self.fixedLength, spa = sha + hln, tha = spa + pln, tpa = tha + hln
        if hln == 6 {
            senderHardwareAddress = b.mac(sha)
            targetHardwareAddress = b.mac(tha)
        }
        if pln == 4 {
            senderProtocolAddress = b.ipv4(spa)
            targetProtocolAddress = b.ipv4(tpa)
        }
    }
}

extension ARPPacket {
    /// `ARP, Request who-has 10.0.0.1 tell 10.0.0.5, length 28` (tcpdump's words and cases).
    func summarize(_ b: UnsafeRawBufferPointer, length: Int, to t: TextBuffer) {
        t.append("ARP, ")
        let hln = Int(hardwareLength), pln = Int(protocolLength)
        let sha = offset + Self.fixedLength, spa = sha + hln, tha = spa + pln, tpa = tha + hln
        guard protocolType == EtherType.ipv4 || protocolType == 0x1000, pln == 4, hln > 0, hardwareType != 19,
              offset + self.length <= b.count else {
            switch hardwareType {
            case 1: t.append("Ethernet")
            case 6: t.append("IEEE 802")
            default: t.append("Unknown Hardware ("); t.decimal(hardwareType); t.append(")")
            }
            t.append(" (len "); t.decimal(hardwareLength); t.append("), ")
            if let name = EtherTypeName.name(protocolType) { t.append(name) } else {
                t.append("Unknown Protocol (0x"); t.hex(protocolType, width: 4); t.append(")")
            }
            t.append(" (len "); t.decimal(protocolLength); t.append("), length "); t.decimal(max(0, length))
            return
        }
        func hardware(_ at: Int, _ t: TextBuffer) {
            for j in 0..<hln {
                if j > 0 { t.append(":") }
                t.hex(b.u8(at + j), width: 2)
            }
        }
        func isZero(_ at: Int) -> Bool { (0..<hln).allSatisfy { b.u8(at + $0) == 0 } }
        switch opcode {
        case 1:
            t.append("Request who-has "); t.ipv4(b.ipv4(tpa))
            if !isZero(tha) { t.append(" ("); hardware(tha, t); t.append(")") }
            t.append(" tell "); t.ipv4(b.ipv4(spa))
        case 2:
            t.append("Reply "); t.ipv4(b.ipv4(spa)); t.append(" is-at "); hardware(sha, t)
        case 3:
            t.append("Reverse Request who-is "); hardware(tha, t); t.append(" tell "); hardware(sha, t)
        case 4:
            t.append("Reverse Reply "); hardware(tha, t); t.append(" at "); t.ipv4(b.ipv4(tpa))
        case 8:
            t.append("Inverse Request who-is "); hardware(tha, t); t.append(" tell "); hardware(sha, t)
        case 9:
            t.append("Inverse Reply "); hardware(sha, t); t.append(" at "); t.ipv4(b.ipv4(spa))
        default:
            // tcpdump shows an unknown operation's bytes instead of a length.
            t.append("Unknown ("); t.decimal(opcode); t.append(")")
            return
        }
        t.append(", length "); t.decimal(max(0, length))
    }
}
