import HopscopeModel

// DNS, RFC 1035 section 4.1 (AD and CD bits from RFC 4035, EDNS(0) OPT from RFC 6891)
//
//                                   1  1  1  1  1  1
//     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                      ID                       |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                    QDCOUNT                    |
//   |                    ANCOUNT                    |
//   |                    NSCOUNT                    |
//   |                    ARCOUNT                    |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   | Question: QNAME, QTYPE, QCLASS                |
//   | Answer, Authority, Additional resource records:|
//   |   NAME, TYPE, CLASS, TTL (32), RDLENGTH, RDATA |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//
// Names are labels (length 1-63, then bytes) ending with a zero byte, or ending with a compression
// pointer (two top bits set, 14-bit offset from the start of the message). Pointers may chain; the
// decoder bounds the chain so a loop is `malformed`, never a hang. Over TCP the message is
// preceded by a 2-byte length (RFC 1035 section 4.2.2).

/// A DNS message. Decoding walks every question and record once (which validates every name and
/// finds where each section starts); names and record data are read on demand with
/// `questions(in:)` and `records(in:)`.
public struct DNSMessage: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// The TCP length prefix, when the message came over TCP.
    public var tcpLength: UInt16?
    public var id: UInt16
    /// The second 16-bit word: QR, Opcode, AA, TC, RD, RA, Z, AD, CD, RCODE.
    public var flags: UInt16
    public var qdcount: UInt16
    public var ancount: UInt16
    public var nscount: UInt16
    public var arcount: UInt16
    /// Where the message (header included) and each section start in the frame.
    public var message: ByteRange
    public var answersOffset: Int
    public var authorityOffset: Int
    public var additionalOffset: Int
    /// EDNS(0) from an OPT record in the additional section: requestor's UDP payload size,
    /// the upper 8 bits of the extended RCODE, version, DO bit.
    public var ednsUDPSize: UInt16?
    public var ednsExtendedRcode: UInt8
    public var ednsVersion: UInt8
    public var ednsDO: Bool

    public static let headerLength = 12

    public var qr: Bool { flags & 0x8000 != 0 }
    public var isResponse: Bool { qr }
    public var opcode: UInt8 { UInt8((flags >> 11) & 0xF) }
    public var aa: Bool { flags & 0x0400 != 0 }
    public var tc: Bool { flags & 0x0200 != 0 }
    public var rd: Bool { flags & 0x0100 != 0 }
    public var ra: Bool { flags & 0x0080 != 0 }
    public var z: Bool { flags & 0x0040 != 0 }
    public var ad: Bool { flags & 0x0020 != 0 }
    public var cd: Bool { flags & 0x0010 != 0 }
    /// The 4-bit RCODE of the header.
    public var rcode: UInt8 { UInt8(flags & 0xF) }
    /// The full 12-bit response code, with the EDNS extension (RFC 6891 section 6.1.3).
    public var extendedRcode: UInt16 { UInt16(ednsExtendedRcode) << 4 | UInt16(rcode) }

    static func decode(overTCP: Bool, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        if overTCP {
            guard end - start >= 2 else { return packet.fail(.truncated(.dns, at: start, needed: 2, available: end - start)) }
        }
        let message = messageRange(overTCP: overTCP, b, start, end)
        guard message.count >= headerLength else {
            return packet.fail(DecodeError.truncated(.dns, at: message.offset, needed: headerLength, available: message.count))
        }
        let sections = DNSSections(b, message: message)
        let layer = Layer(.dns, start, end, flags: overTCP ? Layer.overTCP : 0, extra: UInt16(sections.ednsExtendedRcode),
                          aux: UInt32(truncatingIfNeeded: sections.answersOffset))
        if let error = sections.error { return packet.fail(error, after: layer) }
        _ = packet.push(layer)
        return .done
    }

    /// Where the message lies: after the 2-byte length over TCP, up to that length when the
    /// frame holds it.
    @inline(__always)
    static func messageRange(overTCP: Bool, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> ByteRange {
        guard overTCP else { return ByteRange(offset: start, count: end - start) }
        let length = Int(b.u16(start))
        return ByteRange(offset: start + 2, count: start + 2 + length <= end ? length : end - start - 2)
    }

}

extension DNSMessage {
    /// The header fields, section offsets and EDNS values as decoding found them (it walks the
    /// message again: names are not kept).
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let overTCP = layer.flags & Layer.overTCP != 0
        let message = Self.messageRange(overTCP: overTCP, b, start, layer.end)
        let m = message.offset
        let sections = DNSSections(b, message: message)
        self.init(offset: start, tcpLength: overTCP ? b.u16(start) : nil, id: b.u16(m), flags: b.u16(m + 2),
                  qdcount: b.u16(m + 4), ancount: b.u16(m + 6), nscount: b.u16(m + 8), arcount: b.u16(m + 10),
                  message: message, answersOffset: sections.answersOffset, authorityOffset: sections.authorityOffset,
                  additionalOffset: sections.additionalOffset, ednsUDPSize: sections.ednsUDPSize,
                  ednsExtendedRcode: sections.ednsExtendedRcode, ednsVersion: sections.ednsVersion, ednsDO: sections.ednsDO)
    }

    /// The question section.
    public func questions(in b: UnsafeRawBufferPointer) throws(DecodeError) -> [DNSQuestion] {
        var out: [DNSQuestion] = []
        var cursor = message.offset + Self.headerLength
        for _ in 0..<qdcount {
            guard cursor < message.end else { break }
            let (name, next) = try DNSName.read(b, at: cursor, message: message)
            guard next + 4 <= message.end else { throw .truncated(.dns, at: next, needed: 4, available: message.end - next, .recordCutShort) }
            out.append(DNSQuestion(name: name, type: b.u16(next), class: b.u16(next + 2)))
            cursor = next + 4
        }
        return out
    }

    /// The resource records of one section.
    public func records(_ section: DNSSection, in b: UnsafeRawBufferPointer) throws(DecodeError) -> [DNSResourceRecord] {
        let (records, error) = readableRecords(section, in: b)
        if let error { throw error }
        return records
    }

    /// The records of one section up to the first broken one, and the error that stopped the
    /// reading (a cut-short message still shows what it carried, as tshark does).
    public func readableRecords(_ section: DNSSection, in b: UnsafeRawBufferPointer) -> ([DNSResourceRecord], DecodeError?) {
        let (start, count): (Int, UInt16) = switch section {
        case .answer: (answersOffset, ancount)
        case .authority: (authorityOffset, nscount)
        case .additional: (additionalOffset, arcount)
        }
        var out: [DNSResourceRecord] = []
        var cursor = start
        for _ in 0..<count {
            guard cursor < message.end else { break }
            do {
                let (record, next) = try DNSResourceRecord.read(b, at: cursor, message: message)
                out.append(record)
                cursor = next
            } catch {
                return (out, error)
            }
        }
        return (out, nil)
    }
}

/// Where the sections of a message start and what its OPT record says, found by walking every
/// question and record once, which also validates every name. The walk stops at the first broken
/// name or record (`error`); sections it did not reach start at the end of the message.
struct DNSSections {
    var answersOffset: Int
    var authorityOffset: Int
    var additionalOffset: Int
    var ednsUDPSize: UInt16?
    var ednsExtendedRcode: UInt8 = 0
    var ednsVersion: UInt8 = 0
    var ednsDO = false
    var error: DecodeError?

    /// Walks the message in `message` (header included, at least 12 bytes).
    @inline(__always)
    init(_ b: UnsafeRawBufferPointer, message: ByteRange) {
        let messageEnd = message.end
        answersOffset = messageEnd
        authorityOffset = messageEnd
        additionalOffset = messageEnd
        var cursor = message.offset + DNSMessage.headerLength
        for _ in 0..<b.u16(message.offset + 4) {
            switch DNSName.skip(b, at: cursor, message: message) {
            case .failure(let error): self.error = error; return
            case .success(let next): cursor = next
            }
            guard cursor + 4 <= messageEnd else {
                error = DecodeError.truncated(.dns, at: cursor, needed: 4, available: messageEnd - cursor, .recordCutShort)
                return
            }
            cursor += 4
        }
        answersOffset = cursor
        for section in 0..<3 {
            if section == 1 { authorityOffset = cursor }
            if section == 2 { additionalOffset = cursor }
            var remaining = b.u16(message.offset + 6 + 2 * section)
            while remaining > 0 {
                remaining -= 1
                switch DNSName.skip(b, at: cursor, message: message) {
                case .failure(let error): self.error = error; return
                case .success(let next): cursor = next
                }
                guard cursor + 10 <= messageEnd else {
                    error = DecodeError.truncated(.dns, at: cursor, needed: 10, available: messageEnd - cursor, .recordCutShort)
                    return
                }
                let type = b.u16(cursor)
                let rdlength = Int(b.u16(cursor + 8))
                if type == DNSRecordType.opt && section == 2 {
                    ednsUDPSize = b.u16(cursor + 2)
                    ednsExtendedRcode = b.u8(cursor + 4)
                    ednsVersion = b.u8(cursor + 5)
                    ednsDO = b.u8(cursor + 6) & 0x80 != 0
                }
                cursor += 10
                guard cursor + rdlength <= messageEnd else {
                    error = DecodeError.truncated(.dns, at: cursor, needed: rdlength, available: messageEnd - cursor, .recordCutShort)
                    return
                }
                cursor += rdlength
            }
        }
    }
}

/// The three record sections of a message.
public enum DNSSection: String, Sendable, Codable, CaseIterable {
    case answer, authority, additional
}

/// A question: QNAME, QTYPE, QCLASS.
public struct DNSQuestion: Hashable, Sendable, Codable {
    /// Presentation form with the final dot (`www.example.com.`, root `.`).
    public var name: String
    public var type: UInt16
    public var `class`: UInt16
}

/// RR TYPE values (RFC 1035, 3596, 2782, 6891) and their mnemonics.
public enum DNSRecordType {
    public static let a: UInt16 = 1, ns: UInt16 = 2, cname: UInt16 = 5, soa: UInt16 = 6, ptr: UInt16 = 12
    public static let mx: UInt16 = 15, txt: UInt16 = 16, aaaa: UInt16 = 28, srv: UInt16 = 33, opt: UInt16 = 41
    public static let dname: UInt16 = 39

    public static func mnemonic(_ type: UInt16) -> String {
        let text = TextBuffer(capacity: 16)
        write(type, to: text)
        return text.string
    }

    /// Writes the mnemonic (`A`, `AAAA`, `Type65280`) without building a String.
    static func write(_ type: UInt16, to t: TextBuffer) {
        let name: StaticString = switch type {
        case 1: "A"
        case 2: "NS"
        case 5: "CNAME"
        case 6: "SOA"
        case 12: "PTR"
        case 13: "HINFO"
        case 15: "MX"
        case 16: "TXT"
        case 28: "AAAA"
        case 33: "SRV"
        case 35: "NAPTR"
        case 39: "DNAME"
        case 41: "OPT"
        case 43: "DS"
        case 44: "SSHFP"
        case 46: "RRSIG"
        case 47: "NSEC"
        case 48: "DNSKEY"
        case 50: "NSEC3"
        case 64: "SVCB"
        case 65: "HTTPS"
        case 99: "SPF"
        case 250: "TSIG"
        case 251: "IXFR"
        case 252: "AXFR"
        case 255: "ANY"
        case 256: "URI"
        case 257: "CAA"
        default: ""
        }
        if name.utf8CodeUnitCount == 0 {
            t.append("Type")
            t.decimal(type)
        } else {
            t.append(name)
        }
    }
}

/// RCODE names (RFC 1035, 2136, 6891, 7873).
public enum DNSResponseCode {
    public static func name(_ rcode: UInt16) -> String {
        switch rcode {
        case 0: "NoError"
        case 1: "FormErr"
        case 2: "ServFail"
        case 3: "NXDomain"
        case 4: "NotImp"
        case 5: "Refused"
        case 6: "YXDomain"
        case 7: "YXRRSet"
        case 8: "NXRRSet"
        case 9: "NotAuth"
        case 10: "NotZone"
        case 16: "BadVers"
        case 23: "BadCookie"
        default: "Resp\(rcode)"
        }
    }
}

/// One resource record with its RDATA decoded for the common types.
public struct DNSResourceRecord: Hashable, Sendable, Codable {
    public var name: String
    public var type: UInt16
    /// CLASS; for OPT the requestor's UDP payload size.
    public var `class`: UInt16
    /// TTL; for OPT the extended RCODE, version and flags.
    public var ttl: UInt32
    public var rdlength: UInt16
    /// A, AAAA.
    public var address: IPAddress?
    /// NS, CNAME, PTR, DNAME; MX exchange; SRV target.
    public var target: String?
    /// MX preference; SRV priority, weight, port.
    public var preference: UInt16?
    public var priority: UInt16?
    public var weight: UInt16?
    public var port: UInt16?
    /// TXT strings.
    public var texts: [String]?
    /// SOA fields.
    public var mname: String?
    public var rname: String?
    public var serial: UInt32?
    public var refresh: UInt32?
    public var retry: UInt32?
    public var expire: UInt32?
    public var minimum: UInt32?
    /// RDATA of other types, as hex.
    public var rdata: String?

    static func read(_ b: UnsafeRawBufferPointer, at offset: Int, message: ByteRange) throws(DecodeError) -> (DNSResourceRecord, Int) {
        let (name, fixed) = try DNSName.read(b, at: offset, message: message)
        guard fixed + 10 <= message.end else { throw .truncated(.dns, at: fixed, needed: 10, available: message.end - fixed, .recordCutShort) }
        let type = b.u16(fixed), rdlength = b.u16(fixed + 8)
        var record = DNSResourceRecord(name: name, type: type, class: b.u16(fixed + 2), ttl: b.u32(fixed + 4), rdlength: rdlength)
        let data = fixed + 10, end = data + Int(rdlength)
        guard end <= message.end else { throw .truncated(.dns, at: data, needed: Int(rdlength), available: message.end - data, .recordCutShort) }
        switch type {
        case DNSRecordType.a where rdlength == 4:
            record.address = .v4(b.ipv4(data))
        case DNSRecordType.aaaa where rdlength == 16:
            record.address = .v6(b.ipv6(data))
        case DNSRecordType.ns, DNSRecordType.cname, DNSRecordType.ptr, DNSRecordType.dname:
            record.target = try DNSName.read(b, at: data, message: message).0
        case DNSRecordType.mx where rdlength >= 3:
            record.preference = b.u16(data)
            record.target = try DNSName.read(b, at: data + 2, message: message).0
        case DNSRecordType.srv where rdlength >= 7:
            record.priority = b.u16(data)
            record.weight = b.u16(data + 2)
            record.port = b.u16(data + 4)
            record.target = try DNSName.read(b, at: data + 6, message: message).0
        case DNSRecordType.txt:
            var texts: [String] = []
            var i = data
            while i < end {
                let n = Int(b.u8(i))
                guard i + 1 + n <= end else { throw .malformed(.dns, at: i, .lengthBeyondEnclosing, value: n) }
                texts.append(String(decoding: UnsafeRawBufferPointer(rebasing: b[(i + 1)..<(i + 1 + n)]), as: UTF8.self))
                i += 1 + n
            }
            record.texts = texts
        case DNSRecordType.soa:
            let (mname, afterM) = try DNSName.read(b, at: data, message: message)
            let (rname, afterR) = try DNSName.read(b, at: afterM, message: message)
            guard afterR + 20 <= end else { throw .malformed(.dns, at: afterR, .lengthBeyondEnclosing, value: Int(rdlength)) }
            record.mname = mname
            record.rname = rname
            record.serial = b.u32(afterR)
            record.refresh = b.u32(afterR + 4)
            record.retry = b.u32(afterR + 8)
            record.expire = b.u32(afterR + 12)
            record.minimum = b.u32(afterR + 16)
        default:
            if rdlength > 0 { record.rdata = b.hexString(data..<end, separator: "") }
        }
        return (record, end)
    }

    init(name: String, type: UInt16, class: UInt16, ttl: UInt32, rdlength: UInt16) {
        self.name = name
        self.type = type
        self.class = `class`
        self.ttl = ttl
        self.rdlength = rdlength
    }
}

/// Domain names: skipping (validating) and reading, with compression pointers.
enum DNSName {
    /// Bound on labels plus pointers followed for one name: a legal name has at most 127 labels,
    /// and every pointer must lead to at least one more label, so 255 steps cover every legal name.
    static let maximumSteps = 255

    /// Validates the name at `offset` and returns where the data after it starts.
    static func skip(_ b: UnsafeRawBufferPointer, at offset: Int, message: ByteRange) -> Result<Int, DecodeError> {
        var i = offset
        var after = -1
        var length = 0
        var steps = 0
        while true {
            guard i < message.end else {
                return .failure(.truncated(.dns, at: i, needed: 1, available: 0, .fieldCutShort))
            }
            steps += 1
            guard steps <= maximumSteps else { return .failure(.malformed(.dns, at: offset, .pointerLoop)) }
            let byte = b.u8(i)
            switch byte & 0xC0 {
            case 0x00:
                if byte == 0 { return .success(after >= 0 ? after : i + 1) }
                length += Int(byte) + 1
                guard length <= 255 else { return .failure(.malformed(.dns, at: i, .nameTooLong, value: length)) }
                i += 1 + Int(byte)
            case 0xC0:
                guard i + 1 < message.end else { return .failure(.truncated(.dns, at: i, needed: 2, available: message.end - i, .fieldCutShort)) }
                let target = message.offset + Int(b.u16(i) & 0x3FFF)
                if after < 0 { after = i + 2 }
                guard target < message.end else { return .failure(.malformed(.dns, at: i, .pointerOutOfMessage, value: target - message.offset)) }
                i = target
            default:
                return .failure(.malformed(.dns, at: i, .badLabel, value: Int(byte)))
            }
        }
    }

    /// Reads the name at `offset` in presentation form (`www.example.com.`) and returns it with
    /// the offset after the name in place.
    static func read(_ b: UnsafeRawBufferPointer, at offset: Int, message: ByteRange) throws(DecodeError) -> (String, Int) {
        let next: Int
        switch skip(b, at: offset, message: message) {
        case .failure(let error): throw error
        case .success(let n): next = n
        }
        let text = TextBuffer(capacity: 64)
        write(b, at: offset, message: message, to: text)
        return (text.string, next)
    }
}

extension DNSMessage {
    static let opcodeNames: [StaticString] = ["", " iquery", " status", " op3", " notify", " update", " op6", " op7",
                                              " op8", " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef"]

    /// The fields a summary prints, without walking the message again: where the answers start
    /// and the EDNS extended RCODE come from the layer; the authority and additional offsets and
    /// the other EDNS values, which summaries do not print, are left at the end of the message.
    private init(summarizing layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let overTCP = layer.flags & Layer.overTCP != 0
        let message = Self.messageRange(overTCP: overTCP, b, start, layer.end)
        let m = message.offset
        self.init(offset: start, tcpLength: overTCP ? b.u16(start) : nil, id: b.u16(m), flags: b.u16(m + 2),
                  qdcount: b.u16(m + 4), ancount: b.u16(m + 6), nscount: b.u16(m + 8), arcount: b.u16(m + 10),
                  message: message, answersOffset: Int(layer.aux), authorityOffset: message.end, additionalOffset: message.end,
                  ednsUDPSize: nil, ednsExtendedRcode: UInt8(truncatingIfNeeded: layer.extra), ednsVersion: 0, ednsDO: false)
    }

    /// tcpdump's DNS line: `22836+ [1au] A? www.tcpdump.org. (56)` for a query,
    /// `22836*- 2/2/5 A 192.139.46.66, A 198.199.88.104 (224)` for a response.
    static func summarize(_ layer: Layer, writer w: SummaryWriter, to t: TextBuffer) {
        DNSMessage(summarizing: layer, w.b).summarize(w.b, to: t)
    }

    private func summarize(_ b: UnsafeRawBufferPointer, to t: TextBuffer) {
        t.decimal(id)
        t.append(Self.opcodeNames[Int(opcode)])
        if isResponse {
            if extendedRcode != 0 { t.append(" "); t.append(contentsOf: DNSResponseCode.name(extendedRcode)) }
            if aa { t.append("*") }
            if !ra { t.append("-") }
            if tc { t.append("|") }
            if ad { t.append("$") }
            if qdcount != 1 { t.append(" ["); t.decimal(qdcount); t.append("q]") }
            t.append(" "); t.decimal(ancount); t.append("/"); t.decimal(nscount); t.append("/"); t.decimal(arcount)
            var cursor = answersOffset
            var n = 0
            while n < ancount, cursor < message.end {
                if n > 0 { t.append(",") }
                guard let next = writeRecord(b, at: cursor, to: t) else { break }
                cursor = next
                n += 1
            }
        } else {
            if rd { t.append("+") }
            if cd { t.append("%") }
            if flags & 0x6CF != 0 { t.append(" [b2&3=0x"); t.hex(flags); t.append("]") }
            if opcode == 1 {
                if qdcount != 0 { t.append(" ["); t.decimal(qdcount); t.append("q]") }
                if ancount != 1 { t.append(" ["); t.decimal(ancount); t.append("a]") }
            } else {
                if ancount != 0 { t.append(" ["); t.decimal(ancount); t.append("a]") }
                if qdcount != 1 { t.append(" ["); t.decimal(qdcount); t.append("q]") }
            }
            if nscount != 0 { t.append(" ["); t.decimal(nscount); t.append("n]") }
            if arcount != 0 { t.append(" ["); t.decimal(arcount); t.append("au]") }
            var cursor = message.offset + Self.headerLength
            var n = 0
            while n < qdcount, cursor < message.end {
                guard case .success(let after) = DNSName.skip(b, at: cursor, message: message), after + 4 <= message.end else { break }
                t.append(" "); DNSRecordType.write(b.u16(after), to: t)
                let qclass = b.u16(after + 2)
                if qclass != 1 { t.append(" "); DNSClassName.write(qclass, to: t) }
                t.append("? ")
                DNSName.write(b, at: cursor, message: message, to: t)
                cursor = after + 4
                n += 1
            }
        }
        t.append(" ("); t.decimal(message.count); t.append(")")
    }

    /// One answer as tcpdump prints it without -v (` A 192.0.2.1`); nil when the record is cut.
    private func writeRecord(_ b: UnsafeRawBufferPointer, at offset: Int, to t: TextBuffer) -> Int? {
        guard case .success(let fixed) = DNSName.skip(b, at: offset, message: message), fixed + 10 <= message.end else { return nil }
        let type = b.u16(fixed), rclass = b.u16(fixed + 2), rdlength = Int(b.u16(fixed + 8))
        let data = fixed + 10, end = data + rdlength
        guard end <= message.end else { return nil }
        if rclass != 1 && type != DNSRecordType.opt { t.append(" "); DNSClassName.write(rclass, to: t) }
        t.append(" "); DNSRecordType.write(type, to: t)
        switch type {
        case DNSRecordType.a where rdlength == 4:
            t.append(" "); t.ipv4(b.ipv4(data))
        case DNSRecordType.aaaa where rdlength == 16:
            t.append(" "); t.ipv6(b.ipv6(data))
        case DNSRecordType.ns, DNSRecordType.cname, DNSRecordType.ptr, DNSRecordType.dname:
            t.append(" "); DNSName.write(b, at: data, message: message, to: t)
        case DNSRecordType.mx where rdlength >= 3:
            t.append(" "); DNSName.write(b, at: data + 2, message: message, to: t); t.append(" "); t.decimal(b.u16(data))
        case DNSRecordType.srv where rdlength >= 7:
            t.append(" "); DNSName.write(b, at: data + 6, message: message, to: t); t.append(":"); t.decimal(b.u16(data + 4))
        case DNSRecordType.txt:
            var i = data
            while i < end {
                let n = Int(b.u8(i))
                guard i + 1 + n <= end else { break }
                t.append(" \"")
                for j in (i + 1)..<(i + 1 + n) { t.byte(b.u8(j)) }
                t.append("\"")
                i += 1 + n
            }
        case DNSRecordType.opt:
            t.append(" UDPsize="); t.decimal(rclass)
            if b.u8(fixed + 6) & 0x80 != 0 { t.append(" DO") }
        default:
            break
        }
        return end
    }
}

extension TextBuffer {
    /// One label byte with RFC 1035 master-file escaping, as tcpdump prints it: `\.` and
    /// `\\`, `\DDD` for bytes that are not printable ASCII.
    func appendEscapedLabelByte(_ c: UInt8) {
        if c == UInt8(ascii: ".") || c == UInt8(ascii: "\\") {
            byte(UInt8(ascii: "\\"))
            byte(c)
        } else if c > 0x20 && c < 0x7F {
            byte(c)
        } else {
            byte(UInt8(ascii: "\\"))
            byte(UInt8(ascii: "0") + c / 100)
            byte(UInt8(ascii: "0") + (c / 10) % 10)
            byte(UInt8(ascii: "0") + c % 10)
        }
    }
}

/// QCLASS/CLASS names as tcpdump prints them.
enum DNSClassName {
    static func write(_ rclass: UInt16, to t: TextBuffer) {
        switch rclass {
        case 1: t.append("IN")
        case 3: t.append("CHAOS")
        case 4: t.append("HS")
        case 255: t.append("ANY")
        default: t.append("(Class "); t.decimal(rclass); t.append(")")
        }
    }
}

extension DNSName {
    /// Writes the name at `offset` (already validated by `skip`) in presentation form.
    static func write(_ b: UnsafeRawBufferPointer, at offset: Int, message: ByteRange, to t: TextBuffer) {
        guard case .success = skip(b, at: offset, message: message) else { t.append("<bad name>"); return }
        var i = offset
        var wrote = false
        while true {
            let byte = b.u8(i)
            if byte == 0 { break }
            if byte & 0xC0 == 0xC0 {
                i = message.offset + Int(b.u16(i) & 0x3FFF)
                continue
            }
            for j in (i + 1)..<(i + 1 + Int(byte)) { t.appendEscapedLabelByte(b.u8(j)) }
            t.byte(UInt8(ascii: "."))
            wrote = true
            i += 1 + Int(byte)
        }
        if !wrote { t.byte(UInt8(ascii: ".")) }
    }
}
