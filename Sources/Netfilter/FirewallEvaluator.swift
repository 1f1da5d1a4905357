import HopscopeModel

/// Traces packets through the netfilter rules of one namespace the way the kernel runs them:
/// hooks in order (PREROUTING, INPUT / FORWARD, OUTPUT, POSTROUTING), per hook the tables by
/// priority (raw, mangle, nat, filter, security), jumps, gotos and returns, chain policies,
/// marks, connection state and NAT (DNAT before routing, SNAT after).
///
/// Build it once per ruleset (it compiles the chains into indexed form) and call `trace` as often
/// as needed; it is an immutable value, safe to share between tasks. Anything it does not model
/// gives `unknown` with the rule named.
public struct FirewallEvaluator: Sendable {
    public let ipv4: FirewallRuleset?
    public let ipv6: FirewallRuleset?
    public let ipsets: IPSetDump?
    /// Addresses of the namespace's interfaces: for MASQUERADE, REDIRECT and `-m addrtype`.
    /// Nil when unknown (those then give `unknown`).
    public let interfaceAddresses: [String: [IPPrefix]]?

    let compiled4: CompiledRuleset?
    let compiled6: CompiledRuleset?

    public init(ipv4: FirewallRuleset?, ipv6: FirewallRuleset? = nil, ipsets: IPSetDump? = nil, interfaceAddresses: [String: [IPPrefix]]? = nil) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.ipsets = ipsets
        self.interfaceAddresses = interfaceAddresses
        compiled4 = ipv4.map { CompiledRuleset($0) }
        compiled6 = ipv6.map { CompiledRuleset($0) }
    }

    /// Decides where the packet goes after PREROUTING when NAT changed its destination: the
    /// output interface, or nil for local delivery. Without it the traversal's own output
    /// interface is kept (and a REDIRECT, or a DNAT to a local address, means local delivery).
    public typealias RouteLookup = @Sendable (PacketKey) -> RouteDecision

    public enum RouteDecision: Hashable, Sendable {
        case local
        case forward(outInterface: String)
        case unknown(String)
    }

    /// Traces `packet` through this namespace's rules. Never throws: what cannot be evaluated
    /// ends the trace with an `unknown` verdict naming the rule and the reason.
    public func trace(_ packet: PacketKey, through traversal: Traversal, connection: ConnectionContext = .new,
                      route: RouteLookup? = nil) -> FirewallTrace {
        var run = TraceRun(evaluator: self, packet: packet, traversal: traversal, connection: connection)
        run.execute(route: route)
        return run.result()
    }

    /// Traces a reply to the connection a previous trace opened: the reply tuple (source and
    /// destination swapped, after NAT), as an established packet in the reply direction with the
    /// connection's NAT binding and mark, so its translation is undone as the kernel does.
    public func traceReply(to original: FirewallTrace, reply packet: PacketKey, through traversal: Traversal,
                           route: RouteLookup? = nil) -> FirewallTrace {
        let ctx = ConnectionContext(state: .established, isReply: true, packetMark: 0,
                                    connectionMark: original.connectionMarkAfter, binding: original.binding)
        return trace(packet, through: traversal, connection: ctx, route: route)
    }
}

// MARK: Compiled form

/// The chains of one ruleset in the form a trace walks: class-held (a trace never copies rule
/// values), jumps resolved to chain indices, evidence prebuilt, and per long chain an index of
/// rules by the exact interface or bridge port they require, so a trace visits only the rules
/// that can match (the kernel's linear order is kept). Immutable after init.
final class CompiledRuleset: Sendable {
    struct Clause: Sendable {
        let criterion: MatchCriterion
        let negated: Bool
    }
    final class Rule: Sendable {
        let clauses: [Clause]
        let action: TargetAction
        /// Chain index for jump and goto, -1 otherwise.
        let targetChain: Int
        let reference: FirewallRuleReference
        init(clauses: [Clause], action: TargetAction, targetChain: Int, reference: FirewallRuleReference) {
            self.clauses = clauses; self.action = action; self.targetChain = targetChain; self.reference = reference
        }
    }
    /// Interface fields a rule can require exactly (`-i tap1`, `--physdev-out tap1`).
    enum GuardField: UInt8, Sendable, CaseIterable { case inInterface, outInterface, physdevIn, physdevOut }
    struct GuardKey: Hashable, Sendable {
        let field: GuardField
        let name: String
    }
    final class Chain: Sendable {
        let name: String
        let policy: String?
        let rules: [Rule]
        let policyReference: FirewallRuleReference?
        /// Rule indices (ascending) by the exact interface they require; nil for short chains.
        let guarded: [GuardKey: [Int32]]?
        /// Rule indices (ascending) without such a requirement.
        let unguarded: [Int32]
        let guardFields: [GuardField]

        init(name: String, policy: String?, rules: [Rule], policyReference: FirewallRuleReference?) {
            self.name = name
            self.policy = policy
            self.rules = rules
            self.policyReference = policyReference
            guard rules.count >= 16 else {
                guarded = nil; unguarded = []; guardFields = []
                return
            }
            var g: [GuardKey: [Int32]] = [:]
            var u: [Int32] = []
            var fields = Set<GuardField>()
            for (i, r) in rules.enumerated() {
                if let key = Chain.guardKey(r) {
                    g[key, default: []].append(Int32(i))
                    fields.insert(key.field)
                } else {
                    u.append(Int32(i))
                }
            }
            guarded = g
            unguarded = u
            guardFields = GuardField.allCases.filter { fields.contains($0) }
        }

        /// The first exact, non-negated interface the rule requires: a rule cannot match a
        /// packet whose interface differs, whatever its other clauses say.
        static func guardKey(_ r: Rule) -> GuardKey? {
            for c in r.clauses where !c.negated {
                switch c.criterion {
                case .inInterface(let p) where !p.isWildcard: return GuardKey(field: .inInterface, name: p.stem)
                case .outInterface(let p) where !p.isWildcard: return GuardKey(field: .outInterface, name: p.stem)
                case .physdevIn(let p) where !p.isWildcard: return GuardKey(field: .physdevIn, name: p.stem)
                case .physdevOut(let p) where !p.isWildcard: return GuardKey(field: .physdevOut, name: p.stem)
                default: continue
                }
            }
            return nil
        }
    }
    final class Table: Sendable {
        let name: String
        let chains: [Chain]
        let index: [String: Int]
        init(name: String, chains: [Chain], index: [String: Int]) { self.name = name; self.chains = chains; self.index = index }
    }

    let family: IPFamily
    let tables: [String: Table]

    func chainName(_ table: String, _ chain: Int) -> String? { tables[table]?.chains[chain].name }

    func reference(_ id: TraceRun.RuleID) -> FirewallRuleReference? {
        guard let table = tables[id.table] else { return nil }
        let chain = table.chains[id.chain]
        if id.rule < 0 { return chain.policyReference }
        return chain.rules[id.rule].reference
    }

    init(_ r: FirewallRuleset) {
        family = r.family
        var tables: [String: Table] = [:]
        for t in r.tables {
            var index: [String: Int] = [:]
            for (i, c) in t.chains.enumerated() { index[c.name] = i }
            let chains = t.chains.map { c -> Chain in
                let rules = c.rules.map { rule -> Rule in
                    let action = rule.action
                    var target = -1
                    switch action {
                    case .jump(let n), .goto(let n): target = index[n] ?? -1
                    default: break
                    }
                    let ref: FirewallRuleReference
                    var clauses: [Clause] = []
                    if case .parsed(let dump, let i) = rule.body {
                        // The decoded clauses as the parser left them: no strings are built.
                        ref = FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: rule.position,
                                                    counters: rule.counters, lineNumber: rule.lineNumber, dump: dump, index: i)
                        let range = dump.rules[i].clauseRange
                        clauses.reserveCapacity(range.count)
                        for k in range { Self.append(dump.clauses[k].criterion, dump.clauses[k].negated, to: &clauses) }
                    } else {
                        ref = FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: rule.position,
                                                    text: rule.ruleText, specification: rule.specificationText, comment: rule.comment,
                                                    counters: rule.counters, lineNumber: rule.lineNumber)
                        for clause in rule.clauses { Self.append(clause.criterion, clause.negated, to: &clauses) }
                    }
                    return Rule(clauses: clauses, action: action, targetChain: target, reference: ref)
                }
                let policyRef = c.policy.map {
                    FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: 0,
                                          text: ":\(c.name) \($0)", specification: "policy \($0)", comment: nil, counters: c.counters, lineNumber: c.lineNumber)
                }
                return Chain(name: c.name, policy: c.policy, rules: rules, policyReference: policyRef)
            }
            tables[t.name] = Table(name: t.name, chains: chains, index: index)
        }
        self.tables = tables
    }
}

extension CompiledRuleset {
    /// Adds a clause a trace has to test: module loads and comments always hold, so they are left out.
    fileprivate static func append(_ criterion: MatchCriterion, _ negated: Bool, to clauses: inout [Clause]) {
        switch criterion {
        case .loadModule, .comment: return
        default: clauses.append(Clause(criterion: criterion, negated: negated))
        }
    }
}

/// Netfilter hooks and the tables each runs, in kernel priority order.
enum Hook: String {
    case prerouting = "PREROUTING", input = "INPUT", forward = "FORWARD", output = "OUTPUT", postrouting = "POSTROUTING"

    var tables: [String] {
        switch self {
        case .prerouting: ["raw", "mangle", "nat"]
        case .input: ["mangle", "filter", "security", "nat"]
        case .forward: ["mangle", "filter", "security"]
        case .output: ["raw", "mangle", "nat", "filter", "security"]
        case .postrouting: ["mangle", "nat"]
        }
    }
    /// NAT at this hook rewrites the destination (before routing) or the source (after it).
    var natRewritesDestination: Bool { self == .prerouting || self == .output }
}
