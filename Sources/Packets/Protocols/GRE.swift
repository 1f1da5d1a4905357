// GRE, RFC 2784 with the Key and Sequence Number extensions of RFC 2890
// (version 1 is PPTP's enhanced GRE, RFC 2637)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |C| |K|S|  Reserved0  |A| Ver |         Protocol Type           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |      Checksum (optional)      |       Reserved1 (Optional)    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Key (optional)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Sequence Number (Optional)                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Acknowledgment Number (version 1, A set)               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The R (routing, bit 1) flag of RFC 1701 is kept in the flag word but its routing fields are not
// supported: such a packet stops at the GRE layer with its payload raw.

/// The GRE header; version 0 payloads of type IPv4, IPv6 or Transparent Ethernet Bridging
/// (0x6558, OVS and Linux gretap) follow as further layers.
public struct GREHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// The first 16 bits: C, R, K, S, s, Recur, A, Flags, Ver.
    public var flagsAndVersion: UInt16
    public var protocolType: UInt16
    public var checksum: UInt16?
    public var reserved1: UInt16?
    /// Key (RFC 2890); for version 1 the payload length (high 16 bits) and call ID (low 16 bits).
    public var key: UInt32?
    public var sequenceNumber: UInt32?
    public var acknowledgmentNumber: UInt32?
    public var length: Int

    public var checksumPresent: Bool { flagsAndVersion & 0x8000 != 0 }
    public var routingPresent: Bool { flagsAndVersion & 0x4000 != 0 }
    public var keyPresent: Bool { flagsAndVersion & 0x2000 != 0 }
    public var sequenceNumberPresent: Bool { flagsAndVersion & 0x1000 != 0 }
    public var acknowledgmentPresent: Bool { flagsAndVersion & 0x0080 != 0 }
    public var version: UInt8 { UInt8(flagsAndVersion & 7) }

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= 4 else { return packet.fail(.truncated(.gre, at: start, needed: 4, available: end - start)) }
        let word = b.u16(start)
        var header = GREHeader(offset: start, flagsAndVersion: word, protocolType: b.u16(start + 2), length: 4)
        let needed = 4 + (header.checksumPresent ? 4 : 0) + (header.keyPresent ? 4 : 0) + (header.sequenceNumberPresent ? 4 : 0)
            + (header.version == 1 && header.acknowledgmentPresent ? 4 : 0)
        guard end - start >= needed else {
            _ = packet.push(.gre(header))
            return packet.fail(.truncated(.gre, at: start, needed: needed, available: end - start))
        }
        var i = start + 4
        if header.checksumPresent { header.checksum = b.u16(i); header.reserved1 = b.u16(i + 2); i += 4 }
        if header.keyPresent { header.key = b.u32(i); i += 4 }
        if header.sequenceNumberPresent { header.sequenceNumber = b.u32(i); i += 4 }
        if header.version == 1 && header.acknowledgmentPresent { header.acknowledgmentNumber = b.u32(i); i += 4 }
        header.length = i - start
        guard packet.push(.gre(header)) else { return .done }
        guard header.version == 0, !header.routingPresent else { return .payload(i, end) }
        switch header.protocolType {
        case EtherType.transparentEthernet: return .ethernet(i, end)
        case EtherType.ipv4, EtherType.ipv6: return .etherType(header.protocolType, i, end)
        default: return .payload(i, end)
        }
    }

    init(offset: Int, flagsAndVersion: UInt16, protocolType: UInt16, length: Int) {
        self.offset = offset
        self.flagsAndVersion = flagsAndVersion
        self.protocolType = protocolType
        self.length = length
    }
}

extension GREHeader {
    /// `GREv0, key=0x1, length 102: IP ...`.
    func summarize(writer w: SummaryWriter, index i: Int, length: Int, to t: inout TextBuffer) {
        t.append("GREv"); t.decimal(version)
        if version == 1 {
            if let key { t.append(", call "); t.decimal(key & 0xFFFF) }
            if let sequenceNumber { t.append(", seq "); t.decimal(sequenceNumber) }
            if let acknowledgmentNumber { t.append(", ack "); t.decimal(acknowledgmentNumber) }
        } else {
            if let key { t.append(", key=0x"); t.hex(key) }
            if let sequenceNumber { t.append(", seq "); t.decimal(sequenceNumber) }
        }
        t.append(", length "); t.decimal(max(0, length))
        if i + 1 < w.packet.layers.count, !w.isPayload(i + 1) {
            w.writeInner(from: i + 1, end: offset + length, to: &t)
        } else if version == 0 && !routingPresent && protocolType != EtherType.ipv4 && protocolType != EtherType.ipv6 && protocolType != EtherType.transparentEthernet {
            t.append(": gre-proto-0x"); t.hex(protocolType)
        }
    }
}
