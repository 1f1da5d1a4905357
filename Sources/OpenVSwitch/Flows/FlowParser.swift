import HopscopeModel

/// A flow line that could not be read, naming the line and the column (both 1-based) where the
/// problem starts, and what was expected there.
public struct FlowParseError: Error, CustomStringConvertible, Hashable, Sendable {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "flow dump line \(line), column \(column): \(message)" }
}

/// A whole `ovs-ofctl dump-flows` output: the flows, the reply headers (`NXST_FLOW reply`), and any
/// other lines (blank lines, warnings, errors) kept with their line numbers so nothing is lost.
public struct FlowDump: Sendable, Hashable, Codable {
    public var flows: [OpenFlowRule]
    /// Lines that are not flows: `NXST_FLOW reply (xid=0x4):`, blank lines, `ovs-ofctl:` errors.
    public var otherLines: [NumberedLine]

    public struct NumberedLine: Hashable, Sendable, Codable {
        public var line: Int
        public var text: String
    }

    /// Parses dump text. A line is a flow when it holds `actions=`; a flow that cannot be read
    /// throws `FlowParseError` with its line and column.
    init() {
        flows = []
        otherLines = []
    }

    public init(parsing text: String) throws {
        var text = text
        (flows, otherLines) = try text.withUTF8 { try FlowDump.parse($0, firstLine: 1) }
    }

    /// Parses the lines in `bytes`, numbering them from `firstLine`. Repeated texts are made into
    /// Strings once per call (`TextInterner`).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, firstLine: Int) throws -> ([OpenFlowRule], [NumberedLine]) {
        var flows: [OpenFlowRule] = []
        var otherLines: [NumberedLine] = []
        let interner = TextInterner(base: bytes)
        // Parsers hold the interner unowned; it must live until the last line is read.
        defer { withExtendedLifetime(interner) {} }
        var number = firstLine - 1
        var lineStart = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            if lineStart == bytes.count && lineEnd == lineStart && number >= firstLine { break }  // text ended with a newline
            number += 1
            var contentEnd = lineEnd
            if contentEnd > lineStart && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            var parser = FlowTextParser(bytes: bytes, start: lineStart, end: contentEnd, line: number, interner: interner)
            if let actionsAt = parser.findActions() {
                flows.append(try parser.parseRule(raw: parser.uninterned(lineStart..<contentEnd), actionsAt: actionsAt))
            } else {
                otherLines.append(NumberedLine(line: number, text: parser.uninterned(lineStart..<contentEnd)))
            }
            lineStart = lineEnd + 1
        }
        return (flows, otherLines)
    }

    static func looksLikeFlow(_ line: Substring) -> Bool {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBufferPointer { FlowTextParser(bytes: $0, start: 0, end: $0.count, line: 0).findActions() != nil }
    }

    /// Lines that report a failure (`ovs-ofctl: ...`, `...|WARN|...`), to show the operator.
    public var problems: [NumberedLine] {
        otherLines.filter { $0.text.hasPrefix("ovs-ofctl:") || $0.text.contains("|WARN|") || $0.text.contains("|ERR|") }
    }
}

/// Header keys that `ovs-ofctl dump-flows` and `bridge/dump-flows` print before the match.
let flowHeaderKeys: Set<String> = [
    "cookie", "duration", "table", "table_id", "n_packets", "n_bytes", "n_offload_packets", "n_offload_bytes",
    "idle_timeout", "hard_timeout", "idle_age", "hard_age", "importance", "out_port",
]
/// Flag words printed between the counters and the match.
let flowHeaderFlags: Set<String> = ["send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts", "no_readonly_table"]

/// The header keys the parser reads values from; the others are only kept as text.
enum FlowHeaderKey: Sendable { case cookie, table, packets, bytes, idleTimeout, hardTimeout, other }
let flowHeaderKeyTable = ByteKeyTable<FlowHeaderKey>(flowHeaderKeys.map { key in
    let k: FlowHeaderKey = switch key {
    case "cookie": .cookie
    case "table", "table_id": .table
    case "n_packets": .packets
    case "n_bytes": .bytes
    case "idle_timeout": .idleTimeout
    case "hard_timeout": .hardTimeout
    default: .other
    }
    return (key, k)
})
let flowHeaderFlagTable = ByteKeyTable<Bool>(flowHeaderFlags.map { ($0, true) })
/// Field names exactly as registered (`FlowField(named:)` also tries the lowercased name).
let flowFieldTable = ByteKeyTable<Int>(FlowField.byName.map { ($0.key, $0.value) })
let protocolShorthandTable = ByteKeyTable<ProtocolShorthand>(ProtocolShorthand.allCases.map { ($0.rawValue, $0) })
let ctStateFlagTable: [(String, UInt64)] = ConntrackState.bits.map { ($0.0, UInt64($0.1)) }
let tcpFlagTable: [(String, UInt64)] = PacketKey.tcpFlagBits.map { ($0.0, UInt64($0.1)) }

/// Action names the parser types, read from bytes.
enum FlowActionName: Sendable {
    case load, resubmit, output, ct, drop, reserved(ReservedPort), conjunction, setField, gotoTable, modVlanVid, stripVlan, move
    case modDataLinkSource, modDataLinkDestination, ctClear, learn, controller, modVlanPcp, pushVlan, setTunnel
    case modNetworkSource, modNetworkDestination, modTransportSource, modTransportDestination, modNetworkTOS, decTTL, note
    case setQueue, popQueue, writeMetadata, clone, exit
}
let flowActionNameTable = ByteKeyTable<FlowActionName>([
    ("load", .load), ("resubmit", .resubmit), ("output", .output), ("ct", .ct), ("drop", .drop),
    ("NORMAL", .reserved(.normal)), ("FLOOD", .reserved(.flood)), ("ALL", .reserved(.all)), ("LOCAL", .reserved(.local)), ("IN_PORT", .reserved(.inPort)),
    ("normal", .reserved(.normal)), ("flood", .reserved(.flood)), ("all", .reserved(.all)), ("local", .reserved(.local)), ("in_port", .reserved(.inPort)),
    ("conjunction", .conjunction), ("set_field", .setField), ("goto_table", .gotoTable), ("mod_vlan_vid", .modVlanVid), ("set_vlan_vid", .modVlanVid),
    ("strip_vlan", .stripVlan), ("pop_vlan", .stripVlan), ("move", .move), ("mod_dl_src", .modDataLinkSource), ("mod_dl_dst", .modDataLinkDestination),
    ("ct_clear", .ctClear), ("learn", .learn), ("CONTROLLER", .controller), ("controller", .controller), ("mod_vlan_pcp", .modVlanPcp),
    ("set_vlan_pcp", .modVlanPcp), ("push_vlan", .pushVlan), ("set_tunnel", .setTunnel), ("set_tunnel64", .setTunnel),
    ("mod_nw_src", .modNetworkSource), ("mod_nw_dst", .modNetworkDestination), ("mod_tp_src", .modTransportSource), ("mod_tp_dst", .modTransportDestination),
    ("mod_nw_tos", .modNetworkTOS), ("dec_ttl", .decTTL), ("note", .note), ("set_queue", .setQueue), ("pop_queue", .popQueue),
    ("write_metadata", .writeMetadata), ("clone", .clone), ("exit", .exit),
])

extension OpenFlowRule {
    /// Parses one flow line. Throws `FlowParseError` naming the column for malformed structure
    /// (unbalanced quotes or parentheses, no `actions=`) and for bad values of modelled fields.
    public init(parsing raw: String, line: Int = 1) throws {
        var text = raw
        self = try text.withUTF8 { bytes in
            var p = FlowTextParser(bytes: bytes, start: 0, end: bytes.count, line: line)
            return try p.parseRule(raw: raw)
        }
    }
}

/// Byte-level scanner over one flow line. Works on UTF-8 bytes so that a 50,000-flow dump parses
/// in tens of milliseconds; strings are made only for the text each item keeps.
struct FlowTextParser {
    /// The text (possibly a whole dump); this parser reads `start..<end`, one line. Borrowed for
    /// the duration of the parse.
    let bytes: UnsafeBufferPointer<UInt8>
    let start: Int
    let end: Int
    let line: Int
    /// Shares Strings between the lines of one dump; nil for a single line.
    unowned(unsafe) var interner: TextInterner? = nil

    func fail(_ at: Int, _ message: String) -> FlowParseError {
        FlowParseError(line: line, column: at - start + 1, message: message)
    }
    /// The text of `r`. Decoded from a buffer pointer: the ArraySlice overload takes Swift's slow
    /// generic path, which made string creation dominate parsing.
    func string(_ r: Range<Int>) -> String {
        if let interner { return interner.text(r) }
        return uninterned(r)
    }
    func uninterned(_ r: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    func isASCII(_ r: Range<Int>) -> Bool {
        for i in r where bytes[i] >= 0x80 { return false }
        return true
    }
    func contains(_ r: Range<Int>, _ c: UInt8) -> Bool {
        for i in r where bytes[i] == c { return true }
        return false
    }
    func equals(_ r: Range<Int>, _ word: StaticString) -> Bool {
        guard r.count == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start
        for k in 0..<r.count where bytes[r.lowerBound + k] != w[k] { return false }
        return true
    }
    /// Plain decimal digits (no sign, at most 18 of them) as a number; nil for anything else, which
    /// callers then read with the standard library's parsers so that every spelling keeps its meaning.
    func digits(_ r: Range<Int>) -> Int? {
        guard !r.isEmpty, r.count <= 18 else { return nil }
        var v = 0
        for i in r {
            let c = bytes[i] &- 0x30
            guard c <= 9 else { return nil }
            v = v * 10 + Int(c)
        }
        return v
    }
    /// `Int(text)` for the text of `r`.
    func int(_ r: Range<Int>) -> Int? { digits(r) ?? Int(string(r)) }

    /// `FlowField(named:)` for the text of `r`, without making a String for ASCII names.
    func field(named r: Range<Int>) -> FlowField? {
        if let i = flowFieldTable.lookup(bytes, r) { return FlowField(index: i) }
        guard isASCII(r) else { return FlowField(named: string(r)) }
        guard contains(where: r, { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }), r.count <= 64 else { return nil }
        // ASCII lowercasing is what String.lowercased() does to ASCII text.
        var lower = [UInt8](repeating: 0, count: r.count)
        for k in 0..<r.count {
            let c = bytes[r.lowerBound + k]
            lower[k] = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c
        }
        return lower.withUnsafeBufferPointer { flowFieldTable.lookup($0, 0..<$0.count) }.map { FlowField(index: $0) }
    }
    func contains(where r: Range<Int>, _ predicate: (UInt8) -> Bool) -> Bool {
        for i in r where predicate(bytes[i]) { return true }
        return false
    }

    /// Index just past the item that starts at `i` and ends at a top-level `terminator` (or at
    /// `end`), skipping quoted text and parenthesised groups.
    func itemEnd(from i: Int, to end: Int, terminators: (UInt8, UInt8?)) throws -> Int {
        var j = i
        var depth = 0
        while j < end {
            let c = bytes[j]
            if c == UInt8(ascii: "\"") {
                j += 1
                while j < end && bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") { j += 1 }
                    j += 1
                }
                guard j < end else { throw fail(i, "unterminated quoted name") }
            } else if c == UInt8(ascii: "(") {
                depth += 1
            } else if c == UInt8(ascii: ")") {
                depth -= 1
                guard depth >= 0 else { throw fail(j, "unbalanced ')'") }
            } else if depth == 0 && (c == terminators.0 || c == terminators.1) {
                return j
            }
            j += 1
        }
        guard depth == 0 else { throw fail(i, "unbalanced '(' in \(string(i..<end))") }
        return end
    }

    /// Splits `range` at top-level commas.
    func splitItems(_ range: Range<Int>) throws -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(8)
        var i = range.lowerBound
        if i == range.upperBound { return [] }
        while true {
            let e = try itemEnd(from: i, to: range.upperBound, terminators: (UInt8(ascii: ","), nil))
            out.append(i..<e)
            if e >= range.upperBound { break }
            i = e + 1
        }
        return out
    }

    func findActions() -> Int? {
        let needle: [UInt8] = [0x61, 0x63, 0x74, 0x69, 0x6F, 0x6E, 0x73, 0x3D]  // "actions="
        var i = start
        var inQuote = false
        while i + needle.count <= end {
            if bytes[i] == UInt8(ascii: "\"") { inQuote.toggle() }
            if !inQuote && bytes[i] == needle[0] && (i == start || bytes[i - 1] == UInt8(ascii: " ") || bytes[i - 1] == UInt8(ascii: ",")) {
                var k = 1
                while k < needle.count && bytes[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    mutating func parseRule(raw: String, actionsAt known: Int? = nil) throws -> OpenFlowRule {
        var i = start
        while i < end && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t")) { i += 1 }
        let indentation = string(start..<i)
        guard let actionsAt = known ?? findActions() else { throw fail(i, "no 'actions=' in flow") }

        // Header items: `key=value, ` and flag words followed by a space.
        var header: [OpenFlowRule.HeaderItem] = []
        header.reserveCapacity(8)
        var cookie: UInt64 = 0, table = 0, packets: UInt64?, bytesCount: UInt64?, idle: Int?, hard: Int?
        headerLoop: while i < actionsAt {
            let e = try itemEnd(from: i, to: actionsAt, terminators: (UInt8(ascii: ","), UInt8(ascii: " ")))
            let token = bytes[i..<e]
            let eq = token.firstIndex(of: UInt8(ascii: "="))
            let keyRange = i..<(eq ?? e)
            // Set<String> membership compares canonically equivalent text; the tables compare bytes.
            // Every key is ASCII without letters that have canonical equivalents, so both agree.
            if let eq, let key = flowHeaderKeyTable.lookup(bytes, keyRange), e < actionsAt, bytes[e] == UInt8(ascii: ","),
               e + 1 < actionsAt, bytes[e + 1] == UInt8(ascii: " ") {
                var s = e + 1
                while s < actionsAt && bytes[s] == UInt8(ascii: " ") { s += 1 }
                let valueRange = (eq + 1)..<e
                switch key {
                case .cookie:
                    guard let v = number(valueRange), v.high == 0 else { throw fail(eq + 1, "cookie must be a 64-bit number") }
                    cookie = v.low
                case .table:
                    guard let t = int(valueRange), (0...255).contains(t) else { throw fail(eq + 1, "table must be 0-255") }
                    table = t
                case .packets: packets = number(valueRange)?.low
                case .bytes: bytesCount = number(valueRange)?.low
                case .idleTimeout: idle = int(valueRange)
                case .hardTimeout: hard = int(valueRange)
                case .other: break
                }
                header.append(.init(text: string(i..<e), separator: string(e..<s)))
                i = s
                continue headerLoop
            }
            if eq == nil, flowHeaderFlagTable.lookup(bytes, keyRange) != nil, e < actionsAt, bytes[e] == UInt8(ascii: " ") {
                header.append(.init(text: string(keyRange), separator: " "))
                i = e + 1
                continue headerLoop
            }
            break
        }

        // The match runs up to the separator before `actions=`.
        var matchEnd = actionsAt
        var separator = ""
        if matchEnd > i, bytes[matchEnd - 1] == UInt8(ascii: " ") || bytes[matchEnd - 1] == UInt8(ascii: ",") {
            matchEnd -= 1
            separator = string(matchEnd..<actionsAt)
        }
        var priority = OpenFlowRule.defaultPriority
        var match: [MatchItem] = []
        let matchRanges = try splitItems(i..<matchEnd)
        match.reserveCapacity(matchRanges.count)
        for r in matchRanges {
            let item = try parseMatchItem(r)
            if case .priority(let p) = item.kind { priority = p }
            if case .table(let t) = item.kind { table = t }
            match.append(item)
        }
        let actionsStart = actionsAt + 8
        let actions = try parseActions(actionsStart..<end)
        return OpenFlowRule(raw: raw, line: line, cookie: cookie, table: table, priority: priority, packets: packets,
                            bytes: bytesCount, idleTimeout: idle, hardTimeout: hard, header: header, match: match,
                            actions: actions, indentation: indentation, actionsSeparator: separator)
    }

    // MARK: Match

    func parseMatchItem(_ r: Range<Int>) throws -> MatchItem {
        let text = string(r)
        guard let eq = bytes[r].firstIndex(of: UInt8(ascii: "=")) else {
            // Shorthand names are lowercase ASCII: comparing bytes agrees with String's comparison.
            if let s = protocolShorthandTable.lookup(bytes, r) { return MatchItem(kind: .shorthand(s), text: text) }
            return MatchItem(kind: .unknown, text: text)
        }
        let nameRange = r.lowerBound..<eq
        let valueRange = (eq + 1)..<r.upperBound
        if equals(nameRange, "table") {
            guard let t = int(valueRange), (0...255).contains(t) else { throw fail(eq + 1, "table must be 0-255") }
            return MatchItem(kind: .table(t), text: text)
        }
        if equals(nameRange, "priority") {
            guard let p = int(valueRange), (0...65535).contains(p) else { throw fail(eq + 1, "priority must be 0-65535") }
            return MatchItem(kind: .priority(p), text: text)
        }
        guard let field = field(named: nameRange) else { return MatchItem(kind: .unknown, text: text) }
        let v: ParsedValue
        do {
            v = try parseFieldValue(field, valueRange)
        } catch let e as FlowParseError {
            throw fail(r.lowerBound, e.message)  // point at the field, not its value
        }
        return MatchItem(kind: .field(field), text: text, value: v.value, mask: v.mask, portName: v.portName)
    }

    struct ParsedValue { var value: Bits128; var mask: Bits128?; var portName: String? }

    /// Parses `VALUE[/MASK]` for `field` in the field's own notation.
    func parseFieldValue(_ field: FlowField, _ r: Range<Int>) throws -> ParsedValue {
        let format = FlowField.formats[field.index], width = FlowField.widths[field.index]
        func bad(_ what: String) -> FlowParseError { fail(r.lowerBound, "\(field.name)=\(string(r)): expected \(what)") }
        var slash: Int?
        for i in r where bytes[i] == UInt8(ascii: "/") { slash = i; break }
        let valueRange = r.lowerBound..<(slash ?? r.upperBound)
        let maskRange = slash.map { ($0 + 1)..<r.upperBound }
        var text: String { string(r) }
        var valuePart: Substring { Substring(string(valueRange)) }
        var maskPart: Substring? { maskRange.map { Substring(string($0)) } }
        switch format {
        case .number:
            guard let v = number(valueRange), v.bitLength <= max(width, 16) else { throw bad("a number of \(width) bits") }
            var mask: Bits128?
            if let maskRange {
                guard let m = number(maskRange) else { throw bad("a numeric mask") }
                mask = m
            }
            return ParsedValue(value: v, mask: mask)
        case .mac:
            guard let m = mac(valueRange) else { throw bad("a MAC address like fa:16:3e:00:00:01") }
            var mask: Bits128?
            if let maskRange {
                guard let mm = mac(maskRange) else { throw bad("a MAC mask like 01:00:00:00:00:00") }
                mask = Bits128(low: mm)
            }
            return ParsedValue(value: Bits128(low: m), mask: mask)
        case .ipv4:
            guard let a = ipv4(valueRange) else { throw bad("an IPv4 address") }
            var mask: Bits128?
            if let maskRange {
                if let n = number(maskRange), n.high == 0, n.low <= 32, !bytes[maskRange].contains(UInt8(ascii: ".")) {
                    mask = Bits128(low: n.low == 0 ? 0 : UInt64(UInt32.max << UInt32(32 - n.low)))
                } else if let m = ipv4(maskRange) {
                    mask = Bits128(low: UInt64(m))
                } else { throw bad("a prefix length or dotted mask") }
            }
            return ParsedValue(value: Bits128(low: UInt64(a)), mask: mask)
        case .ipv6:
            guard let a = IPv6Address(valuePart) else { throw bad("an IPv6 address") }
            var mask: Bits128?
            if let maskPart {
                if let n = Int(maskPart), (0...128).contains(n) {
                    mask = ~(Bits128.ones(128 - n)) & Bits128.ones(128)
                    if n == 0 { mask = .zero }
                } else if let m = IPv6Address(maskPart) {
                    mask = Bits128(high: m.high, low: m.low)
                } else { throw bad("a prefix length or IPv6 mask") }
            }
            return ParsedValue(value: Bits128(high: a.high, low: a.low), mask: mask)
        case .port:
            let port = try parsePortReference(r)
            switch port {
            case .number(let n): return ParsedValue(value: Bits128(low: UInt64(n)))
            case .reserved(let rp): return ParsedValue(value: Bits128(low: UInt64(rp.number)))
            case .name(let n): return ParsedValue(value: .zero, portName: n)
            }
        case .ctState, .tcpFlags:
            // A number (`0x21/0x21`) or flags (`+trk-est`, `+syn-ack`).
            if let v = number(valueRange) {
                guard let maskRange else { return ParsedValue(value: v, mask: nil) }
                guard let m = number(maskRange) else { throw bad("a numeric mask") }
                return ParsedValue(value: v, mask: m)
            }
            let flags = format == .ctState ? ctStateFlagTable : tcpFlagTable
            var value: UInt64 = 0, mask: UInt64 = 0
            if isASCII(valueRange) {
                try parseFlags(valueRange, table: flags, value: &value, mask: &mask, bad: bad)
            } else {
                try parseFlags(valuePart, table: flags, value: &value, mask: &mask, bad: bad)
            }
            return ParsedValue(value: Bits128(low: value), mask: Bits128(low: mask))
        case .fragment:
            // nw_frag bits: 1 = is a fragment, 2 = a later fragment.
            switch text {
            case "no": return ParsedValue(value: Bits128(low: 0), mask: Bits128(low: 1))
            case "yes": return ParsedValue(value: Bits128(low: 1), mask: Bits128(low: 1))
            case "first": return ParsedValue(value: Bits128(low: 1), mask: Bits128(low: 3))
            case "later": return ParsedValue(value: Bits128(low: 3), mask: Bits128(low: 3))
            case "not_later": return ParsedValue(value: Bits128(low: 0), mask: Bits128(low: 2))
            default:
                guard let v = Bits128(parsing: valuePart) else { throw bad("no, yes, first, later or not_later") }
                return ParsedValue(value: v, mask: maskPart.flatMap { Bits128(parsing: $0) })
            }
        }
    }

    /// Decimal or `0x` hexadecimal, up to 128 bits, read straight from the bytes.
    func number(_ r: Range<Int>) -> Bits128? {
        guard !r.isEmpty else { return nil }
        if r.count > 2, bytes[r.lowerBound] == UInt8(ascii: "0"), bytes[r.lowerBound + 1] | 0x20 == UInt8(ascii: "x") {
            guard r.count - 2 <= 32 else { return nil }
            var h: UInt64 = 0, l: UInt64 = 0
            for i in (r.lowerBound + 2)..<r.upperBound {
                guard let d = hexDigit(bytes[i]) else { return nil }
                h = h << 4 | l >> 60
                l = l << 4 | UInt64(d)
            }
            return Bits128(high: h, low: l)
        }
        var v: UInt64 = 0
        for i in r {
            let c = bytes[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1 && !o2 else { return nil }
            v = a
        }
        return Bits128(low: v)
    }

    /// `aa:bb:cc:dd:ee:ff` as 48 bits.
    func mac(_ r: Range<Int>) -> UInt64? {
        var v: UInt64 = 0
        var octet: UInt64 = 0
        var groups = 0, digits = 0
        for i in r {
            let c = bytes[i]
            if c == UInt8(ascii: ":") {
                guard digits > 0, groups < 5 else { return nil }
                v = v << 8 | octet
                octet = 0; digits = 0; groups += 1
                continue
            }
            guard let d = hexDigit(c), digits < 2 else { return nil }
            octet = octet << 4 | UInt64(d)
            digits += 1
        }
        guard groups == 5, digits > 0 else { return nil }
        return v << 8 | octet
    }

    /// Dotted-quad IPv4.
    func ipv4(_ r: Range<Int>) -> UInt32? {
        var v: UInt32 = 0, current: UInt32 = 0, dots = 0, digits = 0
        for i in r {
            let c = bytes[i]
            if c == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                v = v << 8 | current
                current = 0; digits = 0; dots += 1
            } else if c >= 0x30 && c <= 0x39 {
                current = current * 10 + UInt32(c - 0x30)
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else { return nil }
        }
        guard dots == 3, digits > 0 else { return nil }
        return v << 8 | current
    }

    /// `+trk-est` (also `trk|est` as ofproto/trace prints it): `+` or no sign sets the bit, `-`
    /// requires it clear; either way the bit is part of the mask.
    /// `parseFlags` over ASCII bytes, where bytes and Characters are the same thing.
    func parseFlags(_ r: Range<Int>, table: [(String, UInt64)], value: inout UInt64, mask: inout UInt64,
                    bad: (String) -> FlowParseError) throws {
        var tokenStart = r.lowerBound
        var sign = UInt8(ascii: "+")
        func flush(_ tokenEnd: Int) throws {
            guard tokenEnd > tokenStart else { return }
            let token = UnsafeBufferPointer(rebasing: bytes[tokenStart..<tokenEnd])
            guard let bit = table.first(where: { $0.0.utf8.elementsEqual(token) })?.1 else {
                throw bad("flags from \(table.map(\.0).joined(separator: ", "))")
            }
            mask |= bit
            if sign == UInt8(ascii: "+") { value |= bit }
        }
        for i in r {
            let c = bytes[i]
            if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: "|") {
                try flush(i)
                sign = c == UInt8(ascii: "-") ? c : UInt8(ascii: "+")
                tokenStart = i + 1
            }
        }
        try flush(r.upperBound)
    }

    func parseFlags(_ s: Substring, table: [(String, UInt64)], value: inout UInt64, mask: inout UInt64,
                    bad: (String) -> FlowParseError) throws {
        var token = ""
        var sign: Character = "+"
        func flush() throws {
            guard !token.isEmpty else { return }
            guard let bit = table.first(where: { $0.0 == token })?.1 else {
                throw bad("flags from \(table.map(\.0).joined(separator: ", "))")
            }
            mask |= bit
            if sign == "+" { value |= bit }
            token = ""
        }
        for ch in s {
            if ch == "+" || ch == "-" || ch == "|" {
                try flush()
                sign = ch == "-" ? "-" : "+"
            } else {
                token.append(ch)
            }
        }
        try flush()
    }

    func parsePortReference(_ r: Range<Int>) throws -> PortReference {
        guard !r.isEmpty else { throw fail(r.lowerBound, "expected a port number or name") }
        if bytes[r.lowerBound] == UInt8(ascii: "\"") {
            guard r.count >= 2, bytes[r.upperBound - 1] == UInt8(ascii: "\"") else { throw fail(r.lowerBound, "unterminated quoted port name") }
            return .name(string((r.lowerBound + 1)..<(r.upperBound - 1)))
        }
        if let n = digits(r) { return n <= Int(UInt32.max) ? .number(UInt32(n)) : .name(string(r)) }
        let text = string(r)
        if let n = UInt32(text) { return .number(n) }
        if text.hasPrefix("0x"), let n = UInt32(text.dropFirst(2), radix: 16) { return .number(n) }
        if let rp = ReservedPort(rawValue: text) { return .reserved(rp) }
        return .name(text)
    }

    // MARK: Field references

    /// Parses `NAME[]`, `NAME[a..b]`, `NAME[n]` or a bare field name (the whole field).
    func parseFieldReference(_ r: Range<Int>) -> FieldReference? {
        var open: Int?
        for i in r where bytes[i] == UInt8(ascii: "[") { open = i; break }
        guard let open else { return field(named: r).map { FieldReference(field: $0) } }
        guard bytes[r.upperBound - 1] == UInt8(ascii: "]"), let field = field(named: r.lowerBound..<open) else { return nil }
        let inner = (open + 1)..<(r.upperBound - 1)
        if inner.isEmpty { return FieldReference(field: field) }
        var dots: Int?
        for i in inner where bytes[i] == UInt8(ascii: ".") { dots = i; break }
        if let dots {
            guard dots + 1 < inner.upperBound, bytes[dots + 1] == UInt8(ascii: "."),
                  let a = number(inner.lowerBound..<dots), let b = number((dots + 2)..<inner.upperBound),
                  a.high == 0, b.high == 0, a.low <= b.low, b.low < UInt64(field.width) else { return nil }
            return FieldReference(field: field, start: Int(a.low), end: Int(b.low))
        }
        guard let n = number(inner), n.high == 0, n.low < UInt64(field.width) else { return nil }
        return FieldReference(field: field, start: Int(n.low), end: Int(n.low))
    }

    // MARK: Actions

    func parseActions(_ r: Range<Int>) throws -> [FlowAction] {
        try splitItems(r).map { try parseAction($0) }
    }

    /// Splits `name(args)`, `name:arg` or a bare word.
    func actionParts(_ r: Range<Int>) -> (name: Range<Int>, argument: Range<Int>?, parenthesised: Bool) {
        var i = r.lowerBound
        while i < r.upperBound {
            let c = bytes[i]
            if c == UInt8(ascii: "(") {
                let close = bytes[r].lastIndex(of: UInt8(ascii: ")")) ?? r.upperBound
                return (r.lowerBound..<i, (i + 1)..<max(i + 1, close), true)
            }
            if c == UInt8(ascii: ":") { return (r.lowerBound..<i, (i + 1)..<r.upperBound, false) }
            i += 1
        }
        return (r, nil, false)
    }

    func parseAction(_ r: Range<Int>) throws -> FlowAction {
        let text = string(r)
        let (nameRange, arg, paren) = actionParts(r)
        var name: String { string(nameRange) }
        func make(_ k: FlowActionKind) -> FlowAction { FlowAction(k, text: text) }
        func opaque(_ why: String) -> FlowAction { FlowAction(.opaque(reason: why), text: text) }
        func argText() -> String { arg.map { string($0) } ?? "" }
        func number(_ s: String) -> UInt64? { Bits128(parsing: Substring(s)).flatMap { $0.high == 0 ? $0.low : nil } }

        // Action names are ASCII without letters that have canonical equivalents, so looking their
        // bytes up agrees with comparing Strings.
        guard let actionName = flowActionNameTable.lookup(bytes, nameRange) else {
            if arg == nil, let n = digits(nameRange), n <= Int(UInt32.max) { return make(.output(.number(UInt32(n)))) }
            if arg == nil, let n = UInt32(name) { return make(.output(.number(n))) }
            return opaque("action \(name) is not modelled")
        }
        switch actionName {
        case .load:
            guard let arg, let arrow = findArrow(arg) else { return opaque("load without '->'") }
            guard let dst = parseFieldReference((arrow + 2)..<arg.upperBound) else { return opaque("load into a field Hopscope does not model") }
            guard let v = self.number(arg.lowerBound..<arrow) else { return opaque("load of a non-numeric value") }
            return make(.load(value: v, destination: dst))
        case .resubmit:
            guard let arg else { return opaque("resubmit without arguments") }
            if !paren { return make(.resubmit(port: try parsePortReference(arg), table: nil, ct: false)) }
            if isASCII(arg) { return try parseResubmitArguments(arg, r, make: make, opaque: opaque) }
            let items = string(arg).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(items.count) else { return opaque("resubmit takes (port,table[,ct])") }
            var port: PortReference?
            if !items[0].isEmpty {
                let start = arg.lowerBound
                port = try parsePortReference(start..<(start + items[0].utf8.count))
            }
            var table: Int?
            if items.count >= 2, !items[1].isEmpty {
                guard let t = Int(items[1]), (0...255).contains(t) else { throw fail(r.lowerBound, "resubmit table must be 0-255") }
                table = t
            }
            let ct = items.count == 3 && items[2] == "ct"
            if items.count == 3 && !ct { return opaque("resubmit option \(items[2]) is not modelled") }
            return make(.resubmit(port: port, table: table, ct: ct))
        case .output:
            guard let arg else { return opaque("output without a port") }
            // The bracket test first: it is cheap, and most outputs are plain port numbers.
            let bracket = isASCII(arg) ? contains(arg, UInt8(ascii: "[")) : string(arg).contains("[")
            if bracket, let ref = parseFieldReference(arg) { return make(.outputField(ref)) }
            if paren { return opaque("output(...) options are not modelled") }
            return make(.output(try parsePortReference(arg)))
        case .ct: return make(.conntrack(try parseConntrack(arg)))
        case .drop: return make(.drop)
        case .reserved(let port):
            return make(.output(.reserved(port)))
        case .conjunction:
            if let arg, let c = plainConjunction(arg) {
                guard (1...64).contains(c.n), (1...c.n).contains(c.k) else {
                    throw fail(r.lowerBound, "conjunction clause must be K/N with 1 <= K <= N <= 64")
                }
                return make(.conjunction(id: c.id, clause: c.k, clauses: c.n))
            }
            let a = argText()
            let pieces = a.split(separator: ",")
            guard pieces.count == 2, let id = UInt32(pieces[0]) else { throw fail(r.lowerBound, "conjunction(ID,K/N) expected") }
            let kn = pieces[1].split(separator: "/")
            guard kn.count == 2, let k = Int(kn[0]), let n = Int(kn[1]), (1...64).contains(n), (1...n).contains(k) else {
                throw fail(r.lowerBound, "conjunction clause must be K/N with 1 <= K <= N <= 64")
            }
            return make(.conjunction(id: id, clause: k, clauses: n))
        case .setField:
            guard let arg, let arrow = findArrow(arg) else { return opaque("set_field without '->'") }
            let fieldRange = (arrow + 2)..<arg.upperBound
            guard let field = FlowField(named: string(fieldRange)) else { return opaque("set_field to \(string(fieldRange)) is not modelled") }
            let v = try parseFieldValue(field, arg.lowerBound..<arrow)
            if v.portName != nil { return opaque("set_field of a port name is not modelled") }
            return make(.setField(field: field, value: v.value, mask: v.mask))
        case .gotoTable:
            guard let t = Int(argText()), (0...255).contains(t) else { throw fail(r.lowerBound, "goto_table needs a table 0-255") }
            return make(.gotoTable(t))
        case .modVlanVid:
            guard let v = number(argText()), v < 4096 else { throw fail(r.lowerBound, "\(name) needs a VLAN ID 0-4095") }
            return make(.modVlanVid(UInt16(v)))
        case .stripVlan: return make(.stripVlan)
        case .move:
            guard let arg, let arrow = findArrow(arg) else { return opaque("move without '->'") }
            guard let src = parseFieldReference(arg.lowerBound..<arrow), let dst = parseFieldReference((arrow + 2)..<arg.upperBound) else {
                return opaque("move between fields Hopscope does not model")
            }
            guard src.width == dst.width else { throw fail(r.lowerBound, "move source and destination widths differ") }
            return make(.move(source: src, destination: dst))
        case .modDataLinkSource, .modDataLinkDestination:
            guard let m = MACAddress(argText()) else { throw fail(r.lowerBound, "\(name) needs a MAC address") }
            if case .modDataLinkSource = actionName { return make(.modDataLinkSource(m)) }
            return make(.modDataLinkDestination(m))
        case .ctClear: return make(.conntrackClear)
        case .learn: return make(.learn(try parseLearn(arg)))
        case .controller: return make(.controller)
        case .modVlanPcp:
            guard let v = number(argText()), v < 8 else { throw fail(r.lowerBound, "\(name) needs a priority 0-7") }
            return make(.modVlanPcp(UInt8(v)))
        case .pushVlan:
            guard let v = number(argText()), v <= 0xffff else { throw fail(r.lowerBound, "push_vlan needs an Ethertype") }
            return make(.pushVlan(UInt16(v)))
        case .setTunnel:
            guard let v = number(argText()) else { throw fail(r.lowerBound, "\(name) needs a tunnel ID") }
            return make(.setTunnel(v))
        case .modNetworkSource, .modNetworkDestination:
            guard let a = IPv4Address(argText()) else { throw fail(r.lowerBound, "\(name) needs an IPv4 address") }
            if case .modNetworkSource = actionName { return make(.modNetworkSource(a)) }
            return make(.modNetworkDestination(a))
        case .modTransportSource, .modTransportDestination:
            guard let v = number(argText()), v <= 0xffff else { throw fail(r.lowerBound, "\(name) needs a port number") }
            if case .modTransportSource = actionName { return make(.modTransportSource(UInt16(v))) }
            return make(.modTransportDestination(UInt16(v)))
        case .modNetworkTOS:
            guard let v = number(argText()), v <= 0xff else { throw fail(r.lowerBound, "mod_nw_tos needs a value 0-255") }
            return make(.modNetworkTOS(UInt8(v)))
        case .decTTL: return paren ? opaque("dec_ttl(ids) is not modelled") : make(.decrementTTL)
        case .note: return make(.note)
        case .setQueue: return make(.setQueue)
        case .popQueue: return make(.popQueue)
        case .writeMetadata:
            let parts = argText().split(separator: "/", maxSplits: 1)
            guard let v = parts.first.flatMap({ number(String($0)) }) else { throw fail(r.lowerBound, "write_metadata needs a value") }
            let m = parts.count == 2 ? number(String(parts[1])) : UInt64.max
            guard let m else { throw fail(r.lowerBound, "write_metadata mask must be a number") }
            return make(.writeMetadata(value: v, mask: m))
        case .clone:
            guard let arg else { return make(.clone([])) }
            return make(.clone(try parseActions(arg)))
        case .exit: return make(.exit)
        }
    }

    /// `resubmit(PORT,TABLE[,ct])` arguments read from ASCII bytes: the same checks, in the same
    /// order, as splitting the argument text at every comma.
    func parseResubmitArguments(_ arg: Range<Int>, _ r: Range<Int>, make: (FlowActionKind) -> FlowAction,
                                opaque: (String) -> FlowAction) throws -> FlowAction {
        var items: [Range<Int>] = []
        var itemStart = arg.lowerBound
        for i in arg where bytes[i] == UInt8(ascii: ",") {
            items.append(itemStart..<i)
            itemStart = i + 1
            if items.count > 3 { break }
        }
        if items.count <= 3 { items.append(itemStart..<arg.upperBound) }
        guard (1...3).contains(items.count) else { return opaque("resubmit takes (port,table[,ct])") }
        var port: PortReference?
        if !items[0].isEmpty { port = try parsePortReference(items[0]) }
        var table: Int?
        if items.count >= 2, !items[1].isEmpty {
            guard let t = int(items[1]), (0...255).contains(t) else { throw fail(r.lowerBound, "resubmit table must be 0-255") }
            table = t
        }
        let ct = items.count == 3 && equals(items[2], "ct")
        if items.count == 3 && !ct { return opaque("resubmit option \(string(items[2])) is not modelled") }
        return make(.resubmit(port: port, table: table, ct: ct))
    }

    /// `ID,K/N` written with plain digits only (what OVS prints); nil for any other spelling,
    /// which the text path reads.
    func plainConjunction(_ arg: Range<Int>) -> (id: UInt32, k: Int, n: Int)? {
        var comma: Int?, slash: Int?
        for i in arg {
            if bytes[i] == UInt8(ascii: ",") { guard comma == nil else { return nil }; comma = i }
            if bytes[i] == UInt8(ascii: "/") { guard slash == nil, comma != nil else { return nil }; slash = i }
        }
        guard let comma, let slash, let id = digits(arg.lowerBound..<comma), id <= Int(UInt32.max),
              let k = digits((comma + 1)..<slash), let n = digits((slash + 1)..<arg.upperBound) else { return nil }
        return (UInt32(id), k, n)
    }

    /// Index of the top-level `->` in `r`.
    func findArrow(_ r: Range<Int>) -> Int? {
        var i = r.lowerBound
        var depth = 0
        while i + 1 < r.upperBound {
            if bytes[i] == UInt8(ascii: "(") { depth += 1 }
            if bytes[i] == UInt8(ascii: ")") { depth -= 1 }
            if depth == 0 && bytes[i] == UInt8(ascii: "-") && bytes[i + 1] == UInt8(ascii: ">") { return i }
            i += 1
        }
        return nil
    }

    func parseConntrack(_ arg: Range<Int>?) throws -> ConntrackAction {
        var ct = ConntrackAction()
        guard let arg else { return ct }
        for item in try splitItems(arg) {
            let (nameRange, value, _) = actionParts(item)
            let name = string(nameRange)
            let text = string(item)
            var keyAndValue: (String, String)?
            if isASCII(item) {
                if let eq = bytes[item].firstIndex(of: UInt8(ascii: "=")), !text.hasPrefix("exec(") && !text.hasPrefix("nat(") {
                    keyAndValue = (string(item.lowerBound..<eq), string((eq + 1)..<item.upperBound))
                }
            } else if let eq = text.firstIndex(of: "="), !text.hasPrefix("exec(") && !text.hasPrefix("nat(") {
                keyAndValue = (String(text[..<eq]), String(text[text.index(after: eq)...]))
            }
            if let (key, val) = keyAndValue {
                switch key {
                case "table":
                    guard let t = Int(val), (0...255).contains(t) else { throw fail(item.lowerBound, "ct table must be 0-255") }
                    ct.table = t
                case "zone":
                    if let z = UInt16(val) {
                        ct.zone = .value(z)
                    } else if val.hasPrefix("0x"), let z = UInt16(val.dropFirst(2), radix: 16) {
                        ct.zone = .value(z)
                    } else if let ref = parseFieldReference((item.lowerBound + 5)..<item.upperBound) {
                        ct.zone = .field(ref)
                    } else {
                        ct.unmodelled = "ct zone \(val) is not modelled"
                    }
                case "alg": ct.alg = val
                default: ct.unmodelled = "ct argument \(text) is not modelled"
                }
                continue
            }
            switch name {
            case "commit": ct.commit = true
            case "force": ct.force = true
            case "exec": ct.execute = value.map { try? parseActions($0) }.flatMap { $0 } ?? []
            case "nat":
                ct.nat = text
                ct.unmodelled = "ct(nat) address translation is not modelled"
            default: ct.unmodelled = "ct argument \(text) is not modelled"
            }
        }
        return ct
    }

    func parseLearn(_ arg: Range<Int>?) throws -> LearnAction {
        var l = LearnAction()
        guard let arg else { return l }
        for item in try splitItems(arg) {
            let text = string(item)
            if text.hasPrefix("load:") || text.hasPrefix("output:") {
                let isLoad = text.hasPrefix("load:")
                let start = item.lowerBound + (isLoad ? 5 : 7)
                if isLoad {
                    guard let arrow = findArrow(start..<item.upperBound),
                          let dst = parseFieldReference((arrow + 2)..<item.upperBound) else {
                        l.unmodelled = "learn spec \(text) is not modelled"
                        continue
                    }
                    if let src = parseFieldReference(start..<arrow), string(start..<arrow).contains("[") {
                        l.specs.append(.loadField(source: src, destination: dst))
                    } else if let v = Bits128(parsing: Substring(string(start..<arrow))) {
                        l.specs.append(.loadValue(value: v, destination: dst))
                    } else {
                        l.unmodelled = "learn spec \(text) is not modelled"
                    }
                } else if let src = parseFieldReference(start..<item.upperBound) {
                    l.specs.append(.output(src))
                } else {
                    l.unmodelled = "learn spec \(text) is not modelled"
                }
                continue
            }
            if let eq = bytes[item].firstIndex(of: UInt8(ascii: "=")) {
                let key = string(item.lowerBound..<eq)
                let val = string((eq + 1)..<item.upperBound)
                switch key {
                case "table": l.table = Int(val) ?? l.table
                case "priority": l.priority = Int(val) ?? l.priority
                case "idle_timeout": l.idleTimeout = Int(val)
                case "hard_timeout": l.hardTimeout = Int(val)
                case "cookie": l.cookie = Bits128(parsing: Substring(val))?.low ?? 0
                case "fin_idle_timeout", "fin_hard_timeout", "limit", "result_dst": break
                default:
                    guard let dst = parseFieldReference(item.lowerBound..<eq) else {
                        l.unmodelled = "learn spec \(text) is not modelled"
                        continue
                    }
                    if val.contains("["), let src = parseFieldReference((eq + 1)..<item.upperBound) {
                        l.specs.append(.matchField(destination: dst, source: src))
                    } else if let v = try? parseFieldValue(dst.field, (eq + 1)..<item.upperBound), v.portName == nil {
                        l.specs.append(.matchValue(destination: dst, value: v.value))
                    } else {
                        l.unmodelled = "learn spec \(text) is not modelled"
                    }
                }
                continue
            }
            if ["send_flow_rem", "delete_learned"].contains(text) { continue }
            if let ref = parseFieldReference(item) {
                l.specs.append(.matchSame(ref))
            } else {
                l.unmodelled = "learn spec \(text) is not modelled"
            }
        }
        return l
    }
}
