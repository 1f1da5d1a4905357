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

/// Chains of one ruleset indexed per table, with jumps resolved to chain indices.
struct CompiledRuleset: Sendable {
    struct Chain: Sendable {
        var name: String
        var policy: String?
        var rules: [FirewallRule]
        var targets: [Int]  // chain index for jump/goto, -1 otherwise
        var policyReference: FirewallRuleReference?
    }
    struct Table: Sendable {
        var name: String
        var chains: [Chain]
        var index: [String: Int]
    }
    var family: IPFamily
    var tables: [String: Table] = [:]

    init(_ r: FirewallRuleset) {
        family = r.family
        for t in r.tables {
            var index: [String: Int] = [:]
            for (i, c) in t.chains.enumerated() { index[c.name] = i }
            let chains = t.chains.map { c -> Chain in
                let targets = c.rules.map { rule -> Int in
                    switch rule.target.action {
                    case .jump(let n), .goto(let n): index[n] ?? -1
                    default: -1
                    }
                }
                let policyRef = c.policy.map {
                    FirewallRuleReference(family: r.family, table: t.name, chain: c.name, position: 0,
                                          text: ":\(c.name) \($0)", specification: "policy \($0)", comment: nil, counters: c.counters, lineNumber: c.lineNumber)
                }
                return Chain(name: c.name, policy: c.policy, rules: c.rules, targets: targets, policyReference: policyRef)
            }
            tables[t.name] = Table(name: t.name, chains: chains, index: index)
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
