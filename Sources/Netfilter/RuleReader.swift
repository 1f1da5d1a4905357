import HopscopeModel

/// FNV-1a over a word's bytes: the parser dispatches on these instead of comparing strings
/// (a `switch` over strings compares one case after another).
@inline(__always) func wordHash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return h
}

/// Hashes (`wordHash`) of the words the parser dispatches on, as literals so that reading one
/// costs nothing (a computed global would be initialised lazily on every access path).
/// `ParserTests.wordHashConstantsMatchTheirWords` checks each against its word.
enum W {
    static func h(_ s: String) -> UInt64 { wordHash(s.utf8) }
    static let j: UInt64 = 0x07d05407b4984d36  // -j
    static let jump: UInt64 = 0x93a8c0d3ce32e37b  // --jump
    static let g: UInt64 = 0x07d06107b498634d  // -g
    static let goto_: UInt64 = 0xf4a6c3ebf769fd34  // --goto
    static let m: UInt64 = 0x07d05707b498524f  // -m
    static let match: UInt64 = 0x7da7651fc3f42758  // --match
    static let s: UInt64 = 0x07d04d07b4984151  // -s
    static let source: UInt64 = 0xd78218a91d1e794a  // --source
    static let src: UInt64 = 0x44b83afcce3dfb63  // --src
    static let d: UInt64 = 0x07d05e07b4985e34  // -d
    static let destination: UInt64 = 0x149d3307e41b4725  // --destination
    static let dst: UInt64 = 0xb09a76fc7a1ae776  // --dst
    static let i: UInt64 = 0x07d05307b4984b83  // -i
    static let inInterface: UInt64 = 0x0a6e4d74dc003e5a  // --in-interface
    static let o: UInt64 = 0x07d05907b49855b5  // -o
    static let outInterface: UInt64 = 0x06026649489cbf97  // --out-interface
    static let p: UInt64 = 0x07d04a07b4983c38  // -p
    static let protocol_: UInt64 = 0x88d1155e9d071deb  // --protocol
    static let f: UInt64 = 0x07d06007b498619a  // -f
    static let fragment: UInt64 = 0xb6676104e7195daf  // --fragment
    static let tcp: UInt64 = 0x56d0b41944429590  // tcp
    static let udp: UInt64 = 0x4c8ba3193dfc9564  // udp
    static let comment: UInt64 = 0x8a0021ca40aeac3e  // comment
    static let physdev: UInt64 = 0x36d626eb5ed8eb5c  // physdev
    static let state: UInt64 = 0xee63aaad45b1b116  // state
    static let conntrack: UInt64 = 0xf5369aaae47ee8ee  // conntrack
    static let set: UInt64 = 0x823b87195ce20e23  // set
    static let mac: UInt64 = 0x080f6619176d43a8  // mac
    static let mark: UInt64 = 0x1f3b3fa2ce7ecac0  // mark
    static let connmark: UInt64 = 0x647aa4660a00514a  // connmark
    static let icmp: UInt64 = 0xdbf83ec56c1a5c78  // icmp
    static let icmp6: UInt64 = 0xe12ef776b0cad88a  // icmp6
    static let multiport: UInt64 = 0x7360b8d655cc02dd  // multiport
    static let addrtype: UInt64 = 0x3e023642601f9bc2  // addrtype
    static let iprange: UInt64 = 0xcae7a2d8edd0de81  // iprange
    static let limit: UInt64 = 0x760d7da9ffd99754  // limit
    static let owner: UInt64 = 0xa692f75ab08b8cf4  // owner
    static let sport: UInt64 = 0x72337bcccf22deff  // --sport
    static let sourcePort: UInt64 = 0xef1a93ae72e0a186  // --source-port
    static let dport: UInt64 = 0x37d609e547bd9232  // --dport
    static let destinationPort: UInt64 = 0xf7e1b585ddcb98c3  // --destination-port
    static let tcpFlags: UInt64 = 0x9e5dd0385a66cd64  // --tcp-flags
    static let syn: UInt64 = 0x44d047fcce52a35b  // --syn
    static let tcpOption: UInt64 = 0x82092681bb00182c  // --tcp-option
    static let commentOpt: UInt64 = 0x157a03ef4c4b7c98  // --comment
    static let physdevIn: UInt64 = 0xc71fdcc334dcc446  // --physdev-in
    static let physdevOut: UInt64 = 0x260a0db2c8db0fa7  // --physdev-out
    static let physdevIsBridged: UInt64 = 0x26b834a84010e0b3  // --physdev-is-bridged
    static let physdevIsIn: UInt64 = 0x779fbb0fadb15e5f  // --physdev-is-in
    static let physdevIsOut: UInt64 = 0x28b5f6a440efc884  // --physdev-is-out
    static let stateOpt: UInt64 = 0xf50b2ca9341c6ca0  // --state
    static let ctstate: UInt64 = 0xf3bb496815d6c405  // --ctstate
    static let ctstatus: UInt64 = 0xfe3831dd1c1d63f2  // --ctstatus
    static let ctdir: UInt64 = 0x4077ff21c0a17467  // --ctdir
    static let matchSet: UInt64 = 0x6cfc2a5a65270495  // --match-set
    static let setOpt: UInt64 = 0x44de31fcce5ebb55  // --set
    static let updateCounters: UInt64 = 0x9bcd4ce487ed5a1c  // --update-counters
    static let updateSubcounters: UInt64 = 0x48a892112257318c  // --update-subcounters
    static let macSource: UInt64 = 0xd4a3e97d9f8bf550  // --mac-source
    static let markOpt: UInt64 = 0x72ac55bb37d619ba  // --mark
    static let icmpType: UInt64 = 0x274943693fc11451  // --icmp-type
    static let icmpv6Type: UInt64 = 0x079658237edecd9d  // --icmpv6-type
    static let srcType: UInt64 = 0xb989949385c8666a  // --src-type
    static let dstType: UInt64 = 0x22e2b114fda48b69  // --dst-type
    static let limitIfaceIn: UInt64 = 0xb8e0d902bb91a7f7  // --limit-iface-in
    static let limitIfaceOut: UInt64 = 0xea6f32a4d4ded99c  // --limit-iface-out

    /// Every constant with its word, for the test.
    static let all: [(UInt64, String)] = [
        (j, "-j"),
        (jump, "--jump"),
        (g, "-g"),
        (goto_, "--goto"),
        (m, "-m"),
        (match, "--match"),
        (s, "-s"),
        (source, "--source"),
        (src, "--src"),
        (d, "-d"),
        (destination, "--destination"),
        (dst, "--dst"),
        (i, "-i"),
        (inInterface, "--in-interface"),
        (o, "-o"),
        (outInterface, "--out-interface"),
        (p, "-p"),
        (protocol_, "--protocol"),
        (f, "-f"),
        (fragment, "--fragment"),
        (tcp, "tcp"),
        (udp, "udp"),
        (comment, "comment"),
        (physdev, "physdev"),
        (state, "state"),
        (conntrack, "conntrack"),
        (set, "set"),
        (mac, "mac"),
        (mark, "mark"),
        (connmark, "connmark"),
        (icmp, "icmp"),
        (icmp6, "icmp6"),
        (multiport, "multiport"),
        (addrtype, "addrtype"),
        (iprange, "iprange"),
        (limit, "limit"),
        (owner, "owner"),
        (sport, "--sport"),
        (sourcePort, "--source-port"),
        (dport, "--dport"),
        (destinationPort, "--destination-port"),
        (tcpFlags, "--tcp-flags"),
        (syn, "--syn"),
        (tcpOption, "--tcp-option"),
        (commentOpt, "--comment"),
        (physdevIn, "--physdev-in"),
        (physdevOut, "--physdev-out"),
        (physdevIsBridged, "--physdev-is-bridged"),
        (physdevIsIn, "--physdev-is-in"),
        (physdevIsOut, "--physdev-is-out"),
        (stateOpt, "--state"),
        (ctstate, "--ctstate"),
        (ctstatus, "--ctstatus"),
        (ctdir, "--ctdir"),
        (matchSet, "--match-set"),
        (setOpt, "--set"),
        (updateCounters, "--update-counters"),
        (updateSubcounters, "--update-subcounters"),
        (macSource, "--mac-source"),
        (markOpt, "--mark"),
        (icmpType, "--icmp-type"),
        (icmpv6Type, "--icmpv6-type"),
        (srcType, "--src-type"),
        (dstType, "--dst-type"),
        (limitIfaceIn, "--limit-iface-in"),
        (limitIfaceOut, "--limit-iface-out"),
    ]
}

/// Decodes the words of one rule (after `-A CHAIN`) into clauses and a target.
///
/// Options belong to the most recently loaded match module that owns them (as iptables-save
/// prints them, right after their `-m`); `--sport`/`--dport` after a bare `-p tcp` belong to the
/// protocol's implicit module, as `iptables-restore` allows.
struct RuleReader {
    struct Failure: Error {
        var column: Int
        var message: String
    }

    let tokens: [Token]
    var i: Int
    let chains: [String: Int]
    let family: IPFamily

    init(tokens: [Token], start: Int, chains: [String: Int], family: IPFamily) {
        self.tokens = tokens
        self.i = start
        self.chains = chains
        self.family = family
    }

    /// Options each modelled match module owns.
    static let moduleOptions: [String: Set<String>] = [
        "tcp": ["--sport", "--source-port", "--dport", "--destination-port", "--tcp-flags", "--syn", "--tcp-option"],
        "udp": ["--sport", "--source-port", "--dport", "--destination-port"],
        "icmp": ["--icmp-type"],
        "icmp6": ["--icmpv6-type"],
        "multiport": ["--sports", "--source-ports", "--dports", "--destination-ports", "--ports"],
        "state": ["--state"],
        "conntrack": ["--ctstate", "--ctstatus", "--ctdir", "--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc",
                      "--ctrepldst", "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport", "--ctexpire"],
        "mac": ["--mac-source"],
        "physdev": ["--physdev-in", "--physdev-out", "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged"],
        "comment": ["--comment"],
        "set": ["--match-set", "--set", "--return-nomatch", "--update-counters", "--update-subcounters",
                "--packets-eq", "--packets-lt", "--packets-gt", "--bytes-eq", "--bytes-lt", "--bytes-gt"],
        "addrtype": ["--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"],
        "mark": ["--mark"],
        "connmark": ["--mark"],
        "iprange": ["--src-range", "--dst-range"],
        "limit": ["--limit", "--limit-burst"],
        "owner": ["--uid-owner", "--gid-owner", "--socket-exists", "--suppl-groups"],
    ]

    /// Whether a modelled module owns an option; nil for a module Hopscope does not model.
    static func module(_ m: UInt64, _ name: String, owns o: UInt64, _ option: String) -> Bool? {
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
        default: return moduleOptions[name]?.contains(option)
        }
    }

    /// What a modelled (module, option) pair tests. Module first, then option: a switch on
    /// (module, option) pairs would compare both strings for every case.
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

    mutating func read() throws(Failure) -> ([RuleClause], RuleTarget) {
        var clauses: [RuleClause] = []
        clauses.reserveCapacity(tokens.count / 2)
        var modules: [(name: String, hash: UInt64)] = []
        var protocolModule: (name: String, hash: UInt64)?
        var target = RuleTarget.none
        while i < tokens.count {
            var negated = false
            var t = tokens[i]
            if t.isBang {
                negated = true
                i += 1
                guard i < tokens.count else { throw Failure(column: t.column, message: "'!' at the end of the rule negates nothing") }
                t = tokens[i]
            }
            guard t.isOption else {
                throw Failure(column: t.column, message: "expected an option such as -s, -m or -j, found '\(t.text)'")
            }
            i += 1
            let option = t.text
            let oh = t.hash
            switch oh {
            case W.j, W.jump, W.g, W.goto_:
                if negated { throw Failure(column: t.column, message: "a target cannot be negated") }
                target = try readTarget(flag: option, flagToken: t)
                // iptables-save prints the target last; anything after it belongs to the target.
                return (clauses, target)
            case W.m, W.match:
                if negated { throw Failure(column: t.column, message: "'!' cannot negate -m; put it before the module's option") }
                let values = try readValues(for: t, count: 1)
                modules.append((values[0], tokens[i - 1].hash))
                clauses.append(RuleClause(option: option, words: values, module: nil, criterion: .loadModule(values[0])))
            case W.s, W.source, W.src, W.d, W.destination, W.dst:
                let values = try readValues(for: t, count: 1)
                let source = oh == W.s || oh == W.source || oh == W.src
                let c = try address(values[0], column: tokens[i - 1].column)
                clauses.append(RuleClause(option: option, negated: negated, words: values, module: nil,
                                          criterion: c.map { source ? .source($0) : .destination($0) }
                                              ?? .unsupported("non-contiguous address mask \(values[0])")))
            case W.i, W.inInterface, W.o, W.outInterface:
                let values = try readValues(for: t, count: 1)
                let p = InterfacePattern(values[0])
                clauses.append(RuleClause(option: option, negated: negated, words: values, module: nil,
                                          criterion: oh == W.i || oh == W.inInterface ? .inInterface(p) : .outInterface(p)))
            case W.p, W.protocol_:
                let values = try readValues(for: t, count: 1)
                guard let proto = Self.protocolNumber(values[0]) else {
                    throw Failure(column: tokens[i - 1].column, message: "unknown protocol '\(values[0])' (use a name from /etc/protocols or a number)")
                }
                protocolModule = Self.implicitModule(proto).map { ($0, W.h($0)) }
                clauses.append(RuleClause(option: option, negated: negated, words: values, module: nil,
                                          criterion: .ipProtocol(proto == 0 ? nil : proto)))
            case W.f, W.fragment:
                clauses.append(RuleClause(option: option, negated: negated, words: Words(), module: nil, criterion: .fragment))
            default:
                let owner = modules.last { Self.module($0.hash, $0.name, owns: oh, option) ?? true }
                    ?? protocolModule.flatMap { Self.module($0.hash, $0.name, owns: oh, option) == true ? $0 : nil }
                guard let owner else {
                    throw Failure(column: t.column, message: "option \(option) belongs to no loaded match module (add -m MODULE before it)")
                }
                let values = try readValues(for: t, count: nil)
                let criterion = try decode(module: owner.name, moduleHash: owner.hash, option: option, optionHash: oh, values: values, at: t)
                clauses.append(RuleClause(option: option, negated: negated, words: values, module: owner.name, criterion: criterion))
            }
        }
        return (clauses, target)
    }

    /// The words after an option, kept without an array for the usual single word.
    struct Words {
        var first: String?
        var more: [String] = []
        var quoted: UInt32 = 0
        var count: Int { first == nil ? 0 : 1 + more.count }
        subscript(_ n: Int) -> String { n == 0 ? first! : more[n - 1] }
        func joined(separator: String) -> String { ([first].compactMap { $0 } + more).joined(separator: separator) }
    }

    /// Reads the words after an option: exactly `count` when given, else every word up to the next option or `!`.
    private mutating func readValues(for t: Token, count: Int?) throws(Failure) -> Words {
        var w = Words()
        while i < tokens.count, !tokens[i].isOption, !tokens[i].isBang {
            if let count, w.count == count { break }
            if tokens[i].quoted, w.count < 32 { w.quoted |= 1 << UInt32(w.count) }
            if w.first == nil { w.first = tokens[i].text } else { w.more.append(tokens[i].text) }
            i += 1
        }
        if let count, w.count != count {
            throw Failure(column: t.column, message: "\(t.text) needs \(count) value\(count == 1 ? "" : "s")")
        }
        return w
    }

    private func expect(_ values: Words, _ n: Int, _ t: Token) throws(Failure) {
        guard values.count == n else {
            throw Failure(column: t.column, message: "\(t.text) needs \(n) value\(n == 1 ? "" : "s"), found \(values.count)")
        }
    }

    private func address(_ text: String, column: Int) throws(Failure) -> IPPrefix? {
        // The common `ADDR/LEN` form without IPPrefix's general parser (this runs once per rule).
        if let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) {
            let addr = text[..<slash], len = text[text.utf8.index(after: slash)...]
            if let a = IPAddress(addr), let n = Int(len), n >= 0, n <= a.bitWidth { return IPPrefix(address: a, length: n) }
        } else if let a = IPAddress(text) {
            return IPPrefix(address: a, length: a.bitWidth)
        }
        if let p = IPPrefix(text) { return p }
        // A dotted mask that is not contiguous is legal but not modelled.
        let parts = text.split(separator: "/", maxSplits: 1)
        if parts.count == 2, IPAddress(parts[0]) != nil, IPAddress(parts[1]) != nil { return nil }
        throw Failure(column: column, message: "'\(text)' is not an address or prefix")
    }

    private func decode(module: String, moduleHash: UInt64, option: String, optionHash: UInt64, values: Words, at t: Token) throws(Failure) -> MatchCriterion {
        let valueColumn = i > 0 ? tokens[i - 1].column : t.column
        func bad(_ why: String) -> Failure { Failure(column: valueColumn, message: "\(option) \(values.joined(separator: " ")): \(why)") }
        switch Self.optionKind(module: moduleHash, option: optionHash) {
        case .sourcePort:
            try expect(values, 1, t)
            guard let r = Self.portRange(values[0]) else { throw bad("expected a port or PORT:PORT") }
            return .sourcePort(r)
        case .destinationPort:
            try expect(values, 1, t)
            guard let r = Self.portRange(values[0]) else { throw bad("expected a port or PORT:PORT") }
            return .destinationPort(r)
        case .tcpFlags:
            try expect(values, 2, t)
            guard let m = Self.tcpFlags(values[0]), let s = Self.tcpFlags(values[1]) else { throw bad("expected flag lists such as FIN,SYN,RST,ACK SYN") }
            return .tcpFlags(mask: m, set: s)
        case .syn:
            try expect(values, 0, t)
            return .tcpFlags(mask: 0x17, set: 0x02)
        case .icmpType:
            try expect(values, 1, t)
            guard let (type, codes) = Self.icmpType(values[0], v6: moduleHash == W.icmp6) else { throw bad("expected a type number, TYPE/CODE or a type name") }
            return .icmpType(type: type, codes: codes)
        case .multiport:
            try expect(values, 1, t)
            var ranges: [PortRange] = []
            for item in values[0].split(separator: ",") {
                guard let r = Self.portRange(String(item)) else { throw bad("expected ports separated by commas") }
                ranges.append(r)
            }
            let dir: MultiportDirection = option.contains("source") || option == "--sports" ? .source
                : option == "--ports" ? .either : .destination
            return .multiport(dir, ranges)
        case .state:
            try expect(values, 1, t)
            var s = ConnectionStates()
            for name in values[0].split(separator: ",") {
                guard let v = ConnectionStates.names.first(where: { $0.0 == name })?.1 else { throw bad("unknown state '\(name)'") }
                s.insert(v)
            }
            return .connectionState(s)
        case .ctstatus:
            try expect(values, 1, t)
            var s = ConnectionStatus()
            for name in values[0].split(separator: ",") {
                guard let v = ConnectionStatus.names.first(where: { $0.0 == name })?.1 else { throw bad("unknown status '\(name)'") }
                s.formUnion(v)
            }
            return .connectionStatus(s)
        case .ctdir:
            try expect(values, 1, t)
            switch values[0] {
            case "ORIGINAL": return .connectionDirectionReply(false)
            case "REPLY": return .connectionDirectionReply(true)
            default: throw bad("expected ORIGINAL or REPLY")
            }
        case .macSource:
            try expect(values, 1, t)
            guard let m = MACAddress(values[0]) else { throw bad("expected a MAC address") }
            return .macSource(m)
        case .physdevIn:
            try expect(values, 1, t)
            return .physdevIn(InterfacePattern(values[0]))
        case .physdevOut:
            try expect(values, 1, t)
            return .physdevOut(InterfacePattern(values[0]))
        case .physdevIsIn: try expect(values, 0, t); return .physdevIsIn
        case .physdevIsOut: try expect(values, 0, t); return .physdevIsOut
        case .physdevIsBridged: try expect(values, 0, t); return .physdevIsBridged
        case .comment:
            try expect(values, 1, t)
            return .comment(values[0])
        case .matchSet:
            try expect(values, 2, t)
            var flags: [Bool] = []
            for f in values[1].split(separator: ",") {
                guard f == "src" || f == "dst" else { throw bad("set dimensions are src or dst") }
                flags.append(f == "src")
            }
            return .ipset(name: values[0], sourceFlags: flags)
        case .setCounters:
            // Only decides whether the set's counters move; never whether the rule matches.
            try expect(values, 0, t)
            return .loadModule("set")
        case .addressType:
            try expect(values, 1, t)
            var types = AddressTypes()
            for name in values[0].split(separator: ",") {
                guard let idx = AddressTypes.names.firstIndex(of: String(name)) else { throw bad("unknown address type '\(name)'") }
                types.insert(AddressTypes(rawValue: 1 << UInt16(idx)))
            }
            return .addressType(source: optionHash == W.srcType, types)
        case .addressTypeLimit:
            try expect(values, 0, t)
            return .addressTypeLimitInterface(input: optionHash == W.limitIfaceIn)
        case .mark:
            try expect(values, 1, t)
            guard let (v, m) = Self.valueMask(values[0]) else { throw bad("expected VALUE[/MASK]") }
            return moduleHash == W.mark ? .mark(value: v, mask: m) : .connectionMark(value: v, mask: m)
        case .addressRange:
            try expect(values, 1, t)
            let ends = values[0].split(separator: "-", maxSplits: 1)
            guard ends.count == 2, let lo = IPAddress(ends[0]), let hi = IPAddress(ends[1]) else { throw bad("expected ADDR-ADDR") }
            return .addressRange(source: option == "--src-range", low: lo, high: hi)
        case .limit:
            return .rateLimit
        case .owner:
            return .owner(kind: String(option.dropFirst(2)), value: values.first ?? "")
        case nil:
            let what = Self.moduleOptions[module] == nil ? "match module '\(module)'" : "option \(option) of module '\(module)'"
            return .unsupported("\(what) is not modelled")
        }
    }

    private mutating func readTarget(flag: String, flagToken: Token) throws(Failure) -> RuleTarget {
        guard i < tokens.count, !tokens[i].isOption else {
            throw Failure(column: flagToken.column, message: "\(flag) needs a target or chain name")
        }
        let name = tokens[i].text
        i += 1
        var options: [RuleClause] = []
        while i < tokens.count {
            var negated = false
            var t = tokens[i]
            if t.isBang, i + 1 < tokens.count { negated = true; i += 1; t = tokens[i] }
            guard t.isOption else {
                throw Failure(column: t.column, message: "expected a target option after \(name), found '\(t.text)'")
            }
            i += 1
            let values = try readValues(for: t, count: nil)
            options.append(RuleClause(option: t.text, negated: negated, words: values, module: nil, criterion: .loadModule(name)))
        }
        let isGoto = flag == "-g" || flag == "--goto"
        let action = try targetAction(name: name, options: options, isGoto: isGoto, column: flagToken.column)
        return RuleTarget(flag: flag, name: name, options: options, action: action)
    }

    private func targetAction(name: String, options: [RuleClause], isGoto: Bool, column: Int) throws(Failure) -> TargetAction {
        func value(_ o: String) -> String? { options.first { $0.option == o }?.value }
        func has(_ o: String) -> Bool { options.contains { $0.option == o } }
        func bad(_ why: String) -> Failure { Failure(column: column, message: "\(name): \(why)") }
        let known = Self.targetOptions
        if chains[name] != nil {
            guard options.isEmpty else { throw bad("a jump to a chain takes no options") }
            return isGoto ? .goto(name) : .jump(name)
        }
        guard let allowed = known[name] else {
            return .unsupported(isGoto ? "goto to '\(name)', which this table does not declare" : "target \(name) is not modelled")
        }
        // `-g ACCEPT` is legal and acts as `-j ACCEPT`: verdicts ignore the goto flag.
        if isGoto && !["ACCEPT", "DROP", "RETURN"].contains(name) { throw bad("-g needs a user chain of this table") }
        if let o = options.first(where: { !allowed.contains($0.option) }) {
            return .unsupported("option \(o.option) of target \(name) is not modelled")
        }
        switch name {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "RETURN": return .returnFromChain
        case "REJECT": return .reject(value("--reject-with"))
        case "NOTRACK": return .notrack
        case "SNAT", "DNAT":
            let o = name == "SNAT" ? "--to-source" : "--to-destination"
            guard let spec = value(o), var r = Self.natRange(spec) else { throw bad("\(o) needs ADDR[-ADDR][:PORT[-PORT]]") }
            r.randomizesPorts = has("--random-fully") || has("--random")
            return name == "SNAT" ? .snat(r) : .dnat(r)
        case "MASQUERADE", "REDIRECT":
            var ports: PortRange?
            if let p = value("--to-ports") {
                guard let r = Self.portRange(p.replacingOccurrences(of: "-", with: ":")) else { throw bad("--to-ports needs PORT[-PORT]") }
                ports = r
            }
            return name == "MASQUERADE" ? .masquerade(ports: ports) : .redirect(ports: ports)
        case "MARK":
            guard let o = options.first, let v = o.value, let (value, mask) = Self.valueMask(v) else { throw bad("needs --set-xmark VALUE[/MASK]") }
            return .mark(Self.markChange(o.option, value, mask, hadMask: v.contains("/")))
        case "CONNMARK":
            func mask(_ o: String) throws(Failure) -> UInt32? {
                guard let v = value(o) else { return nil }
                guard let (m, _) = Self.valueMask(v) else { throw bad("\(o) needs a number") }
                return m
            }
            let common = try mask("--mask")
            if has("--save-mark") {
                return .connectionMark(.save(nfmask: try mask("--nfmask") ?? common ?? .max, ctmask: try mask("--ctmask") ?? common ?? .max))
            }
            if has("--restore-mark") {
                return .connectionMark(.restore(nfmask: try mask("--nfmask") ?? common ?? .max, ctmask: try mask("--ctmask") ?? common ?? .max))
            }
            guard let o = options.first, let v = o.value, let (value, m) = Self.valueMask(v) else { throw bad("needs --set-xmark, --save-mark or --restore-mark") }
            return .connectionMark(.set(Self.markChange(o.option, value, m, hadMask: v.contains("/"))))
        case "CHECKSUM": return .checksumFill
        case "LOG": return .log
        case "CT":
            if has("--notrack") { return .notrack }
            var zone: UInt16?
            if let z = value("--zone") {
                guard let n = UInt16(z) else { return .unsupported("CT --zone \(z) (a mark-derived zone) is not modelled") }
                zone = n
            }
            return .conntrackTemplate(zone: zone)
        default: return .unsupported("target \(name) is not modelled")
        }
    }

    /// Options each modelled target takes.
    static let targetOptions: [String: Set<String>] = [
        "ACCEPT": [], "DROP": [], "RETURN": [], "NOTRACK": [],
        "REJECT": ["--reject-with"],
        "SNAT": ["--to-source", "--random", "--random-fully", "--persistent"],
        "DNAT": ["--to-destination", "--random", "--persistent"],
        "MASQUERADE": ["--to-ports", "--random", "--random-fully"],
        "REDIRECT": ["--to-ports", "--random"],
        "MARK": ["--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark"],
        "CONNMARK": ["--set-xmark", "--set-mark", "--save-mark", "--restore-mark", "--nfmask", "--ctmask", "--mask",
                     "--and-mark", "--or-mark", "--xor-mark"],
        "CHECKSUM": ["--checksum-fill"],
        "LOG": ["--log-prefix", "--log-level", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode"],
        "CT": ["--notrack", "--zone", "--zone-orig", "--zone-reply", "--helper", "--ctevents", "--expevents", "--timeout"],
    ]

    // MARK: Value syntax

    static func markChange(_ option: String, _ value: UInt32, _ mask: UInt32, hadMask: Bool) -> MarkChange {
        switch option {
        case "--set-mark": return MarkChange(clear: (hadMask ? mask : .max) | value, xor: value)
        case "--and-mark": return MarkChange(clear: ~value, xor: 0)
        case "--or-mark": return MarkChange(clear: value, xor: value)
        case "--xor-mark": return MarkChange(clear: 0, xor: value)
        default: return MarkChange(clear: hadMask ? mask : .max, xor: value)
        }
    }

    static func number(_ s: Substring) -> UInt32? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt32(s.dropFirst(2), radix: 16) }
        return UInt32(s)
    }

    /// `VALUE[/MASK]`; the mask defaults to all ones.
    static func valueMask(_ s: String) -> (UInt32, UInt32)? {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let v = number(parts[0]) else { return nil }
        if parts.count == 1 { return (v, .max) }
        guard let m = number(parts[1]) else { return nil }
        return (v, m)
    }

    static let serviceNames: [String: UInt16] = [
        "ssh": 22, "http": 80, "https": 443, "domain": 53, "bootps": 67, "bootpc": 68, "ntp": 123, "telnet": 23, "ftp": 21, "smtp": 25,
    ]

    /// `PORT`, `PORT:PORT`, `:PORT` or `PORT:`.
    static func portRange(_ s: String) -> PortRange? {
        func port(_ p: Substring, default d: UInt16) -> UInt16? { p.isEmpty ? d : (UInt16(p) ?? serviceNames[String(p)]) }
        guard let colon = s.firstIndex(of: ":") else {
            guard !s.isEmpty, let p = port(s[...], default: 0) else { return nil }
            return PortRange(p, p)
        }
        guard let lo = port(s[..<colon], default: 0), let hi = port(s[s.index(after: colon)...], default: .max), lo <= hi else { return nil }
        return PortRange(lo, hi)
    }

    static let protocolNames: [String: UInt8] = [
        "all": 0, "tcp": 6, "udp": 17, "udplite": 136, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "esp": 50, "ah": 51,
        "sctp": 132, "mh": 135, "gre": 47, "vrrp": 112, "igmp": 2, "ipip": 4, "ospf": 89, "pim": 103,
    ]

    static func protocolNumber(_ s: String) -> UInt8? {
        switch s {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        default: return protocolNames[s.lowercased()] ?? UInt8(s)
        }
    }

    static func implicitModule(_ proto: UInt8) -> String? {
        switch proto {
        case 6: "tcp"
        case 17: "udp"
        case 1: "icmp"
        case 58: "icmp6"
        default: nil
        }
    }

    static let tcpFlagNames: [String: UInt8] = [
        "FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80, "ALL": 0xFF, "NONE": 0,
    ]

    static func tcpFlags(_ s: String) -> UInt8? {
        var v: UInt8 = 0
        for name in s.split(separator: ",") {
            guard let b = tcpFlagNames[String(name).uppercased()] else { return nil }
            v |= b
        }
        return v
    }

    static let icmpNames: [String: (UInt8, UInt8?)] = [
        "echo-reply": (0, nil), "pong": (0, nil), "destination-unreachable": (3, nil), "network-unreachable": (3, 0),
        "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3), "fragmentation-needed": (3, 4),
        "source-quench": (4, nil), "redirect": (5, nil), "echo-request": (8, nil), "ping": (8, nil), "router-advertisement": (9, nil),
        "router-solicitation": (10, nil), "time-exceeded": (11, nil), "ttl-exceeded": (11, nil), "parameter-problem": (12, nil),
        "timestamp-request": (13, nil), "timestamp-reply": (14, nil),
    ]
    static let icmp6Names: [String: (UInt8, UInt8?)] = [
        "destination-unreachable": (1, nil), "packet-too-big": (2, nil), "time-exceeded": (3, nil), "parameter-problem": (4, nil),
        "echo-request": (128, nil), "echo-reply": (129, nil), "router-solicitation": (133, nil), "router-advertisement": (134, nil),
        "neighbour-solicitation": (135, nil), "neighbor-solicitation": (135, nil), "neighbour-advertisement": (136, nil),
        "neighbor-advertisement": (136, nil), "redirect": (137, nil),
    ]

    /// `any`, `TYPE`, `TYPE/CODE` or a name; a type alone matches every code.
    static func icmpType(_ s: String, v6: Bool) -> (UInt8?, ClosedRange<UInt8>)? {
        if s == "any" { return (nil, 0...255) }
        if let (t, c) = (v6 ? icmp6Names : icmpNames)[s] { return (t, c.map { $0...$0 } ?? 0...255) }
        let parts = s.split(separator: "/", maxSplits: 1)
        guard let t = UInt8(parts[0]) else { return nil }
        if parts.count == 1 { return (t, 0...255) }
        guard let c = UInt8(parts[1]) else { return nil }
        return (t, c...c)
    }

    /// `ADDR[-ADDR][:PORT[-PORT]]` (IPv6 addresses in brackets when a port follows).
    static func natRange(_ s: String) -> NATRange? {
        var addrPart = Substring(s)
        var portPart: Substring?
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            addrPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") { portPart = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if s.filter({ $0 == ":" }).count == 1 {
            let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            addrPart = parts[0]
            portPart = parts[1]
        } else if s.hasPrefix(":") {
            addrPart = ""
            portPart = s.dropFirst()
        }
        var low: IPAddress?, high: IPAddress?
        if !addrPart.isEmpty {
            let ends = addrPart.split(separator: "-", maxSplits: 1)
            guard let l = IPAddress(ends[0]) else { return nil }
            low = l
            if ends.count == 2 {
                guard let h = IPAddress(ends[1]) else { return nil }
                high = h
            } else {
                high = l
            }
        }
        var ports: PortRange?
        if let portPart {
            guard let r = portRange(portPart.replacingOccurrences(of: "-", with: ":")) else { return nil }
            ports = r
        }
        return NATRange(low: low, high: high, ports: ports)
    }
}

extension RuleClause {
    init(option: String, negated: Bool = false, words: RuleReader.Words, module: String?, criterion: MatchCriterion) {
        self.option = option
        self.negated = negated
        self.value = words.first
        self.moreValues = words.more
        self.quotedValues = words.quoted
        self.module = module
        self.criterion = criterion
    }
}
