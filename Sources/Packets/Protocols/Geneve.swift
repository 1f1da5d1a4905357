// Geneve, RFC 8926 section 3.4 (UDP destination port 6081; OVN's tunnels)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Virtual Network Identifier (VNI)       |    Reserved   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Variable-Length Options                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Option: Option Class (16), Type (8), R R R, Length (5, in 4-byte words), data.

/// The Geneve header; the payload (Ethernet for 0x6558, or IPv4/IPv6) follows as further layers.
public struct GeneveHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var version: UInt8
    /// Opt Len in 4-byte words.
    public var optionsLength: UInt8
    /// O: control (OAM) packet. C: critical options present.
    public var oam: Bool
    public var critical: Bool
    public var protocolType: UInt16
    public var vni: UInt32
    public var options: ByteRange

    public static let fixedLength = 8

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= fixedLength else {
            return packet.fail(.truncated(.geneve, at: start, needed: fixedLength, available: end - start))
        }
        let first = b.u8(start)
        guard first >> 6 == 0 else {
            return packet.fail(.malformed(.geneve, at: start, .badVersion, value: Int(first >> 6)))
        }
        let layer = Layer(.geneve, start, end)
        let optionsLength = Int(first & 0x3F) * 4
        guard end - start >= fixedLength + optionsLength else {
            return packet.fail(DecodeError.truncated(.geneve, at: start, needed: fixedLength + optionsLength, available: end - start), after: layer)
        }
        if let error = GeneveOption.validate(b, ByteRange(offset: start + fixedLength, count: optionsLength)) { return packet.fail(error, after: layer) }
        guard packet.push(layer) else { return .done }
        let inner = start + fixedLength + optionsLength
        let protocolType = b.u16(start + 2)
        switch protocolType {
        case EtherType.transparentEthernet: return .ethernet(inner, end)
        case EtherType.ipv4, EtherType.ipv6: return .etherType(protocolType, inner, end)
        default: return .payload(inner, end)
        }
    }

}

extension GeneveHeader {
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let first = b.u8(start), second = b.u8(start + 1)
        self.init(offset: start, version: first >> 6, optionsLength: first & 0x3F, oam: second & 0x80 != 0,
                  critical: second & 0x40 != 0, protocolType: b.u16(start + 2), vni: b.u32(start + 4) >> 8,
                  options: ByteRange(offset: start + Self.fixedLength, count: min(Int(first & 0x3F) * 4, layer.end - start - Self.fixedLength)))
    }
}

/// One Geneve option TLV.
public struct GeneveOption: Hashable, Sendable, Codable {
    public var optionClass: UInt16
    public var type: UInt8
    /// Length of the data in 4-byte words.
    public var length: UInt8
    public var data: String

    static func validate(_ b: UnsafeRawBufferPointer, _ range: ByteRange) -> DecodeError? {
        var i = range.offset
        let rangeEnd = min(range.end, b.count)
        while i < rangeEnd {
            guard i + 4 <= rangeEnd else { return .malformed(.geneve, at: i, .badOptionLength) }
            let words = Int(b.u8(i + 3) & 0x1F)
            guard i + 4 + words * 4 <= rangeEnd else { return .malformed(.geneve, at: i, .badOptionLength, value: words) }
            i += 4 + words * 4
        }
        return nil
    }

    /// Every option of the header.
    public static func all(in b: UnsafeRawBufferPointer, of header: GeneveHeader) throws(DecodeError) -> [GeneveOption] {
        if let error = validate(b, header.options) { throw error }
        var out: [GeneveOption] = []
        var i = header.options.offset
        let end = min(header.options.end, b.count)
        while i < end {
            let words = b.u8(i + 3) & 0x1F
            let dataEnd = i + 4 + Int(words) * 4
            out.append(GeneveOption(optionClass: b.u16(i), type: b.u8(i + 2), length: words, data: b.hexString((i + 4)..<dataEnd, separator: "")))
            i = dataEnd
        }
        return out
    }
}

extension GeneveHeader {
    /// `Geneve, Flags [C], vni 0xa, options [8 bytes]: IP ...`.
    func summarize(writer w: SummaryWriter, index i: Int, end: Int, to t: TextBuffer) {
        t.append("Geneve, Flags [")
        if !oam && !critical { t.append("none") }
        if oam { t.append("O") }
        if oam && critical { t.append(", ") }
        if critical { t.append("C") }
        t.append("], vni 0x"); t.hex(vni)
        if optionsLength > 0 { t.append(", options ["); t.decimal(Int(optionsLength) * 4); t.append(" bytes]") }
        w.writeInner(from: i + 1, end: end, to: t)
    }
}
