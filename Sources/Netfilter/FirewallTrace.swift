import HopscopeModel

/// How a packet crosses the namespace whose rules are traced: which netfilter hooks it meets and
/// with which interfaces.
public struct Traversal: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Routed: PREROUTING, FORWARD, POSTROUTING.
        case forwarded
        /// To this namespace itself: PREROUTING, INPUT.
        case deliveredLocally
        /// From a local socket: OUTPUT, POSTROUTING.
        case sentLocally
        /// Through a Linux bridge: with br_netfilter on, PREROUTING, FORWARD, POSTROUTING with
        /// the bridge as in and out interface and the bridge ports as physdev; with it off, no hook.
        case bridged
    }

    public var kind: Kind
    /// The input interface (`-i`); for a bridged packet, the bridge.
    public var inInterface: String?
    /// The output interface (`-o`); for a bridged packet, the bridge.
    public var outInterface: String?
    /// The bridge port the packet came in on (`--physdev-in`).
    public var physdevIn: String?
    /// The bridge port the packet leaves by (`--physdev-out`).
    public var physdevOut: String?
    /// `net.bridge.bridge-nf-call-iptables` (or `-ip6tables`) in this namespace: whether bridged
    /// packets meet iptables at all.
    public var bridgeNetfilter: Bool

    public init(kind: Kind, inInterface: String? = nil, outInterface: String? = nil, physdevIn: String? = nil,
                physdevOut: String? = nil, bridgeNetfilter: Bool = true) {
        self.kind = kind
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.physdevIn = physdevIn
        self.physdevOut = physdevOut
        self.bridgeNetfilter = bridgeNetfilter
    }

    public static func routed(in inIF: String?, out outIF: String?) -> Traversal {
        Traversal(kind: .forwarded, inInterface: inIF, outInterface: outIF)
    }
    public static func deliveredLocally(in inIF: String?, physdevIn: String? = nil) -> Traversal {
        Traversal(kind: .deliveredLocally, inInterface: inIF, physdevIn: physdevIn)
    }
    public static func sentLocally(out outIF: String?) -> Traversal {
        Traversal(kind: .sentLocally, outInterface: outIF)
    }
    /// A packet bridged by `bridge` from port `from` to port `to`.
    public static func bridged(bridge: String?, from: String?, to: String?, netfilter: Bool = true) -> Traversal {
        Traversal(kind: .bridged, inInterface: bridge, outInterface: bridge, physdevIn: from, physdevOut: to, bridgeNetfilter: netfilter)
    }

    public var description: String {
        func name(_ s: String?) -> String { s ?? "?" }
        switch kind {
        case .forwarded: return "routed from \(name(inInterface)) to \(name(outInterface))"
        case .deliveredLocally:
            return "delivered locally from \(name(inInterface))" + (physdevIn.map { " (bridge port \($0))" } ?? "")
        case .sentLocally: return "sent locally out of \(name(outInterface))"
        case .bridged:
            return "bridged by \(name(inInterface)) from port \(name(physdevIn)) to port \(name(physdevOut))"
                + (bridgeNetfilter ? " (br_netfilter on)" : " (br_netfilter off)")
        }
    }
}

/// The connection-tracking facts a trace starts from: conntrack state is an input, not a guess.
public struct ConnectionContext: Hashable, Sendable, Codable {
    public enum State: String, Hashable, Sendable, Codable, CaseIterable {
        /// The first packet of a connection: NAT rules are consulted.
        case new
        /// A packet of a connection conntrack already knows (a reply, or later packets).
        case established
        case related
        case invalid
        case untracked
    }

    public var state: State
    /// True when the packet travels in the reply direction of its connection (`--ctdir REPLY`).
    public var isReply: Bool
    /// The packet mark (`skb->mark`) the packet arrives with: 0 for received packets.
    public var packetMark: UInt32
    /// The connection mark; 0 for a new connection, nil (unknown) for an existing one unless given.
    public var connectionMark: UInt32?
    /// The NAT the connection is already bound to (from the trace of its first packet), so that
    /// later packets and replies are translated the way the kernel translates them.
    public var binding: NATBinding?

    public init(state: State, isReply: Bool? = nil, packetMark: UInt32 = 0, connectionMark: UInt32? = nil, binding: NATBinding? = nil) {
        self.state = state
        self.isReply = isReply ?? false
        self.packetMark = packetMark
        self.connectionMark = connectionMark ?? (state == .new ? 0 : nil)
        self.binding = binding
    }

    public static let new = ConnectionContext(state: .new)
}

/// The address translation bound to a connection: its original tuple and what NAT made of it.
public struct NATBinding: Hashable, Sendable, Codable {
    public var originalSource: IPAddress?
    public var originalDestination: IPAddress?
    public var originalSourcePort: UInt16?
    public var originalDestinationPort: UInt16?
    public var translatedSource: IPAddress?
    public var translatedDestination: IPAddress?
    public var translatedSourcePort: UInt16?
    public var translatedDestinationPort: UInt16?

    public init(originalSource: IPAddress?, originalDestination: IPAddress?, originalSourcePort: UInt16? = nil, originalDestinationPort: UInt16? = nil,
                translatedSource: IPAddress?, translatedDestination: IPAddress?, translatedSourcePort: UInt16? = nil, translatedDestinationPort: UInt16? = nil) {
        self.originalSource = originalSource
        self.originalDestination = originalDestination
        self.originalSourcePort = originalSourcePort
        self.originalDestinationPort = originalDestinationPort
        self.translatedSource = translatedSource
        self.translatedDestination = translatedDestination
        self.translatedSourcePort = translatedSourcePort
        self.translatedDestinationPort = translatedDestinationPort
    }

    public var hasSourceNAT: Bool { translatedSource != originalSource || translatedSourcePort != originalSourcePort }
    public var hasDestinationNAT: Bool { translatedDestination != originalDestination || translatedDestinationPort != originalDestinationPort }
}

/// A rule or a chain policy named in a trace, with everything an operator needs to find it.
///
/// An immutable class: the evaluator builds one per rule when it compiles a ruleset and every
/// trace shares it, so naming a rule costs a reference, not a copy of its texts. For a rule of a
/// parsed dump the text, specification and comment are read from the dump when asked for (a
/// ruleset names 20,000 rules, a trace shows a few), so they cost nothing at set-up.
public final class FirewallRuleReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public let family: IPFamily
    public let table: String
    public let chain: String
    /// 1-based rule position; 0 for the chain's policy.
    public let position: Int
    public let counters: PacketCounters?
    /// Line in the dump (0 when unknown).
    public let lineNumber: Int
    private let texts: Texts

    /// Where the rule's texts come from.
    private enum Texts: Sendable {
        case given(text: String, specification: String, comment: String?)
        /// Rule `index` of a parsed dump, read on demand.
        case parsed(ParsedDump, Int)
    }

    public convenience init(family: IPFamily, table: String, chain: String, position: Int, text: String, specification: String,
                            comment: String?, counters: PacketCounters?, lineNumber: Int) {
        self.init(family: family, table: table, chain: chain, position: position, counters: counters, lineNumber: lineNumber,
                  texts: .given(text: text, specification: specification, comment: comment))
    }

    /// A reference to rule `index` of `dump`, whose texts are read from the dump when asked for.
    convenience init(family: IPFamily, table: String, chain: String, position: Int, counters: PacketCounters?, lineNumber: Int,
                     dump: ParsedDump, index: Int) {
        self.init(family: family, table: table, chain: chain, position: position, counters: counters, lineNumber: lineNumber,
                  texts: .parsed(dump, index))
    }

    private init(family: IPFamily, table: String, chain: String, position: Int, counters: PacketCounters?, lineNumber: Int, texts: Texts) {
        self.family = family
        self.table = table
        self.chain = chain
        self.position = position
        self.counters = counters
        self.lineNumber = lineNumber
        self.texts = texts
    }

    /// The rule as `iptables-save` prints it (without counters), or the policy line `:CHAIN POLICY`.
    public var text: String {
        switch texts {
        case .given(let text, _, _): text
        case .parsed(let dump, let i): dump.ruleText(i)
        }
    }

    /// What the rule does, without `-A CHAIN` and its comment: `-p tcp -m tcp --dport 22 -j RETURN`.
    public var specification: String {
        switch texts {
        case .given(_, let specification, _): specification
        case .parsed(let dump, let i): FirewallRule.specificationText(dump.clauses(i), dump.target(i))
        }
    }

    public var comment: String? {
        switch texts {
        case .given(_, _, let comment): comment
        case .parsed(let dump, let i): dump.comment(i)
        }
    }

    enum CodingKeys: String, CodingKey {
        case family, table, chain, position, text, specification, comment, counters, lineNumber
    }

    public convenience init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(family: try c.decode(IPFamily.self, forKey: .family), table: try c.decode(String.self, forKey: .table),
                  chain: try c.decode(String.self, forKey: .chain), position: try c.decode(Int.self, forKey: .position),
                  text: try c.decode(String.self, forKey: .text), specification: try c.decode(String.self, forKey: .specification),
                  comment: try c.decodeIfPresent(String.self, forKey: .comment),
                  counters: try c.decodeIfPresent(PacketCounters.self, forKey: .counters),
                  lineNumber: try c.decode(Int.self, forKey: .lineNumber))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(table, forKey: .table)
        try c.encode(chain, forKey: .chain)
        try c.encode(position, forKey: .position)
        try c.encode(text, forKey: .text)
        try c.encode(specification, forKey: .specification)
        try c.encodeIfPresent(comment, forKey: .comment)
        try c.encodeIfPresent(counters, forKey: .counters)
        try c.encode(lineNumber, forKey: .lineNumber)
    }

    public static func == (a: FirewallRuleReference, b: FirewallRuleReference) -> Bool {
        a === b || (a.family == b.family && a.table == b.table && a.chain == b.chain && a.position == b.position
            && a.text == b.text && a.counters == b.counters)
    }
    public func hash(into h: inout Hasher) {
        h.combine(family); h.combine(table); h.combine(chain); h.combine(position)
    }

    public var isPolicy: Bool { position == 0 }

    /// Where the rule lives: `filter neutron-openvswi-sg-fallback #1`.
    public var location: String { "\(table) \(chain) " + (isPolicy ? "policy" : "#\(position)") }

    public var description: String { "\(location): \(text)" }

    public var evidence: Evidence {
        var note: String?
        if let comment { note = comment }
        if let counters { note = (note.map { $0 + "; " } ?? "") + "counters \(counters.packets) packets, \(counters.bytes) bytes" }
        return Evidence(kind: .firewallRule, source: "\(family == .ipv6 ? "ip6tables" : "iptables") \(location)", text: text, note: note)
    }
}

/// One thing that happened during a trace, in order.
public struct FirewallTraceStep: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Event: String, Hashable, Sendable, Codable {
        /// A table's chain starts for this hook.
        case enterChain
        /// A rule matched (its counters would move); `detail` says what it did.
        case matched
        /// A rule could not be evaluated: `detail` says why.
        case unknown
        /// A user chain ran out of rules and returned to its caller.
        case fellOffChain
        /// A built-in chain's policy decided.
        case policy
        /// A hook was skipped (NAT for a known connection, or bridged traffic with br_netfilter off).
        case skipped
    }

    public var hook: String
    public var table: String
    public var chain: String
    public var event: Event
    public var rule: FirewallRuleReference?
    public var detail: String?
    /// Depth of user-chain calls (0 in the built-in chain), for indentation.
    public var depth: Int

    public var description: String {
        let what = rule.map { $0.isPolicy ? $0.text : "#\($0.position) \($0.text)" } ?? ""
        return "\(hook) \(table) \(chain) \(event.rawValue) \(what)" + (detail.map { " (\($0))" } ?? "")
    }
}

/// An address translation applied during a trace.
public struct NATTranslation: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable { case source, destination }
    public var kind: Kind
    public var hook: String
    /// The NAT rule (nil when an existing connection's binding was applied).
    public var rule: FirewallRuleReference?
    public var before: String
    public var after: String
    public var note: String?

    public var description: String {
        "\(kind == .source ? "SNAT" : "DNAT") at \(hook): \(before) -> \(after)" + (note.map { " (\($0))" } ?? "")
            + (rule.map { " by \($0.location)" } ?? " (existing connection)")
    }
}

/// The result of tracing one packet through one namespace's netfilter rules.
///
/// The verdict, deciding rule, NAT and notes are stored; the step-by-step path and the list of
/// matched rules are built from compact records when read (a trace is often only asked for its
/// verdict). Immutable and shareable.
public struct FirewallTrace: Sendable, Encodable {
    /// The packet as it arrived.
    public var packet: PacketKey
    /// The packet after NAT, as the next hop sees it.
    public var translatedPacket: PacketKey
    public var connection: ConnectionContext
    /// The traversal as traced (a REDIRECT turns a routed packet into a local delivery).
    public var traversal: Traversal
    /// `forward(to: [out interface])` (or `["local"]` for local delivery), `drop`, or `unknown`.
    public var verdict: Decision
    /// The rule (or chain policy) that decided: for an accepted packet, the filter-table decision
    /// of its last hook; for a drop or an unknown, where it stopped.
    public var decidingRule: FirewallRuleReference?
    public var translations: [NATTranslation]
    /// Assumptions and facts a reader should know (a REDIRECT, br_netfilter off, a NAT range).
    public var notes: [String]
    /// The binding the connection has after this packet (for tracing its later packets and replies).
    public var binding: NATBinding?
    /// The packet mark and connection mark when the packet left the last hook (nil: unknown).
    public var packetMarkAfter: UInt32
    public var connectionMarkAfter: UInt32?

    let records: [TraceRun.Step]
    let matchedIDs: [TraceRun.RuleID]
    let compiled: CompiledRuleset?

    /// Every step, in order: chains entered, rules matched (with what they did), returns, policies.
    public var steps: [FirewallTraceStep] {
        records.map { s in
            FirewallTraceStep(hook: s.hook.rawValue, table: compiled?.tables[s.table].name ?? "?",
                              chain: compiled?.chainName(s.table, s.chain) ?? "?", event: s.event,
                              rule: s.rule.flatMap { compiled?.reference(TraceRun.RuleID(table: s.table, chain: s.chain, rule: $0)) },
                              detail: s.detail.text(compiled, s.table), depth: s.depth)
        }
    }

    /// Every rule and policy whose counters this packet moves, in order.
    public var matchedRules: [FirewallRuleReference] { matchedIDs.compactMap { compiled?.reference($0) } }

    /// The evidence behind the verdict: the deciding rule first, then the NAT rules applied.
    public var evidence: [Evidence] {
        var out: [Evidence] = []
        if let decidingRule { out.append(decidingRule.evidence) }
        for t in translations { if let r = t.rule { out.append(r.evidence) } }
        for n in notes { out.append(Evidence(kind: .note, source: "netfilter trace", text: n)) }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case packet, translatedPacket, connection, traversal, verdict, decidingRule, translations, notes, binding
        case packetMarkAfter, connectionMarkAfter, steps, matchedRules
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(packet, forKey: .packet)
        try c.encode(translatedPacket, forKey: .translatedPacket)
        try c.encode(connection, forKey: .connection)
        try c.encode(traversal, forKey: .traversal)
        try c.encode(verdict, forKey: .verdict)
        try c.encodeIfPresent(decidingRule, forKey: .decidingRule)
        try c.encode(translations, forKey: .translations)
        try c.encode(notes, forKey: .notes)
        try c.encodeIfPresent(binding, forKey: .binding)
        try c.encode(packetMarkAfter, forKey: .packetMarkAfter)
        try c.encodeIfPresent(connectionMarkAfter, forKey: .connectionMarkAfter)
        try c.encode(steps, forKey: .steps)
        try c.encode(matchedRules, forKey: .matchedRules)
    }
}
