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

    /// Bytes of the header given its first word: the fixed 4 and each optional field present.
    @inline(__always)
    static func length(flagsAndVersion word: UInt16) -> Int {
        4 + (word & 0x8000 != 0 ? 4 : 0) + (word & 0x2000 != 0 ? 4 : 0) + (word & 0x1000 != 0 ? 4 : 0)
            + (word & 7 == 1 && word & 0x0080 != 0 ? 4 : 0)
    }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= 4 else { return packet.fail(.truncated(.gre, at: start, needed: 4, available: end - start)) }
        let word = b.u16(start)
        // Version 0 is a tunnel (what `Layer.isTunnel` says); its payload is decoded unless the
        // routing fields (unsupported) are present.
        let layer = Layer(.gre, start, end, flags: word & 7 == 0 ? Layer.carriesPacket : 0)
        let needed = length(flagsAndVersion: word)
        guard end - start >= needed else {
            return packet.fail(.truncated(.gre, at: start, needed: needed, available: end - start), after: layer)
        }
        guard packet.push(layer) else { return .done }
        let inner = start + needed
        guard word & 7 == 0, word & 0x4000 == 0 else { return .payload(inner, end) }
        let protocolType = b.u16(start + 2)
        switch protocolType {
        case EtherType.transparentEthernet: return .ethernet(inner, end)
        case EtherType.ipv4, EtherType.ipv6: return .etherType(protocolType, inner, end)
        default: return .payload(inner, end)
        }
    }

    init(offset: Int, flagsAndVersion: UInt16, protocolType: UInt16, length: Int) {
        self.offset = offset
        self.flagsAndVersion = flagsAndVersion
        self.protocolType = protocolType
        self.length = length
    }

    /// The fields as decoding saw them: a header cut short keeps only its first word.
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        self.init(offset: start, flagsAndVersion: b.u16(start), protocolType: b.u16(start + 2), length: 4)
        guard layer.end - start >= Self.length(flagsAndVersion: flagsAndVersion) else { return }
        var i = start + 4
        if checksumPresent { checksum = b.u16(i); reserved1 = b.u16(i + 2); i += 4 }
        if keyPresent { key = b.u32(i); i += 4 }
        if sequenceNumberPresent { sequenceNumber = b.u32(i); i += 4 }
        if version == 1 && acknowledgmentPresent { acknowledgmentNumber = b.u32(i); i += 4 }
        length = i - start
    }
}

extension GREHeader {
    /// `GREv0, key=0x1, length 102: IP ...`.
    func summarize(writer w: SummaryWriter, index i: Int, length: Int, to t: TextBuffer) {
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
        if i + 1 < w.layers.count, !w.isPayload(i + 1) {
            w.writeInner(from: i + 1, end: offset + length, to: t)
        } else if version == 0 && !routingPresent && protocolType != EtherType.ipv4 && protocolType != EtherType.ipv6 && protocolType != EtherType.transparentEthernet {
            t.append(": gre-proto-0x"); t.hex(protocolType)
        }
    }
}
