// TCP, RFC 9293 section 3.1 (control bits CWR and ECE from RFC 3168, AE from RFC 9768)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Acknowledgment Number                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data |       |C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//  |       |     |A|R|E|G|K|H|T|N|N|                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Checksum            |         Urgent Pointer        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           [Options]                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Options: Kind 0 End of Option List and 1 No-Operation are one byte; others are Kind, Length,
// data: 2 MSS, 3 Window Scale, 4 SACK Permitted, 5 SACK, 8 Timestamps, 34 Fast Open cookie.

/// The TCP header. Options stay in the frame (`options`), read with `TCPOption.all(in:of:)`.
public struct TCPHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: UInt32
    public var acknowledgmentNumber: UInt32
    /// Data Offset in 32-bit words.
    public var dataOffset: UInt8
    /// The 12 bits after Data Offset: 3 reserved, AE, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN.
    public var flags: UInt16
    public var window: UInt16
    public var checksum: UInt16
    public var urgentPointer: UInt16
    public var options: ByteRange
    /// Where the segment's data lies in the frame.
    public var payload: ByteRange

    public static let minimumLength = 20

    public enum Flag {
        public static let fin: UInt16 = 0x001, syn: UInt16 = 0x002, rst: UInt16 = 0x004, psh: UInt16 = 0x008
        public static let ack: UInt16 = 0x010, urg: UInt16 = 0x020, ece: UInt16 = 0x040, cwr: UInt16 = 0x080
        public static let ae: UInt16 = 0x100
    }

    public var headerLength: Int { Int(dataOffset) * 4 }
    public var fin: Bool { flags & Flag.fin != 0 }
    public var syn: Bool { flags & Flag.syn != 0 }
    public var rst: Bool { flags & Flag.rst != 0 }
    public var psh: Bool { flags & Flag.psh != 0 }
    public var ack: Bool { flags & Flag.ack != 0 }
    public var urg: Bool { flags & Flag.urg != 0 }
    public var ece: Bool { flags & Flag.ece != 0 }
    public var cwr: Bool { flags & Flag.cwr != 0 }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= minimumLength else {
            return packet.fail(.truncated(.tcp, at: start, needed: minimumLength, available: captured))
        }
        let layer = Layer(.tcp, start, end)
        let headerLength = Int(b.u8(start + 12) >> 4) &* 4
        guard headerLength >= minimumLength else {
            return packet.fail(.malformed(.tcp, at: start + 12, .headerLengthTooSmall, value: headerLength), after: layer)
        }
        guard captured >= headerLength else {
            return packet.fail(.truncated(.tcp, at: start, needed: headerLength, available: captured), after: layer)
        }
        if headerLength > minimumLength,
           let error = TCPOption.validate(b, ByteRange(offset: start + minimumLength, count: headerLength - minimumLength)) {
            return packet.fail(error, after: layer)
        }
        guard packet.push(layer) else { return .done }
        let data = start + headerLength
        if data == end { return .done }
        if b.u16(start) == UDPHeader.WellKnownPort.dns || b.u16(start + 2) == UDPHeader.WellKnownPort.dns {
            return .dns(data, end, overTCP: true)
        }
        return .payload(data, end)
    }

}

extension TCPHeader {
    /// The fields as decoding saw them: `payload` is empty when the header is cut short or its
    /// Data Offset is impossible.
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let captured = layer.end - start
        let offsetFlags = b.u16(start + 12)
        let dataOffset = UInt8(offsetFlags >> 12)
        let headerLength = Int(dataOffset) &* 4
        let payload = headerLength >= Self.minimumLength && captured >= headerLength
            ? ByteRange(offset: start + headerLength, count: captured - headerLength) : .empty
        self.init(offset: start, sourcePort: b.u16(start), destinationPort: b.u16(start + 2),
                  sequenceNumber: b.u32(start + 4), acknowledgmentNumber: b.u32(start + 8), dataOffset: dataOffset,
                  flags: offsetFlags & 0x0FFF, window: b.u16(start + 14), checksum: b.u16(start + 16),
                  urgentPointer: b.u16(start + 18),
                  options: ByteRange(offset: start + Self.minimumLength, count: max(0, min(headerLength, captured) - Self.minimumLength)),
                  payload: payload)
    }
}

/// One TCP option, read from the frame.
public struct TCPOption: Hashable, Sendable, Codable {
    public var kind: UInt8
    /// The Length octet (absent for EOL and NOP).
    public var length: UInt8?
    public var mss: UInt16?
    public var windowScale: UInt8?
    /// SACK blocks as (left edge, right edge) pairs.
    public var sackBlocks: [SACKBlock]?
    public var timestampValue: UInt32?
    public var timestampEchoReply: UInt32?
    /// Data of any other option (Fast Open cookie, MD5, unknown kinds), as hex.
    public var data: String?

    public struct SACKBlock: Hashable, Sendable, Codable {
        public var leftEdge: UInt32
        public var rightEdge: UInt32
    }

    public static let endOfOptionList: UInt8 = 0, noOperation: UInt8 = 1, maximumSegmentSize: UInt8 = 2
    public static let windowScaleKind: UInt8 = 3, sackPermitted: UInt8 = 4, sack: UInt8 = 5, timestamps: UInt8 = 8
    public static let fastOpen: UInt8 = 34

    static func validate(_ b: UnsafeRawBufferPointer, _ range: ByteRange) -> DecodeError? {
        var i = range.offset
        let end = min(range.end, b.count)
        while i < end {
            let kind = b.u8(i)
            if kind == endOfOptionList { return nil }
            if kind == noOperation { i += 1; continue }
            guard i + 1 < end else { return .malformed(.tcp, at: i, .badOptionLength) }
            let length = Int(b.u8(i + 1))
            guard length >= 2, i + length <= end else { return .malformed(.tcp, at: i, .badOptionLength, value: length) }
            i += length
        }
        return nil
    }

    /// Every option of the header, up to End of Option List.
    public static func all(in b: UnsafeRawBufferPointer, of header: TCPHeader) throws(DecodeError) -> [TCPOption] {
        if let error = validate(b, header.options) { throw error }
        var out: [TCPOption] = []
        var i = header.options.offset
        let end = min(header.options.end, b.count)
        while i < end {
            let kind = b.u8(i)
            if kind == endOfOptionList || kind == noOperation {
                out.append(TCPOption(kind: kind))
                i += 1
                if kind == endOfOptionList { break }
                continue
            }
            let length = Int(b.u8(i + 1))
            var option = TCPOption(kind: kind)
            option.length = UInt8(length)
            switch (kind, length) {
            case (maximumSegmentSize, 4): option.mss = b.u16(i + 2)
            case (windowScaleKind, 3): option.windowScale = b.u8(i + 2)
            case (sackPermitted, 2): break
            case (sack, _) where (length - 2) % 8 == 0:
                option.sackBlocks = stride(from: i + 2, to: i + length, by: 8).map { SACKBlock(leftEdge: b.u32($0), rightEdge: b.u32($0 + 4)) }
            case (timestamps, 10):
                option.timestampValue = b.u32(i + 2)
                option.timestampEchoReply = b.u32(i + 6)
            default:
                option.data = b.hexString((i + 2)..<(i + length), separator: "")
            }
            out.append(option)
            i += length
        }
        return out
    }

    init(kind: UInt8) { self.kind = kind }
}

extension TCPHeader {
    /// `Flags [S], seq 603899916, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0`
    /// with absolute sequence numbers (tcpdump `-S`): a stateless decode has no connection to be
    /// relative to, and absolute numbers are what match across hops.
    func summarize(writer w: SummaryWriter, index i: Int, length: Int, to t: TextBuffer) {
        if w.followsExtensionHeader(i) {
            t.decimal(sourcePort); t.append(" > "); t.decimal(destinationPort); t.append(": ")
        }
        let length = max(0, length)
        t.append("Flags [")
        if flags & 0x1FF == 0 { t.append("none") }
        if fin { t.append("F") }
        if syn { t.append("S") }
        if rst { t.append("R") }
        if psh { t.append("P") }
        if ack { t.append(".") }
        if urg { t.append("U") }
        if ece { t.append("E") }
        if cwr { t.append("W") }
        t.append("]")
        if length > 0 || flags & (Flag.syn | Flag.fin | Flag.rst) != 0 {
            t.append(", seq "); t.decimal(sequenceNumber)
            if length > 0 { t.append(":"); t.decimal(sequenceNumber &+ UInt32(truncatingIfNeeded: length)) }
        }
        if ack { t.append(", ack "); t.decimal(acknowledgmentNumber) }
        t.append(", win "); t.decimal(window)
        if urg { t.append(", urg "); t.decimal(urgentPointer) }
        if !options.isEmpty && options.end <= w.b.count && TCPOption.validate(w.b, options) == nil {
            t.append(", options [")
            writeOptions(w.b, to: t)
            t.append("]")
        }
        t.append(", length "); t.decimal(length)
        if let next = w.next(i), next.protocolID == .dns {
            t.append(" ")
            DNSMessage.summarize(next, writer: w, to: t)
        }
    }

    private func writeOptions(_ b: UnsafeRawBufferPointer, to t: TextBuffer) {
        var i = options.offset
        var first = true
        while i < options.end {
            if !first { t.append(",") }
            first = false
            let kind = b.u8(i)
            if kind == TCPOption.endOfOptionList { t.append("eol"); break }
            if kind == TCPOption.noOperation { t.append("nop"); i += 1; continue }
            let length = Int(b.u8(i + 1))
            switch (kind, length) {
            case (TCPOption.maximumSegmentSize, 4): t.append("mss "); t.decimal(b.u16(i + 2))
            case (TCPOption.windowScaleKind, 3): t.append("wscale "); t.decimal(b.u8(i + 2))
            case (TCPOption.sackPermitted, 2): t.append("sackOK")
            case (TCPOption.sack, _) where (length - 2) % 8 == 0:
                t.append("sack "); t.decimal((length - 2) / 8)
                var j = i + 2
                while j < i + length {
                    t.append(" {"); t.decimal(b.u32(j)); t.append(":"); t.decimal(b.u32(j + 4)); t.append("}")
                    j += 8
                }
            case (TCPOption.timestamps, 10):
                t.append("TS val "); t.decimal(b.u32(i + 2)); t.append(" ecr "); t.decimal(b.u32(i + 6))
            case (TCPOption.fastOpen, _):
                if length == 2 { t.append("tfo  cookiereq") } else {
                    t.append("tfo  cookie ")
                    for j in (i + 2)..<(i + length) { t.hex(b.u8(j), width: 2) }
                }
            default:
                t.append("unknown-"); t.decimal(kind); t.append(" 0x")
                for j in (i + 2)..<(i + length) { t.hex(b.u8(j), width: 2) }
            }
            i += max(length, 2)
        }
    }
}
