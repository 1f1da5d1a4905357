// The flow-dump parser as it was before the speed work (commit aaa6abb), kept verbatim apart from
// its names, so tests can prove that the faster parser gives exactly the same FlowDump (flows,
// values, texts, errors) on every real dump.
@testable import OpenVSwitch
import HopscopeModel

/// Byte-level scanner over one flow line. Works on UTF-8 bytes so that a 50,000-flow dump parses
/// in tens of milliseconds; strings are made only for the text each item keeps.
struct ReferenceFlowTextParser {
    /// The text (possibly a whole dump); this parser reads `start..<end`, one line.
    let bytes: [UInt8]
    let start: Int
    let end: Int
    let line: Int

    func fail(_ at: Int, _ message: String) -> FlowParseError {
        FlowParseError(line: line, column: at - start + 1, message: message)
    }
    /// The text of `r`. Decoded from a buffer pointer: the ArraySlice overload takes Swift's slow
    /// generic path, which made string creation dominate parsing.
    func string(_ r: Range<Int>) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self) }
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
        var cookie: UInt64 = 0, table = 0, packets: UInt64?, bytesCount: UInt64?, idle: Int?, hard: Int?
        headerLoop: while i < actionsAt {
            let e = try itemEnd(from: i, to: actionsAt, terminators: (UInt8(ascii: ","), UInt8(ascii: " ")))
            let token = bytes[i..<e]
            let eq = token.firstIndex(of: UInt8(ascii: "="))
            let key = string(i..<(eq ?? e))
            if let eq, flowHeaderKeys.contains(key), e < actionsAt, bytes[e] == UInt8(ascii: ","),
               e + 1 < actionsAt, bytes[e + 1] == UInt8(ascii: " ") {
                var s = e + 1
                while s < actionsAt && bytes[s] == UInt8(ascii: " ") { s += 1 }
                var valueText: String { string((eq + 1)..<e) }
                switch key {
                case "cookie":
                    guard let v = number((eq + 1)..<e), v.high == 0 else { throw fail(eq + 1, "cookie must be a 64-bit number") }
                    cookie = v.low
                case "table", "table_id":
                    guard let t = Int(valueText), (0...255).contains(t) else { throw fail(eq + 1, "table must be 0-255") }
                    table = t
                case "n_packets": packets = number((eq + 1)..<e)?.low
                case "n_bytes": bytesCount = number((eq + 1)..<e)?.low
                case "idle_timeout": idle = Int(valueText)
                case "hard_timeout": hard = Int(valueText)
                default: break
                }
                header.append(.init(text: string(i..<e), separator: string(e..<s)))
                i = s
                continue headerLoop
            }
            if eq == nil, flowHeaderFlags.contains(key), e < actionsAt, bytes[e] == UInt8(ascii: " ") {
                header.append(.init(text: key, separator: " "))
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
        for r in try splitItems(i..<matchEnd) {
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
            if let s = ProtocolShorthand(rawValue: text) { return MatchItem(kind: .shorthand(s), text: text) }
            return MatchItem(kind: .unknown, text: text)
        }
        let name = string(r.lowerBound..<eq)
        let valueRange = (eq + 1)..<r.upperBound
        if name == "table" {
            guard let t = Int(string(valueRange)), (0...255).contains(t) else { throw fail(eq + 1, "table must be 0-255") }
            return MatchItem(kind: .table(t), text: text)
        }
        if name == "priority" {
            guard let p = Int(string(valueRange)), (0...65535).contains(p) else { throw fail(eq + 1, "priority must be 0-65535") }
            return MatchItem(kind: .priority(p), text: text)
        }
        guard let field = FlowField(named: name) else { return MatchItem(kind: .unknown, text: text) }
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
        let d = field.descriptor
        func bad(_ what: String) -> FlowParseError { fail(r.lowerBound, "\(d.name)=\(string(r)): expected \(what)") }
        var slash: Int?
        for i in r where bytes[i] == UInt8(ascii: "/") { slash = i; break }
        let valueRange = r.lowerBound..<(slash ?? r.upperBound)
        let maskRange = slash.map { ($0 + 1)..<r.upperBound }
        var text: String { string(r) }
        var valuePart: Substring { Substring(string(valueRange)) }
        var maskPart: Substring? { maskRange.map { Substring(string($0)) } }
        switch d.format {
        case .number:
            guard let v = number(valueRange), v.bitLength <= max(d.width, 16) else { throw bad("a number of \(d.width) bits") }
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
            let flags = d.format == .ctState ? ConntrackState.bits.map { ($0.0, UInt64($0.1)) } : PacketKey.tcpFlagBits.map { ($0.0, UInt64($0.1)) }
            var value: UInt64 = 0, mask: UInt64 = 0
            try parseFlags(valuePart, table: flags, value: &value, mask: &mask, bad: bad)
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
        guard let open else { return FlowField(named: string(r)).map { FieldReference(field: $0) } }
        guard bytes[r.upperBound - 1] == UInt8(ascii: "]"), let field = FlowField(named: string(r.lowerBound..<open)) else { return nil }
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
    func actionParts(_ r: Range<Int>) -> (name: String, argument: Range<Int>?, parenthesised: Bool) {
        var i = r.lowerBound
        while i < r.upperBound {
            let c = bytes[i]
            if c == UInt8(ascii: "(") {
                let close = bytes[r].lastIndex(of: UInt8(ascii: ")")) ?? r.upperBound
                return (string(r.lowerBound..<i), (i + 1)..<max(i + 1, close), true)
            }
            if c == UInt8(ascii: ":") { return (string(r.lowerBound..<i), (i + 1)..<r.upperBound, false) }
            i += 1
        }
        return (string(r), nil, false)
    }

    func parseAction(_ r: Range<Int>) throws -> FlowAction {
        let text = string(r)
        let (name, arg, paren) = actionParts(r)
        func make(_ k: FlowActionKind) -> FlowAction { FlowAction(k, text: text) }
        func opaque(_ why: String) -> FlowAction { FlowAction(.opaque(reason: why), text: text) }
        func argText() -> String { arg.map { string($0) } ?? "" }
        func number(_ s: String) -> UInt64? { Bits128(parsing: Substring(s)).flatMap { $0.high == 0 ? $0.low : nil } }

        switch name {
        case "load":
            guard let arg, let arrow = findArrow(arg) else { return opaque("load without '->'") }
            guard let dst = parseFieldReference((arrow + 2)..<arg.upperBound) else { return opaque("load into a field Hopscope does not model") }
            guard let v = self.number(arg.lowerBound..<arrow) else { return opaque("load of a non-numeric value") }
            return make(.load(value: v, destination: dst))
        case "resubmit":
            guard let arg else { return opaque("resubmit without arguments") }
            if !paren { return make(.resubmit(port: try parsePortReference(arg), table: nil, ct: false)) }
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
        case "output":
            guard let arg else { return opaque("output without a port") }
            if let ref = parseFieldReference(arg), string(arg).contains("[") { return make(.outputField(ref)) }
            if paren { return opaque("output(...) options are not modelled") }
            return make(.output(try parsePortReference(arg)))
        case "ct": return make(.conntrack(try parseConntrack(arg)))
        case "drop": return make(.drop)
        case "NORMAL", "FLOOD", "ALL", "LOCAL", "IN_PORT", "normal", "flood", "all", "local", "in_port":
            return make(.output(.reserved(ReservedPort(rawValue: name.uppercased())!)))
        case "conjunction":
            let a = argText()
            let pieces = a.split(separator: ",")
            guard pieces.count == 2, let id = UInt32(pieces[0]) else { throw fail(r.lowerBound, "conjunction(ID,K/N) expected") }
            let kn = pieces[1].split(separator: "/")
            guard kn.count == 2, let k = Int(kn[0]), let n = Int(kn[1]), (1...64).contains(n), (1...n).contains(k) else {
                throw fail(r.lowerBound, "conjunction clause must be K/N with 1 <= K <= N <= 64")
            }
            return make(.conjunction(id: id, clause: k, clauses: n))
        case "set_field":
            guard let arg, let arrow = findArrow(arg) else { return opaque("set_field without '->'") }
            let fieldRange = (arrow + 2)..<arg.upperBound
            guard let field = FlowField(named: string(fieldRange)) else { return opaque("set_field to \(string(fieldRange)) is not modelled") }
            let v = try parseFieldValue(field, arg.lowerBound..<arrow)
            if v.portName != nil { return opaque("set_field of a port name is not modelled") }
            return make(.setField(field: field, value: v.value, mask: v.mask))
        case "goto_table":
            guard let t = Int(argText()), (0...255).contains(t) else { throw fail(r.lowerBound, "goto_table needs a table 0-255") }
            return make(.gotoTable(t))
        case "mod_vlan_vid", "set_vlan_vid":
            guard let v = number(argText()), v < 4096 else { throw fail(r.lowerBound, "\(name) needs a VLAN ID 0-4095") }
            return make(.modVlanVid(UInt16(v)))
        case "strip_vlan", "pop_vlan": return make(.stripVlan)
        case "move":
            guard let arg, let arrow = findArrow(arg) else { return opaque("move without '->'") }
            guard let src = parseFieldReference(arg.lowerBound..<arrow), let dst = parseFieldReference((arrow + 2)..<arg.upperBound) else {
                return opaque("move between fields Hopscope does not model")
            }
            guard src.width == dst.width else { throw fail(r.lowerBound, "move source and destination widths differ") }
            return make(.move(source: src, destination: dst))
        case "mod_dl_src", "mod_dl_dst":
            guard let m = MACAddress(argText()) else { throw fail(r.lowerBound, "\(name) needs a MAC address") }
            return make(name == "mod_dl_src" ? .modDataLinkSource(m) : .modDataLinkDestination(m))
        case "ct_clear": return make(.conntrackClear)
        case "learn": return make(.learn(try parseLearn(arg)))
        case "CONTROLLER", "controller": return make(.controller)
        case "mod_vlan_pcp", "set_vlan_pcp":
            guard let v = number(argText()), v < 8 else { throw fail(r.lowerBound, "\(name) needs a priority 0-7") }
            return make(.modVlanPcp(UInt8(v)))
        case "push_vlan":
            guard let v = number(argText()), v <= 0xffff else { throw fail(r.lowerBound, "push_vlan needs an Ethertype") }
            return make(.pushVlan(UInt16(v)))
        case "set_tunnel", "set_tunnel64":
            guard let v = number(argText()) else { throw fail(r.lowerBound, "\(name) needs a tunnel ID") }
            return make(.setTunnel(v))
        case "mod_nw_src", "mod_nw_dst":
            guard let a = IPv4Address(argText()) else { throw fail(r.lowerBound, "\(name) needs an IPv4 address") }
            return make(name == "mod_nw_src" ? .modNetworkSource(a) : .modNetworkDestination(a))
        case "mod_tp_src", "mod_tp_dst":
            guard let v = number(argText()), v <= 0xffff else { throw fail(r.lowerBound, "\(name) needs a port number") }
            return make(name == "mod_tp_src" ? .modTransportSource(UInt16(v)) : .modTransportDestination(UInt16(v)))
        case "mod_nw_tos":
            guard let v = number(argText()), v <= 0xff else { throw fail(r.lowerBound, "mod_nw_tos needs a value 0-255") }
            return make(.modNetworkTOS(UInt8(v)))
        case "dec_ttl": return paren ? opaque("dec_ttl(ids) is not modelled") : make(.decrementTTL)
        case "note": return make(.note)
        case "set_queue": return make(.setQueue)
        case "pop_queue": return make(.popQueue)
        case "write_metadata":
            let parts = argText().split(separator: "/", maxSplits: 1)
            guard let v = parts.first.flatMap({ number(String($0)) }) else { throw fail(r.lowerBound, "write_metadata needs a value") }
            let m = parts.count == 2 ? number(String(parts[1])) : UInt64.max
            guard let m else { throw fail(r.lowerBound, "write_metadata mask must be a number") }
            return make(.writeMetadata(value: v, mask: m))
        case "clone":
            guard let arg else { return make(.clone([])) }
            return make(.clone(try parseActions(arg)))
        case "exit": return make(.exit)
        default:
            if arg == nil, let n = UInt32(name) { return make(.output(.number(n))) }
            return opaque("action \(name) is not modelled")
        }
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
            let (name, value, _) = actionParts(item)
            let text = string(item)
            if let eq = text.firstIndex(of: "="), !text.hasPrefix("exec(") && !text.hasPrefix("nat(") {
                let key = String(text[..<eq])
                let val = String(text[text.index(after: eq)...])
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

extension FlowDump {
    /// `FlowDump(parsing:)` as it was before the speed work, for equality tests.
    static func referenceParse(_ text: String) throws -> FlowDump {
        var flows: [OpenFlowRule] = []
        var otherLines: [NumberedLine] = []
        let bytes = Array(text.utf8)
        var number = 0
        var lineStart = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            if lineStart == bytes.count && lineEnd == lineStart && number > 0 { break }
            number += 1
            var contentEnd = lineEnd
            if contentEnd > lineStart && bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            var parser = ReferenceFlowTextParser(bytes: bytes, start: lineStart, end: contentEnd, line: number)
            if let actionsAt = parser.findActions() {
                flows.append(try parser.parseRule(raw: parser.string(lineStart..<contentEnd), actionsAt: actionsAt))
            } else {
                otherLines.append(NumberedLine(line: number, text: parser.string(lineStart..<contentEnd)))
            }
            lineStart = lineEnd + 1
        }
        var dump = try FlowDump(parsing: "")
        dump.flows = flows
        dump.otherLines = otherLines
        return dump
    }
}

extension OpenFlowRule {
    /// `OpenFlowRule(parsing:line:)` as it was before the speed work.
    static func referenceParse(_ raw: String, line: Int = 1) throws -> OpenFlowRule {
        let bytes = Array(raw.utf8)
        var p = ReferenceFlowTextParser(bytes: bytes, start: 0, end: bytes.count, line: line)
        return try p.parseRule(raw: raw)
    }
}
