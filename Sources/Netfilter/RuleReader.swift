import Foundation
import HopscopeModel

/// What the reader keeps of one match clause: its meaning, and where its words are in the rule
/// line, so that the public `RuleClause` (strings and all) can be rebuilt from the line on demand.
struct ClauseRecord: Sendable {
    var criterion: MatchCriterion
    /// Token index of the option word; its values are the `valueCount` tokens after it.
    var option: Int32
    var valueCount: Int32
    /// Token index of the owning module's name (`-m NAME`), `implicitModule` for the protocol's
    /// implicit module (`-p tcp --dport 22`), `noModule` for built-in options.
    var module: Int32
    /// The protocol number whose implicit module owns the option, when `module == implicitModule`.
    var implicitProtocol: UInt8
    var negated: Bool

    static let implicitModule: Int32 = -1
    static let noModule: Int32 = -2
}

/// A chain of the table being read: its position among the table's chains and its name.
struct ChainSlot {
    var index: Int32
    var name: String
}

/// Decodes the words of one rule (after `-A CHAIN`) into clause records and a target action,
/// reading values as bytes; one instance reads every rule of a dump. Not shared between threads.
///
/// Options belong to the most recently loaded match module that owns them (as iptables-save
/// prints them, right after their `-m`); `--sport`/`--dport` after a bare `-p tcp` belong to the
/// protocol's implicit module, as `iptables-restore` allows. Plain value forms (dotted IPv4
/// prefixes, decimal ports, state lists, MAC addresses) are decoded from the bytes; anything
/// else goes through the string syntax in `RuleValueSyntax.swift`, so both paths agree.
struct RuleReader {
    struct Failure: Error {
        var column: Int
        var message: String
    }

    /// A `-m NAME` of the current rule: the token of the name and its dispatch key.
    struct LoadedModule {
        var token: Int32
        var key: UInt64
    }

    /// A target option: token indices of the option and its values.
    struct TargetOption {
        var option: Int
        var firstValue: Int
        var valueCount: Int
    }

    let line: LineBytes
    /// The words of the current line (set by the parser before `read`).
    var tokens: [Token] = []
    var interner = WordInterner()
    /// The chains of the table being read, by name (jump targets resolve against it).
    var chains = DumpWordTable<ChainSlot>()
    /// Every clause read so far, in dump order (the parser truncates it when a rule fails).
    var clauses: [ClauseRecord] = []
    private var i = 0
    /// The modules the current rule has loaded so far: `modules[..<moduleCount]` (the array is
    /// reused from rule to rule; emptying it with `removeAll` cost more than reading a rule's words).
    private var modules: [LoadedModule] = []
    private var moduleCount = 0
    private var targetOptions: [TargetOption] = []

    init(line: LineBytes) {
        self.line = line
        tokens.reserveCapacity(64)
        modules.reserveCapacity(8)
        targetOptions.reserveCapacity(8)
    }

    /// Reads `tokens[2...]` (after `-A CHAIN`), appending the rule's clauses to `clauses`.
    /// Returns the token index of `-j`/`-g` (-1 when the rule has no target) and its action.
    mutating func read() throws(Failure) -> (targetToken: Int32, action: TargetAction) {
        moduleCount = 0
        var protocolModule: UInt8?
        i = 2
        while i < tokens.count {
            var negated = false
            var t = tokens[i]
            if line.isBang(t) {
                negated = true
                i += 1
                guard i < tokens.count else { throw Failure(column: Int(t.column), message: "'!' at the end of the rule negates nothing") }
                t = tokens[i]
            }
            guard line.isOption(t) else {
                throw Failure(column: Int(t.column), message: "expected an option such as -s, -m or -j, found '\(line.string(t))'")
            }
            let option = Int32(i)
            i += 1
            let oh = t.hash
            switch oh {
            case W.j, W.jump, W.g, W.goto_:
                if negated { throw Failure(column: Int(t.column), message: "a target cannot be negated") }
                let action = try readTarget(flag: t, isGoto: oh == W.g || oh == W.goto_)
                // iptables-save prints the target last; anything after it belongs to the target.
                return (option, action)
            case W.m, W.match:
                if negated { throw Failure(column: Int(t.column), message: "'!' cannot negate -m; put it before the module's option") }
                try readValues(for: t, count: 1)
                let name = tokens[i - 1]
                let loaded = LoadedModule(token: Int32(i - 1), key: name.key)
                if moduleCount < modules.count { modules[moduleCount] = loaded } else { modules.append(loaded) }
                moduleCount += 1
                append(.loadModule(interner.string(name, line)), option, 1, negated: false)
            case W.s, W.source, W.src, W.d, W.destination, W.dst:
                try readValues(for: t, count: 1)
                let v = tokens[i - 1]
                let source = oh == W.s || oh == W.source || oh == W.src
                let criterion: MatchCriterion
                if let p = try address(v) {
                    criterion = source ? .source(p) : .destination(p)
                } else {
                    criterion = .unsupported("non-contiguous address mask \(line.string(v))")
                }
                append(criterion, option, 1, negated: negated)
            case W.i, W.inInterface, W.o, W.outInterface:
                try readValues(for: t, count: 1)
                let p = interfacePattern(tokens[i - 1])
                append(oh == W.i || oh == W.inInterface ? .inInterface(p) : .outInterface(p), option, 1, negated: negated)
            case W.p, W.protocol_:
                try readValues(for: t, count: 1)
                let v = tokens[i - 1]
                guard let proto = protocolNumber(v) else {
                    throw Failure(column: Int(v.column), message: "unknown protocol '\(line.string(v))' (use a name from /etc/protocols or a number)")
                }
                protocolModule = Self.implicitModule(proto) == nil ? nil : proto
                append(.ipProtocol(proto == 0 ? nil : proto), option, 1, negated: negated)
            case W.f, W.fragment:
                append(.fragment, option, 0, negated: negated)
            default:
                var module = ClauseRecord.noModule
                var moduleKey: UInt64 = 0
                var k = moduleCount - 1
                while k >= 0 {
                    let m = modules[k]
                    if owns(module: m.key, name: tokens[Int(m.token)], option: t) ?? true {
                        module = m.token
                        moduleKey = m.key
                        break
                    }
                    k -= 1
                }
                if module == ClauseRecord.noModule, let p = protocolModule, let key = Self.implicitModuleKey(p),
                   owns(module: key, name: nil, option: t) == true {
                    module = ClauseRecord.implicitModule
                    moduleKey = key
                }
                guard module != ClauseRecord.noModule else {
                    throw Failure(column: Int(t.column), message: "option \(line.string(t)) belongs to no loaded match module (add -m MODULE before it)")
                }
                let first = i
                try readValues(for: t, count: nil)
                let criterion = try decode(moduleKey: moduleKey, module: module, implicitProtocol: protocolModule ?? 0,
                                           option: t, values: first..<i)
                append(criterion, option, Int32(i - first), negated: negated, module: module, implicitProtocol: protocolModule ?? 0)
            }
        }
        return (-1, .none)
    }

    @inline(__always)
    private mutating func append(_ criterion: MatchCriterion, _ option: Int32, _ valueCount: Int32, negated: Bool,
                                 module: Int32 = ClauseRecord.noModule, implicitProtocol: UInt8 = 0) {
        clauses.append(ClauseRecord(criterion: criterion, option: option, valueCount: valueCount, module: module,
                                    implicitProtocol: module == ClauseRecord.implicitModule ? implicitProtocol : 0, negated: negated))
    }

    /// Steps over the words after an option: exactly `count` when given, else every word up to
    /// the next option or `!`.
    private mutating func readValues(for t: Token, count: Int?) throws(Failure) {
        var n = 0
        while i < tokens.count, !line.isOption(tokens[i]), !line.isBang(tokens[i]) {
            if let count, n == count { break }
            n += 1
            i += 1
        }
        if let count, n != count {
            throw Failure(column: Int(t.column), message: "\(line.string(t)) needs \(count) value\(count == 1 ? "" : "s")")
        }
    }

    // MARK: Modules and their options

    /// Whether a modelled module owns an option; nil for a module Hopscope does not model.
    /// A quoted module name (`-m "tcp"`, key 0) is looked up by its text, as any unknown word.
    private func owns(module m: UInt64, name: Token?, option t: Token) -> Bool? {
        let o = t.hash
        switch m {
        case W.tcp: return o == W.sport || o == W.dport || o == W.tcpFlags || o == W.syn || o == W.sourcePort || o == W.destinationPort || o == W.tcpOption
        case W.udp: return o == W.sport || o == W.dport || o == W.sourcePort || o == W.destinationPort
        case W.comment: return o == W.commentOpt
        case W.physdev: return o == W.physdevIn || o == W.physdevOut || o == W.physdevIsBridged || o == W.physdevIsIn || o == W.physdevIsOut
        case W.state: return o == W.stateOpt
        case W.mac: return o == W.macSource
        case W.mark, W.connmark: return o == W.markOpt
        case W.icmp: return o == W.icmpType
        case W.icmp6: return o == W.icmpv6Type
        case 0:
            guard let name else { return nil }
            return Self.moduleOptions[line.string(name)]?.contains(line.string(t))
        default: return Self.moduleOptionHashes[m]?.contains(o)
        }
    }

    /// `moduleOptions` by the hashes of the module and option words.
    static let moduleOptionHashes: [UInt64: Set<UInt64>] = Dictionary(uniqueKeysWithValues: moduleOptions.map { module, options in
        (wordHash(module.utf8), Set(options.map { wordHash($0.utf8) }))
    })

    static func implicitModule(_ proto: UInt8) -> String? {
        switch proto {
        case 6: "tcp"
        case 17: "udp"
        case 1: "icmp"
        case 58: "icmp6"
        default: nil
        }
    }

    static func implicitModuleKey(_ proto: UInt8) -> UInt64? {
        switch proto {
        case 6: W.tcp
        case 17: W.udp
        case 1: W.icmp
        case 58: W.icmp6
        default: nil
        }
    }

    /// What a modelled (module, option) pair tests. Module first, then option: a switch on
    /// (module, option) pairs would compare both for every case.
    enum OptionKind {
        case sourcePort, destinationPort, tcpFlags, syn, icmpType, multiport, state, ctstatus, ctdir, macSource
        case physdevIn, physdevOut, physdevIsIn, physdevIsOut, physdevIsBridged, comment, matchSet, setCounters
        case addressType, addressTypeLimit, mark, addressRange, limit, owner
    }

    static func optionKind(module m: UInt64, option o: UInt64) -> OptionKind? {
        switch m {
        case W.tcp, W.udp:
            switch o {
            case W.dport, W.destinationPort: return .destinationPort
            case W.sport, W.sourcePort: return .sourcePort
            case W.tcpFlags: return m == W.tcp ? .tcpFlags : nil
            case W.syn: return m == W.tcp ? .syn : nil
            default: return nil
            }
        case W.comment: return o == W.commentOpt ? .comment : nil
        case W.physdev:
            switch o {
            case W.physdevIn: return .physdevIn
            case W.physdevOut: return .physdevOut
            case W.physdevIsBridged: return .physdevIsBridged
            case W.physdevIsIn: return .physdevIsIn
            case W.physdevIsOut: return .physdevIsOut
            default: return nil
            }
        case W.state: return o == W.stateOpt ? .state : nil
        case W.conntrack:
            switch o {
            case W.ctstate: return .state
            case W.ctstatus: return .ctstatus
            case W.ctdir: return .ctdir
            default: return nil
            }
        case W.set:
            switch o {
            case W.matchSet, W.setOpt: return .matchSet
            case W.updateCounters, W.updateSubcounters: return .setCounters
            default: return nil
            }
        case W.mac: return o == W.macSource ? .macSource : nil
        case W.mark, W.connmark: return o == W.markOpt ? .mark : nil
        case W.icmp: return o == W.icmpType ? .icmpType : nil
        case W.icmp6: return o == W.icmpv6Type ? .icmpType : nil
        case W.multiport: return .multiport
        case W.addrtype:
            switch o {
            case W.srcType, W.dstType: return .addressType
            case W.limitIfaceIn, W.limitIfaceOut: return .addressTypeLimit
            default: return nil
            }
        case W.iprange: return .addressRange
        case W.limit: return .limit
        case W.owner: return .owner
        default: return nil
        }
    }

    private func moduleName(_ module: Int32, _ implicitProtocol: UInt8) -> String {
        module >= 0 ? line.string(tokens[Int(module)]) : Self.implicitModule(implicitProtocol) ?? ""
    }

    private func expect(_ values: Range<Int>, _ n: Int, _ t: Token) throws(Failure) {
        guard values.count == n else {
            throw Failure(column: Int(t.column), message: "\(line.string(t)) needs \(n) value\(n == 1 ? "" : "s"), found \(values.count)")
        }
    }

    private mutating func decode(moduleKey: UInt64, module: Int32, implicitProtocol: UInt8, option t: Token,
                                 values: Range<Int>) throws(Failure) -> MatchCriterion {
        let valueColumn = Int(tokens[i - 1].column)
        func bad(_ why: String) -> Failure {
            let words = values.map { line.string(tokens[$0]) }.joined(separator: " ")
            return Failure(column: valueColumn, message: "\(line.string(t)) \(words): \(why)")
        }
        func text(_ k: Int) -> String { line.string(tokens[values.lowerBound + k]) }
        let v0 = values.isEmpty ? t : tokens[values.lowerBound]
        switch Self.optionKind(module: moduleKey, option: t.hash) {
        case .sourcePort, .destinationPort:
            try expect(values, 1, t)
            guard let r = portRange(v0) else { throw bad("expected a port or PORT:PORT") }
            return t.hash == W.sport || t.hash == W.sourcePort ? .sourcePort(r) : .destinationPort(r)
        case .tcpFlags:
            try expect(values, 2, t)
            guard let m = Self.tcpFlags(text(0)), let s = Self.tcpFlags(text(1)) else { throw bad("expected flag lists such as FIN,SYN,RST,ACK SYN") }
            return .tcpFlags(mask: m, set: s)
        case .syn:
            try expect(values, 0, t)
            return .tcpFlags(mask: 0x17, set: 0x02)
        case .icmpType:
            try expect(values, 1, t)
            guard let (type, codes) = Self.icmpType(text(0), v6: moduleKey == W.icmp6) else { throw bad("expected a type number, TYPE/CODE or a type name") }
            return .icmpType(type: type, codes: codes)
        case .multiport:
            try expect(values, 1, t)
            var ranges: [PortRange] = []
            for item in text(0).split(separator: ",") {
                guard let r = Self.portRange(String(item)) else { throw bad("expected ports separated by commas") }
                ranges.append(r)
            }
            let option = line.string(t)
            let dir: MultiportDirection = option.contains("source") || option == "--sports" ? .source
                : option == "--ports" ? .either : .destination
            return .multiport(dir, ranges)
        case .state:
            try expect(values, 1, t)
            var states = ConnectionStates()
            let found = flagNames(v0, ConnectionStates.names) { states.insert($0) }
            if let unknown = found { throw bad("unknown state '\(unknown)'") }
            return .connectionState(states)
        case .ctstatus:
            try expect(values, 1, t)
            var status = ConnectionStatus()
            let found = flagNames(v0, ConnectionStatus.names) { status.formUnion($0) }
            if let unknown = found { throw bad("unknown status '\(unknown)'") }
            return .connectionStatus(status)
        case .ctdir:
            try expect(values, 1, t)
            if line.equals(v0, "ORIGINAL") { return .connectionDirectionReply(false) }
            if line.equals(v0, "REPLY") { return .connectionDirectionReply(true) }
            throw bad("expected ORIGINAL or REPLY")
        case .macSource:
            try expect(values, 1, t)
            guard let m = macAddress(v0) else { throw bad("expected a MAC address") }
            return .macSource(m)
        case .physdevIn:
            try expect(values, 1, t)
            return .physdevIn(interfacePattern(v0))
        case .physdevOut:
            try expect(values, 1, t)
            return .physdevOut(interfacePattern(v0))
        case .physdevIsIn: try expect(values, 0, t); return .physdevIsIn
        case .physdevIsOut: try expect(values, 0, t); return .physdevIsOut
        case .physdevIsBridged: try expect(values, 0, t); return .physdevIsBridged
        case .comment:
            try expect(values, 1, t)
            return .comment(interner.string(v0, line))
        case .matchSet:
            try expect(values, 2, t)
            guard let flags = setFlags(tokens[values.lowerBound + 1]) else { throw bad("set dimensions are src or dst") }
            return .ipset(name: interner.string(v0, line), sourceFlags: flags)
        case .setCounters:
            // Only decides whether the set's counters move; never whether the rule matches.
            try expect(values, 0, t)
            return .loadModule("set")
        case .addressType:
            try expect(values, 1, t)
            var types = AddressTypes()
            for name in text(0).split(separator: ",") {
                guard let idx = AddressTypes.names.firstIndex(of: String(name)) else { throw bad("unknown address type '\(name)'") }
                types.insert(AddressTypes(rawValue: 1 << UInt16(idx)))
            }
            return .addressType(source: t.hash == W.srcType, types)
        case .addressTypeLimit:
            try expect(values, 0, t)
            return .addressTypeLimitInterface(input: t.hash == W.limitIfaceIn)
        case .mark:
            try expect(values, 1, t)
            guard let (v, m) = Self.valueMask(text(0)) else { throw bad("expected VALUE[/MASK]") }
            return moduleKey == W.mark ? .mark(value: v, mask: m) : .connectionMark(value: v, mask: m)
        case .addressRange:
            try expect(values, 1, t)
            let ends = text(0).split(separator: "-", maxSplits: 1)
            guard ends.count == 2, let lo = IPAddress(ends[0]), let hi = IPAddress(ends[1]) else { throw bad("expected ADDR-ADDR") }
            return .addressRange(source: line.equals(t, "--src-range"), low: lo, high: hi)
        case .limit:
            return .rateLimit
        case .owner:
            return .owner(kind: String(line.string(t).dropFirst(2)), value: values.isEmpty ? "" : text(0))
        case nil:
            let name = moduleName(module, implicitProtocol)
            let what = Self.moduleOptions[name] == nil ? "match module '\(name)'" : "option \(line.string(t)) of module '\(name)'"
            return .unsupported("\(what) is not modelled")
        }
    }

    // MARK: Targets

    private mutating func readTarget(flag: Token, isGoto: Bool) throws(Failure) -> TargetAction {
        guard i < tokens.count, !line.isOption(tokens[i]) else {
            throw Failure(column: Int(flag.column), message: "\(line.string(flag)) needs a target or chain name")
        }
        let name = tokens[i]
        i += 1
        targetOptions.removeAll(keepingCapacity: true)
        while i < tokens.count {
            var t = tokens[i]
            if line.isBang(t), i + 1 < tokens.count { i += 1; t = tokens[i] }
            guard line.isOption(t) else {
                throw Failure(column: Int(t.column), message: "expected a target option after \(line.string(name)), found '\(line.string(t))'")
            }
            let option = i
            i += 1
            try readValues(for: t, count: nil)
            targetOptions.append(TargetOption(option: option, firstValue: option + 1, valueCount: i - option - 1))
        }
        return try targetAction(name: name, isGoto: isGoto, column: Int(flag.column))
    }

    /// The first value of the first target option `o` (nil when absent or without a value).
    private func targetValue(_ o: UInt64) -> Token? {
        guard let opt = targetOptions.first(where: { tokens[$0.option].hash == o }), opt.valueCount > 0 else { return nil }
        return tokens[opt.firstValue]
    }
    private func hasTargetOption(_ o: UInt64) -> Bool { targetOptions.contains { tokens[$0.option].hash == o } }

    private mutating func targetAction(name: Token, isGoto: Bool, column: Int) throws(Failure) -> TargetAction {
        func bad(_ why: String) -> Failure { Failure(column: column, message: "\(line.string(name)): \(why)") }
        if let chain = chains.find(line.pointer(name), count: Int(name.count), hash: name.hash, in: line.dump) {
            guard targetOptions.isEmpty else { throw bad("a jump to a chain takes no options") }
            return isGoto ? .goto(chain.name) : .jump(chain.name)
        }
        guard let allowed = Self.targetOptionHashes[name.hash] else {
            let n = line.string(name)
            return .unsupported(isGoto ? "goto to '\(n)', which this table does not declare" : "target \(n) is not modelled")
        }
        // `-g ACCEPT` is legal and acts as `-j ACCEPT`: verdicts ignore the goto flag.
        if isGoto && name.hash != W.ACCEPT && name.hash != W.DROP && name.hash != W.RETURN { throw bad("-g needs a user chain of this table") }
        if let o = targetOptions.first(where: { !allowed.contains(tokens[$0.option].hash) }) {
            return .unsupported("option \(line.string(tokens[o.option])) of target \(line.string(name)) is not modelled")
        }
        switch name.hash {
        case W.ACCEPT: return .accept
        case W.DROP: return .drop
        case W.RETURN: return .returnFromChain
        case W.REJECT: return .reject(targetValue(W.rejectWith).map { interner.string($0, line) })
        case W.NOTRACK: return .notrack
        case W.CHECKSUM: return .checksumFill
        case W.LOG: return .log
        case W.CT:
            if hasTargetOption(W.notrack) { return .notrack }
            var zone: UInt16?
            if let z = targetValue(W.zone) {
                guard let n = decimal(z, max: UInt16.max).map(UInt16.init) ?? UInt16(line.string(z)) else {
                    return .unsupported("CT --zone \(line.string(z)) (a mark-derived zone) is not modelled")
                }
                zone = n
            }
            return .conntrackTemplate(zone: zone)
        default:
            // NAT and marks: rare enough to take the string path.
            let options = targetOptions.map { (option: line.string(tokens[$0.option]), value: $0.valueCount > 0 ? line.string(tokens[$0.firstValue]) : nil) }
            return try Self.targetAction(name: line.string(name), options: options, bad: bad)
        }
    }

    /// Options each modelled target takes, by the hashes of the target and option words.
    static let targetOptionHashes: [UInt64: Set<UInt64>] = Dictionary(uniqueKeysWithValues: targetOptions.map { target, options in
        (wordHash(target.utf8), Set(options.map { wordHash($0.utf8) }))
    })

    // MARK: Values from bytes

    /// A decimal number of at most five digits no larger than `max`, nil for anything else
    /// (the string syntax then decides).
    private func decimal<T: FixedWidthInteger>(_ t: Token, max: T) -> UInt32? {
        let b = line.bytes(t)
        guard !b.isEmpty, b.count <= 5 else { return nil }
        var v: UInt32 = 0
        for u in b {
            guard u >= 0x30 && u <= 0x39 else { return nil }
            v = v * 10 + UInt32(u - 0x30)
        }
        return v <= UInt32(max) ? v : nil
    }

    /// `PORT` or `LOW:HIGH` in decimal from the bytes; service names and open ranges by the string syntax.
    private func portRange(_ t: Token) -> PortRange? {
        let b = line.bytes(t)
        var lo: UInt32 = 0, hi: UInt32 = 0, digits = 0, k = 0
        while k < b.count && b[k] >= 0x30 && b[k] <= 0x39 && digits < 5 { lo = lo * 10 + UInt32(b[k] - 0x30); digits += 1; k += 1 }
        if digits > 0 && lo <= 65535 {
            if k == b.count { return PortRange(UInt16(lo), UInt16(lo)) }
            if b[k] == UInt8(ascii: ":") {
                k += 1
                var d2 = 0
                while k < b.count && b[k] >= 0x30 && b[k] <= 0x39 && d2 < 5 { hi = hi * 10 + UInt32(b[k] - 0x30); d2 += 1; k += 1 }
                if d2 > 0 && k == b.count && hi <= 65535 && lo <= hi { return PortRange(UInt16(lo), UInt16(hi)) }
            }
        }
        return Self.portRange(line.string(t))
    }

    /// `-s`/`-d`: a dotted IPv4 address with an optional decimal length from the bytes; other
    /// forms (IPv6, dotted masks) by the string syntax. Nil for a legal but non-contiguous mask.
    private func address(_ t: Token) throws(Failure) -> IPPrefix? {
        let b = line.bytes(t)
        var v: UInt32 = 0, current: UInt32 = 0, octets = 0, digits = 0, k = 0
        fast: do {
            while k < b.count {
                let u = b[k]
                if u == UInt8(ascii: ".") {
                    guard digits > 0, octets < 3 else { break fast }
                    v = v << 8 | current
                    octets += 1
                    current = 0
                    digits = 0
                } else if u >= 0x30 && u <= 0x39 {
                    current = current * 10 + UInt32(u - 0x30)
                    digits += 1
                    guard digits <= 3, current <= 255 else { break fast }
                } else {
                    break
                }
                k += 1
            }
            guard digits > 0, octets == 3 else { break fast }
            let a = IPAddress.v4(IPv4Address(value: v << 8 | current))
            if k == b.count { return IPPrefix(address: a, length: 32) }
            guard b[k] == UInt8(ascii: "/"), k + 1 < b.count, b.count - k - 1 <= 3 else { break fast }
            var length = 0
            for u in b[(k + 1)...] {
                guard u >= 0x30 && u <= 0x39 else { break fast }
                length = length * 10 + Int(u - 0x30)
            }
            guard length <= 32 else { break fast }
            return IPPrefix(address: a, length: length)
        }
        return try Self.address(line.string(t), column: Int(t.column))
    }

    private func protocolNumber(_ t: Token) -> UInt8? {
        if line.equals(t, "tcp") { return 6 }
        if line.equals(t, "udp") { return 17 }
        if line.equals(t, "icmp") { return 1 }
        return Self.protocolNumber(line.string(t))
    }

    /// An interface name as a pattern; the stem is interned (each port's names recur).
    private mutating func interfacePattern(_ t: Token) -> InterfacePattern {
        if t.inScratch { return InterfacePattern(line.string(t)) }
        let p = line.pointer(t), n = Int(t.count)
        if n > 0 && p[n - 1] == UInt8(ascii: "+") {
            let stem = interner.string(line.dump, start: Int(t.start), count: n - 1, hash: wordHash(p, n - 1))
            return InterfacePattern(stem: stem, isWildcard: true)
        }
        return InterfacePattern(stem: interner.string(t, line), isWildcard: false)
    }

    /// `xx:xx:xx:xx:xx:xx` in hex from the bytes; other spellings by `MACAddress`'s own parser.
    private func macAddress(_ t: Token) -> MACAddress? {
        let b = line.bytes(t)
        if b.count == 17 {
            var v: UInt64 = 0
            var ok = true
            for g in 0..<6 {
                if g > 0 && b[g * 3 - 1] != UInt8(ascii: ":") { ok = false; break }
                guard let h = Self.hexDigit(b[g * 3]), let l = Self.hexDigit(b[g * 3 + 1]) else { ok = false; break }
                v = v << 8 | UInt64(h << 4 | l)
            }
            if ok { return MACAddress(value: v) }
        }
        return MACAddress(line.string(t))
    }

    private static func hexDigit(_ u: UInt8) -> UInt8? {
        switch u {
        case 0x30...0x39: u - 0x30
        case 0x41...0x46: u - 0x41 + 10
        case 0x61...0x66: u - 0x61 + 10
        default: nil
        }
    }

    /// Reads a comma-separated list of flag names (empty items skipped, as `split` does),
    /// calling `add` for each; returns the first unknown name, nil when all are known.
    private func flagNames<T>(_ t: Token, _ names: [(String, T)], _ add: (T) -> Void) -> String? {
        let b = line.bytes(t)
        guard b.allSatisfy({ $0 < 0x80 }) else {
            // Non-ASCII: split by characters, as the string syntax does.
            for name in line.string(t).split(separator: ",") {
                guard let v = names.first(where: { $0.0 == name })?.1 else { return String(name) }
                add(v)
            }
            return nil
        }
        var start = 0
        while start <= b.count {
            var end = start
            while end < b.count && b[end] != UInt8(ascii: ",") { end += 1 }
            if end > start {
                let item = UnsafeBufferPointer(rebasing: b[start..<end])
                guard let v = names.first(where: { $0.0.utf8.count == item.count && $0.0.utf8.elementsEqual(item) })?.1 else {
                    return String(decoding: item, as: UTF8.self)
                }
                add(v)
            }
            start = end + 1
        }
        return nil
    }

    /// `src`, `dst`, `src,dst`, ... as one flag per dimension (true = source); nil when an item is neither.
    private func setFlags(_ t: Token) -> [Bool]? {
        if line.equals(t, "src") { return Self.sourceFlag }
        if line.equals(t, "dst") { return Self.destinationFlag }
        var flags: [Bool] = []
        for f in line.string(t).split(separator: ",") {
            guard f == "src" || f == "dst" else { return nil }
            flags.append(f == "src")
        }
        return flags
    }
    private static let sourceFlag = [true]
    private static let destinationFlag = [false]
}

extension InterfacePattern {
    init(stem: String, isWildcard: Bool) {
        self.stem = stem
        self.isWildcard = isWildcard
    }
}
