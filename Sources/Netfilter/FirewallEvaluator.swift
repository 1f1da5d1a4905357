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
/// values), each chain's rules and their clauses in two contiguous arrays (a trace reads a
/// port's chain front to back, so it reads memory in order), jumps resolved to chain indices,
/// tables and hooks by index, and per long chain an index of rules by the exact interface or
/// bridge port they require, so a trace visits only the rules that can match (the kernel's
/// linear order is kept). Immutable after init.
final class CompiledRuleset: Sendable {
    struct Clause: Sendable {
        let criterion: MatchCriterion
        let negated: Bool
    }
    /// What a trace reads of every rule it visits: plain integers, copied without reference counting.
    struct Rule: Sendable {
        /// The rule's clauses are `chain.clauses[firstClause..<endClause]`.
        let firstClause: Int32
        let endClause: Int32
        /// Chain index for jump and goto, -1 otherwise.
        let targetChain: Int32
    }
    /// Interface fields a rule can require exactly (`-i tap1`, `--physdev-out tap1`).
    enum GuardField: Int, Sendable, CaseIterable { case inInterface, outInterface, physdevIn, physdevOut }

    final class Chain: Sendable {
        let name: String
        let policy: String?
        let rules: [Rule]
        /// Every rule's clauses (without module loads and comments), rule after rule.
        let clauses: [Clause]
        /// Per rule, what its target does (read only for rules that match).
        let actions: [TargetAction]
        /// Per rule, how a trace names it.
        let references: [FirewallRuleReference]
        let policyReference: FirewallRuleReference?
        /// Per guard field, rule indices (ascending) by the exact interface they require; empty for short chains.
        let guarded: [[String: [Int32]]]
        /// Rule indices (ascending) without such a requirement.
        let unguarded: [Int32]
        let guardFields: [GuardField]
        /// Step details of a jump or goto to this chain, built once.
        let jumpText: String
        let gotoText: String

        init(name: String, policy: String?, rules: [Rule], clauses: [Clause], actions: [TargetAction],
             references: [FirewallRuleReference], policyReference: FirewallRuleReference?) {
            self.name = name
            self.policy = policy
            self.rules = rules
            self.clauses = clauses
            self.actions = actions
            self.references = references
            self.policyReference = policyReference
            jumpText = "jump to \(name)"
            gotoText = "goto \(name)"
            guard rules.count >= 16 else {
                guarded = []; unguarded = []; guardFields = []
                return
            }
            var g = [[String: [Int32]]](repeating: [:], count: GuardField.allCases.count)
            var u: [Int32] = []
            for (i, r) in rules.enumerated() {
                if let (field, name) = Chain.guardKey(clauses[Int(r.firstClause)..<Int(r.endClause)]) {
                    g[field.rawValue][name, default: []].append(Int32(i))
                } else {
                    u.append(Int32(i))
                }
            }
            guarded = g
            unguarded = u
            guardFields = GuardField.allCases.filter { !g[$0.rawValue].isEmpty }
        }

        /// The first exact, non-negated interface the rule requires: a rule cannot match a
        /// packet whose interface differs, whatever its other clauses say.
        static func guardKey(_ clauses: ArraySlice<Clause>) -> (GuardField, String)? {
            for c in clauses where !c.negated {
                switch c.criterion {
                case .inInterface(let p) where !p.isWildcard: return (.inInterface, p.stem)
                case .outInterface(let p) where !p.isWildcard: return (.outInterface, p.stem)
                case .physdevIn(let p) where !p.isWildcard: return (.physdevIn, p.stem)
                case .physdevOut(let p) where !p.isWildcard: return (.physdevOut, p.stem)
                default: continue
                }
            }
            return nil
        }
    }
    final class Table: Sendable {
        let name: String
        /// Position in `CompiledRuleset.tables`.
        let ordinal: Int
        let chains: [Chain]
        let index: [String: Int]
        init(name: String, ordinal: Int, chains: [Chain], index: [String: Int]) {
            self.name = name; self.ordinal = ordinal; self.chains = chains; self.index = index
        }
    }
    /// A table a hook runs and the index of the hook's built-in chain in it.
    struct HookTable: Sendable {
        let table: Table
        let start: Int
    }

    let family: IPFamily
    /// Tables in dump order.
    let tables: [Table]
    /// Per `Hook.ordinal`, the tables the hook runs, in kernel priority order (a table the dump
    /// lists twice counts by its last listing, as `iptables-restore` leaves it).
    let hooks: [[HookTable]]

    /// The table called `name` (its last listing).
    func table(_ name: String) -> Table? { tables.last { $0.name == name } }

    func chainName(_ table: Int, _ chain: Int) -> String { tables[table].chains[chain].name }

    func reference(_ id: TraceRun.RuleID) -> FirewallRuleReference? {
        let chain = tables[id.table].chains[id.chain]
        if id.rule < 0 { return chain.policyReference }
        return chain.references[id.rule]
    }

    init(_ r: FirewallRuleset) {
        family = r.family
        var tables: [Table] = []
        for t in r.tables {
            var index: [String: Int] = [:]
            for (i, c) in t.chains.enumerated() { index[c.name] = i }
            let chains = t.chains.map { c -> Chain in
                var clauses: [Clause] = []
                var actions: [TargetAction] = []
                var references: [FirewallRuleReference] = []
                actions.reserveCapacity(c.rules.count)
                references.reserveCapacity(c.rules.count)
                let rules = c.rules.map { rule -> Rule in
                    let action = rule.action
                    var target = -1
                    switch action {
                    case .jump(let n), .goto(let n): target = index[n] ?? -1
                    default: break
                    }
                    let first = clauses.count
                    let ref: FirewallRuleReference
                    if case .parsed(let dump, let i) = rule.body {
                        // The decoded clauses as the parser left them: no strings are built.
                        ref = FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: rule.position,
                                                    counters: rule.counters, lineNumber: rule.lineNumber, dump: dump, index: i)
                        for k in dump.rules[i].clauseRange { Self.append(dump.clauses[k].criterion, dump.clauses[k].negated, to: &clauses) }
                    } else {
                        ref = FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: rule.position,
                                                    text: rule.ruleText, specification: rule.specificationText, comment: rule.comment,
                                                    counters: rule.counters, lineNumber: rule.lineNumber)
                        for clause in rule.clauses { Self.append(clause.criterion, clause.negated, to: &clauses) }
                    }
                    actions.append(action)
                    references.append(ref)
                    return Rule(firstClause: Int32(first), endClause: Int32(clauses.count), targetChain: Int32(target))
                }
                let policyRef = c.policy.map {
                    FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: 0,
                                          text: ":\(c.name) \($0)", specification: "policy \($0)", comment: nil, counters: c.counters, lineNumber: c.lineNumber)
                }
                return Chain(name: c.name, policy: c.policy, rules: rules, clauses: clauses, actions: actions,
                             references: references, policyReference: policyRef)
            }
            tables.append(Table(name: t.name, ordinal: tables.count, chains: chains, index: index))
        }
        self.tables = tables
        var byName: [String: Table] = [:]
        for t in tables { byName[t.name] = t }
        hooks = Hook.allCases.map { hook in
            hook.tables.compactMap { name in
                guard let t = byName[name], let start = t.index[hook.rawValue] else { return nil }
                return HookTable(table: t, start: start)
            }
        }
    }

    /// Adds a clause a trace has to test: module loads and comments always hold, so they are left out.
    private static func append(_ criterion: MatchCriterion, _ negated: Bool, to clauses: inout [Clause]) {
        switch criterion {
        case .loadModule, .comment: return
        default: clauses.append(Clause(criterion: criterion, negated: negated))
        }
    }
}

/// Netfilter hooks and the tables each runs, in kernel priority order.
enum Hook: String, CaseIterable {
    case prerouting = "PREROUTING", input = "INPUT", forward = "FORWARD", output = "OUTPUT", postrouting = "POSTROUTING"

    /// Position in `Hook.allCases`, for indexing per-hook tables.
    var ordinal: Int {
        switch self {
        case .prerouting: 0
        case .input: 1
        case .forward: 2
        case .output: 3
        case .postrouting: 4
        }
    }

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
