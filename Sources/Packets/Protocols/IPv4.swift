import HopscopeModel

// IPv4, RFC 791 section 3.1
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |Type of Service|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |Flags|      Fragment Offset    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options                    |    Padding    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Type of Service is read as DSCP (6 bits) and ECN (2 bits), RFC 2474 and RFC 3168.
// Flags: bit 0 reserved ("evil bit"), bit 1 DF, bit 2 MF. Fragment Offset counts 8-byte units.
// A Total Length of 0 is what segmentation offload (TSO/GSO, BIG TCP) leaves in a captured
// super-packet: the datagram then runs to the end of the frame, as tcpdump assumes.

/// The IPv4 header. Options stay in the frame (`options`), read with `IPv4Option.all(in:)`.
public struct IPv4Header: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var version: UInt8
    /// Internet Header Length in 32-bit words (5 without options).
    public var ihl: UInt8
    public var typeOfService: UInt8
    public var totalLength: UInt16
    public var identification: UInt16
    /// The three flag bits: 0b100 reserved, 0b010 DF, 0b001 MF.
    public var flags: UInt8
    /// Fragment offset in 8-byte units.
    public var fragmentOffset: UInt16
    public var timeToLive: UInt8
    public var `protocol`: UInt8
    public var headerChecksum: UInt16
    public var source: IPv4Address
    public var destination: IPv4Address
    /// Where the options lie in the frame (empty without options).
    public var options: ByteRange
    /// Where the datagram's payload lies in the frame: up to Total Length, or to the end of the
    /// capture when the capture was cut short or Total Length is 0 (offload).
    public var payload: ByteRange

    public static let minimumLength = 20

    public var headerLength: Int { Int(ihl) * 4 }
    public var dscp: UInt8 { typeOfService >> 2 }
    public var ecn: UInt8 { typeOfService & 3 }
    public var dontFragment: Bool { flags & 0b010 != 0 }
    public var moreFragments: Bool { flags & 0b001 != 0 }
    /// True for any fragment of a fragmented datagram (first, middle or last).
    public var isFragment: Bool { moreFragments || fragmentOffset != 0 }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= minimumLength else {
            return packet.fail(.truncated(.ipv4, at: start, needed: minimumLength, available: captured))
        }
        let versionIHL = b.u8(start)
        guard versionIHL >> 4 == 4 else { return packet.fail(.malformed(.ipv4, at: start, .badVersion, value: Int(versionIHL >> 4))) }
        let headerLength = Int(versionIHL & 0x0F) &* 4
        guard headerLength >= minimumLength else {
            return packet.fail(.malformed(.ipv4, at: start, .headerLengthTooSmall, value: headerLength))
        }
        let layer = Layer(.ipv4, start, end)
        guard captured >= headerLength else {
            return packet.fail(.truncated(.ipv4, at: start, needed: headerLength, available: captured), after: layer)
        }
        let totalLength = Int(b.u16(start + 2))
        var datagramEnd = end
        if totalLength != 0 {
            guard totalLength >= headerLength else {
                return packet.fail(.malformed(.ipv4, at: start + 2, .totalLengthTooSmall, value: totalLength), after: layer)
            }
            if start + totalLength <= end {
                datagramEnd = start + totalLength
            } else {
                packet.isIPPayloadCut = true
                if !packet.isCutBySnapLength {
                    packet.note(.malformed(.ipv4, at: start + 2, .lengthBeyondEnclosing, value: totalLength))
                }
            }
        }
        if headerLength > minimumLength,
           let error = IPv4Option.validate(b, ByteRange(offset: start + minimumLength, count: headerLength - minimumLength)) {
            packet.note(error)
        }
        guard packet.push(layer) else { return .done }
        let flagsFragment = b.u16(start + 6)
        if flagsFragment & 0x3FFF != 0 { packet.isFragment = true }
        if flagsFragment & 0x1FFF != 0 { return .payload(start + headerLength, datagramEnd) }
        return .ipProtocol(b.u8(start + 9), start + headerLength, datagramEnd, ipv6Start: -1)
    }

}

extension IPv4Header {
    /// The fields as decoding saw them: `payload` is empty when the header itself is cut short or
    /// its Total Length is smaller than the header.
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset, end = layer.end
        let captured = end - start
        let ihl = b.u8(start) & 0x0F
        let headerLength = Int(ihl) &* 4
        let totalLength = b.u16(start + 2)
        let flagsFragment = b.u16(start + 6)
        var payload = ByteRange.empty
        if captured >= headerLength && (totalLength == 0 || Int(totalLength) >= headerLength) {
            let datagramEnd = totalLength != 0 && start + Int(totalLength) <= end ? start + Int(totalLength) : end
            payload = ByteRange(offset: start + headerLength, count: datagramEnd - start - headerLength)
        }
        self.init(offset: start, version: 4, ihl: ihl, typeOfService: b.u8(start + 1), totalLength: totalLength,
                  identification: b.u16(start + 4), flags: UInt8(flagsFragment >> 13), fragmentOffset: flagsFragment & 0x1FFF,
                  timeToLive: b.u8(start + 8), protocol: b.u8(start + 9), headerChecksum: b.u16(start + 10),
                  source: b.ipv4(start + 12), destination: b.ipv4(start + 16),
                  options: ByteRange(offset: start + Self.minimumLength, count: min(headerLength, captured) - Self.minimumLength),
                  payload: payload)
    }

    /// Recomputes the header checksum over the header bytes; true when it matches.
    public func checksumIsValid(in b: UnsafeRawBufferPointer) -> Bool {
        guard offset + headerLength <= b.count else { return false }
        return InternetChecksum.sum(b, offset..<(offset + headerLength)) == 0xFFFF
    }
}

// IPv4 options, RFC 791: Type = copied (1 bit) | class (2) | number (5); types 0 (End of Option
// List) and 1 (No Operation) are one byte, every other option is Type, Length, data.

/// One IPv4 option, read from the frame.
public struct IPv4Option: Hashable, Sendable, Codable {
    public var type: UInt8
    /// The Length octet (option length including type and length), absent for EOL and NOP.
    public var length: UInt8?
    public var data: [UInt8]

    public var copied: Bool { type & 0x80 != 0 }
    public var optionClass: UInt8 { (type >> 5) & 3 }
    public var number: UInt8 { type & 0x1F }
    /// tcpdump's name for well-known options.
    public var name: String {
        switch type {
        case 0: "EOL"
        case 1: "NOP"
        case 7: "RR"
        case 68: "TS"
        case 130: "security"
        case 131: "LSRR"
        case 137: "SSRR"
        case 148: "RA"
        default: "unknown-\(type)"
        }
    }

    static func validate(_ b: UnsafeRawBufferPointer, _ range: ByteRange) -> DecodeError? {
        var i = range.offset
        let rangeEnd = min(range.end, b.count)
        while i < rangeEnd {
            let type = b.u8(i)
            if type == 0 { return nil }
            if type == 1 { i += 1; continue }
            guard i + 1 < rangeEnd else { return .malformed(.ipv4, at: i, .badOptionLength) }
            let length = Int(b.u8(i + 1))
            guard length >= 2, i + length <= rangeEnd else { return .malformed(.ipv4, at: i, .badOptionLength, value: length) }
            i += length
        }
        return nil
    }

    /// Every option of the header, in order, up to End of Option List. A broken option ends the
    /// list with an error.
    public static func all(in b: UnsafeRawBufferPointer, of header: IPv4Header) throws(DecodeError) -> [IPv4Option] {
        var out: [IPv4Option] = []
        var i = header.options.offset
        let end = min(header.options.end, b.count)
        while i < end {
            let type = b.u8(i)
            if type == 0 || type == 1 {
                out.append(IPv4Option(type: type, length: nil, data: []))
                i += 1
                if type == 0 { break }
                continue
            }
            guard i + 1 < end else { throw .malformed(.ipv4, at: i, .badOptionLength) }
            let length = Int(b.u8(i + 1))
            guard length >= 2, i + length <= end else { throw .malformed(.ipv4, at: i, .badOptionLength, value: length) }
            out.append(IPv4Option(type: type, length: UInt8(length), data: Array(b[(i + 2)..<(i + length)])))
            i += length
        }
        return out
    }
}

/// The Internet checksum (RFC 1071) over frame bytes.
enum InternetChecksum {
    /// One's-complement sum, folded to 16 bits (0xFFFF when a checksummed region verifies).
    static func sum(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, initial: UInt32 = 0) -> UInt16 {
        var total = UInt64(initial)
        var i = range.lowerBound
        while i + 1 < range.upperBound {
            total += UInt64(b.u16(i))
            i += 2
        }
        if i < range.upperBound { total += UInt64(b.u8(i)) << 8 }
        while total >> 16 != 0 { total = (total & 0xFFFF) + (total >> 16) }
        return UInt16(total)
    }
}

extension IPv4Header {
    /// `IP 10.0.0.5.33000 > 10.0.0.1.53: ...` or `IP 10.0.0.5 > 203.0.113.1: ICMP ...`.
    func summarize(writer w: SummaryWriter, index i: Int, omitPrefix: Bool, to t: TextBuffer) {
        if !omitPrefix { t.append("IP ") }
        let end = totalLength == 0 ? payload.end : offset + Int(totalLength)
        let hasNext = w.writeAddresses(of: i, source: .v4(source), destination: .v4(destination), to: t)
        if fragmentOffset != 0 {
            t.append(" ip-proto-"); t.decimal(`protocol`)
            return
        }
        if !hasNext || w.isPayload(i + 1) {
            if hasNext || w.issue == nil {
                t.append("  ip-proto-"); t.decimal(`protocol`); t.append(" "); t.decimal(max(0, end - payload.offset))
            }
            return
        }
        t.append(" ")
        w.writeTransport(from: i + 1, end: end, to: t)
    }
}
