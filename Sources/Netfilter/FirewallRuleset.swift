import HopscopeModel

/// Which iptables program a dump came from: `iptables-save` (IPv4) or `ip6tables-save` (IPv6).
public enum IPFamily: String, Hashable, Sendable, Codable {
    case ipv4, ipv6
}

/// Packet and byte counters as `iptables-save -c` prints them (`[packets:bytes]`).
public struct PacketCounters: Hashable, Sendable, Codable, CustomStringConvertible {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) { self.packets = packets; self.bytes = bytes }
    public static let zero = PacketCounters(packets: 0, bytes: 0)
    public var description: String { "[\(packets):\(bytes)]" }
}

/// Every table and chain of one `iptables-save` or `ip6tables-save` dump, with every rule in order.
///
/// A value type built by `FirewallRuleset.parse(_:)`; it holds no live state, so it can be kept in
/// a snapshot (as the dump text) and re-parsed anywhere.
public struct FirewallRuleset: Hashable, Sendable {
    public var family: IPFamily
    /// Tables in the order the dump lists them.
    public var tables: [FirewallTable]

    public init(family: IPFamily, tables: [FirewallTable] = []) {
        self.family = family
        self.tables = tables
    }

    /// The table called `name` (`filter`, `nat`, `mangle`, `raw`, `security`), if the dump has it.
    public func table(_ name: String) -> FirewallTable? { tables.first { $0.name == name } }

    /// Every rule of every table, in dump order.
    public var allRules: [FirewallRule] { tables.flatMap { $0.chains.flatMap(\.rules) } }

    /// The dump as `iptables-save` would print it (without its `#` comment lines): tables, chain
    /// declarations, rules, `COMMIT`. Counters appear where the parsed dump had them.
    public var saveText: String {
        var out = ""
        for table in tables {
            out += "*\(table.name)\n"
            for chain in table.chains { out += chain.declarationText + "\n" }
            for chain in table.chains {
                for rule in chain.rules { out += rule.formatted() + "\n" }
            }
            out += "COMMIT\n"
        }
        return out
    }
}

/// One table (`*filter`, `*nat`, ...) of a dump.
public struct FirewallTable: Hashable, Sendable {
    public var name: String
    /// Chains in declaration order (built-in chains first, as iptables-save prints them).
    public var chains: [FirewallChain]
    /// Line of the `*table` header in the dump (1-based).
    public var lineNumber: Int

    public init(name: String, chains: [FirewallChain] = [], lineNumber: Int = 0) {
        self.name = name
        self.chains = chains
        self.lineNumber = lineNumber
    }

    public func chain(_ name: String) -> FirewallChain? { chains.first { $0.name == name } }
}

/// One chain: built-in (with a policy) or user-defined (`-` in the dump), and its rules.
public struct FirewallChain: Hashable, Sendable {
    public var name: String
    /// `ACCEPT` or `DROP` for a built-in chain; nil for a user-defined chain.
    public var policy: String?
    /// The chain's counters: for a built-in chain, the packets its policy decided.
    public var counters: PacketCounters?
    public var rules: [FirewallRule]
    /// Line of the `:CHAIN` declaration (1-based; 0 when built in code).
    public var lineNumber: Int

    public init(name: String, policy: String?, counters: PacketCounters? = PacketCounters.zero, rules: [FirewallRule] = [], lineNumber: Int = 0) {
        self.name = name
        self.policy = policy
        self.counters = counters
        self.rules = rules
        self.lineNumber = lineNumber
    }

    public var isBuiltin: Bool { policy != nil }

    /// The declaration line as iptables-save prints it: `:FORWARD ACCEPT [465:43718]`.
    public var declarationText: String {
        ":\(name) \(policy ?? "-")" + (counters.map { " \($0)" } ?? "")
    }
}

/// One rule (`-A CHAIN ...`) with where it came from, its counters, its matches and its target.
///
/// `text` is the line exactly as the dump shows it; `formatted()` rebuilds the same line from the
/// parsed clauses (the round-trip the tests check on real dumps). A parsed rule keeps only a
/// reference into its dump's decoded form: `text`, `clauses` and `target` are built when read
/// (a ruleset of 20,000 rules is mostly evaluated, rarely printed). Setting one of them makes
/// the rule a value of its own.
public struct FirewallRule: Hashable, Sendable {
    public var table: String
    public var chain: String
    /// 1-based position in its chain, as `iptables -L --line-numbers` counts.
    public var position: Int
    /// 1-based line in the dump (0 when built in code).
    public var lineNumber: Int
    /// The `[packets:bytes]` prefix of `iptables-save -c`, when present.
    public var counters: PacketCounters?
    var body: Body

    /// Where the rule's text, clauses and target come from.
    enum Body: Sendable {
        /// Rule `index` of a parsed dump.
        case parsed(ParsedDump, Int)
        /// Built in code, or changed after parsing.
        indirect case built(text: String, clauses: [RuleClause], target: RuleTarget)
    }

    public init(table: String, chain: String, position: Int, lineNumber: Int = 0, counters: PacketCounters? = nil,
                text: String? = nil, clauses: [RuleClause], target: RuleTarget) {
        self.table = table
        self.chain = chain
        self.position = position
        self.lineNumber = lineNumber
        self.counters = counters
        body = .built(text: text ?? "", clauses: clauses, target: target)
        if text == nil { body = .built(text: formatted(), clauses: clauses, target: target) }
    }

    init(table: String, chain: String, position: Int, lineNumber: Int, counters: PacketCounters?, dump: ParsedDump, index: Int) {
        self.table = table
        self.chain = chain
        self.position = position
        self.lineNumber = lineNumber
        self.counters = counters
        body = .parsed(dump, index)
    }

    /// The line as the dump shows it (counters included).
    public var text: String {
        get {
            switch body {
            case .parsed(let dump, let i): dump.lineText(i)
            case .built(let text, _, _): text
            }
        }
        set { body = .built(text: newValue, clauses: clauses, target: target) }
    }

    /// Matches in the order written, including the `-m module` clauses that load them.
    public var clauses: [RuleClause] {
        get {
            switch body {
            case .parsed(let dump, let i): dump.clauses(i)
            case .built(_, let clauses, _): clauses
            }
        }
        set { body = .built(text: text, clauses: newValue, target: target) }
    }

    public var target: RuleTarget {
        get {
            switch body {
            case .parsed(let dump, let i): dump.target(i)
            case .built(_, _, let target): target
            }
        }
        set { body = .built(text: text, clauses: clauses, target: newValue) }
    }

    /// What the target does, without building the target's strings.
    var action: TargetAction {
        switch body {
        case .parsed(let dump, let i): dump.rules[i].action
        case .built(_, _, let target): target.action
        }
    }

    public static func == (a: FirewallRule, b: FirewallRule) -> Bool {
        guard a.table == b.table, a.chain == b.chain, a.position == b.position, a.lineNumber == b.lineNumber,
              a.counters == b.counters else { return false }
        if case .parsed(let da, let ia) = a.body, case .parsed(let db, let ib) = b.body, da === db, ia == ib { return true }
        return a.text == b.text && a.clauses == b.clauses && a.target == b.target
    }

    public func hash(into h: inout Hasher) {
        h.combine(table); h.combine(chain); h.combine(position); h.combine(lineNumber); h.combine(counters); h.combine(text)
    }

    /// The `-m comment --comment` text (several comments are joined with "; "), as Neutron writes them.
    public var comment: String? {
        if case .parsed(let dump, let i) = body { return dump.comment(i) }
        var found: [String] = []
        for c in clauses { if case .comment(let s) = c.criterion { found.append(s) } }
        return found.isEmpty ? nil : found.joined(separator: "; ")
    }

    /// The rule without its counters: `-A CHAIN ...`, as `iptables-save` without `-c` prints it
    /// (the dump's own text when it has one).
    public var ruleText: String {
        if case .parsed(let dump, let i) = body { return dump.ruleText(i) }
        let text = self.text
        guard counters != nil, text.hasPrefix("["), let close = text.firstIndex(of: "]") else {
            return text.isEmpty ? formatted(withCounters: false) : text
        }
        return String(text[text.index(after: close)...].drop { $0 == " " })
    }

    /// The rule's matches and target without `-A CHAIN` and without comment clauses: what the rule does.
    public var specificationText: String { Self.specificationText(clauses, target) }

    /// The specification of a rule with these clauses and target (see `specificationText`).
    static func specificationText(_ clauses: [RuleClause], _ target: RuleTarget) -> String {
        var parts: [String] = []
        var skipModule = false
        for (i, c) in clauses.enumerated() {
            if case .loadModule(let m) = c.criterion, m == "comment" {
                // Drop `-m comment` only when every clause it loads is a comment.
                let rest = clauses[(i + 1)...].prefix { if case .loadModule = $0.criterion { false } else { true } }
                skipModule = rest.allSatisfy { if case .comment = $0.criterion { true } else { false } }
                if skipModule { continue }
            }
            if case .comment = c.criterion, skipModule { continue }
            parts.append(c.formatted())
        }
        parts.append(target.formatted())
        return parts.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Rebuilds the rule line from its parsed parts, quoting values as iptables-save does.
    public func formatted(withCounters: Bool = true) -> String {
        var s = ""
        if withCounters, let counters { s += "\(counters) " }
        s += "-A " + RuleWord.quotedIfNeeded(chain, wasQuoted: false)
        for c in clauses { s += " " + c.formatted() }
        let t = target.formatted()
        if !t.isEmpty { s += " " + t }
        return s
    }
}

/// One option of a rule with its values: `-s 10.0.0.0/24`, `-m tcp`, `! --ctstate DNAT`.
public struct RuleClause: Hashable, Sendable {
    /// The option as written: `-s`, `-m`, `--dport`, `--physdev-is-bridged`.
    public var option: String
    public var negated: Bool
    /// The first word after the option (most options take one), unquoted.
    public var value: String?
    /// Any further words (`--match-set NAME src`, `--tcp-flags MASK COMP`).
    public var moreValues: [String]
    /// The words after the option, unquoted.
    public var values: [String] {
        guard let value else { return [] }
        return moreValues.isEmpty ? [value] : [value] + moreValues
    }
    /// Bit i set when value i was quoted in the dump (so printing keeps the quotes).
    public var quotedValues: UInt32
    /// The match module this option belongs to (`tcp`, `physdev`, ...), nil for built-in options.
    public var module: String?
    /// What the clause means, decoded at parse time.
    public var criterion: MatchCriterion

    public init(option: String, negated: Bool = false, values: [String], quotedValues: UInt32 = 0, module: String?, criterion: MatchCriterion) {
        self.option = option
        self.negated = negated
        self.value = values.first
        self.moreValues = values.count > 1 ? Array(values.dropFirst()) : []
        self.quotedValues = quotedValues
        self.module = module
        self.criterion = criterion
    }

    public func formatted() -> String {
        var s = negated ? "! " + option : option
        guard let value else { return s }
        s += " " + RuleWord.quotedIfNeeded(value, wasQuoted: quotedValues & 1 != 0)
        for (i, v) in moreValues.enumerated() {
            s += " " + RuleWord.quotedIfNeeded(v, wasQuoted: quotedValues & (1 << UInt32(min(i + 1, 31))) != 0)
        }
        return s
    }
}

/// Quoting of words the way iptables-save prints strings (`xtables_save_string`).
enum RuleWord {
    /// Quotes `word` when it was quoted in the dump, or when it could not be read back unquoted.
    static func quotedIfNeeded(_ word: String, wasQuoted: Bool) -> String {
        let needs = word.isEmpty || word.utf8.contains { $0 == 0x20 || $0 == 0x22 || $0 == 0x27 || $0 == 0x5C || $0 == 0x09 }
        guard wasQuoted || needs else { return word }
        var s = "\""
        for ch in word.unicodeScalars {
            if ch == "\"" || ch == "\\" || ch == "'" { s.unicodeScalars.append("\\") }
            s.unicodeScalars.append(ch)
        }
        return s + "\""
    }
}

/// The target of a rule (`-j NAME options` or `-g CHAIN`) with its decoded meaning.
public struct RuleTarget: Hashable, Sendable {
    /// `-j` or `-g`; nil for a rule without a target (it only counts packets).
    public var flag: String?
    public var name: String
    /// Target options in order, each with its values (`--to-destination 192.0.2.5`).
    public var options: [RuleClause]
    public var action: TargetAction

    public init(flag: String?, name: String, options: [RuleClause] = [], action: TargetAction) {
        self.flag = flag
        self.name = name
        self.options = options
        self.action = action
    }

    /// No target: the rule counts matching packets and evaluation goes on.
    public static let none = RuleTarget(flag: nil, name: "", action: .none)

    public func formatted() -> String {
        guard let flag else { return "" }
        var s = flag + " " + RuleWord.quotedIfNeeded(name, wasQuoted: false)
        for o in options { s += " " + o.formatted() }
        return s
    }
}
