import HopscopeModel

/// What the kernel's routing decides for one packet in one namespace, with the policy rule and
/// route that decided it.
public struct RouteDecision: Hashable, Sendable, Codable {
    public enum Outcome: Hashable, Sendable, Codable {
        /// Delivered to this namespace (a `local` or `broadcast` route).
        case local
        /// Sent out of `interface`, to `gateway` or, on-link, to the destination itself.
        case unicast(interface: String, gateway: IPAddress?)
        /// A `blackhole`, `unreachable` or `prohibit` route or rule: the packet stops.
        case rejected(type: String)
        /// No rule found a route.
        case noRoute
        /// Something the lookup does not model (uid ranges, l3mdev, multipath hashing).
        case unknown(String)
    }

    public var outcome: Outcome
    public var rule: RoutingRule?
    public var route: Route?
    /// The rules consulted and the route found, as `ip rule` / `ip route` print them.
    public var evidence: [Evidence]

    /// The next hop's address: the gateway, or the destination itself on a link route.
    public func nextHop(for destination: IPAddress) -> IPAddress? {
        if case .unicast(_, let gateway) = outcome { return gateway ?? destination }
        return nil
    }

    public var outputInterface: String? {
        if case .unicast(let i, _) = outcome { return i }
        return nil
    }
}

/// The kernel's FIB lookup, on a namespace's inventory: policy rules by priority (selectors from,
/// to, iif, oif, fwmark, tos, ipproto, ports; actions lookup, goto, nop, blackhole, unreachable,
/// prohibit; `suppress_prefixlength`), then the table's longest matching prefix, lowest metric,
/// `throw` falling through to the next rule.
///
/// Pure and deterministic. What it cannot decide (uid-range rules, l3mdev, the hash of a
/// multipath route) gives `unknown` with the reason, never a guess.
public enum RouteLookup {
    /// The default rules a namespace has when none were dumped (`ip rule` shows these).
    static func defaultRules(ipv4: Bool) -> [RoutingRule] {
        let family = ipv4 ? "inet" : "inet6"
        return [RoutingRule(family: family, priority: 0, action: .lookup, table: RoutingTable.local),
                RoutingRule(family: family, priority: 32766, action: .lookup, table: RoutingTable.main),
                RoutingRule(family: family, priority: 32767, action: .lookup, table: RoutingTable.default)]
    }

    /// Looks up `destination` for a packet from `source` (nil: a local socket before it picked
    /// one), arriving on `inInterface` (nil: locally generated), with packet mark `mark`.
    public static func lookup(_ inv: NamespaceInventory, destination: IPAddress, source: IPAddress? = nil,
                              inInterface: String? = nil, outInterface: String? = nil, mark: UInt32 = 0, tos: UInt8 = 0,
                              ipProtocol: UInt8? = nil, sourcePort: UInt16? = nil, destinationPort: UInt16? = nil) -> RouteDecision {
        let family = destination.isIPv4 ? "inet" : "inet6"
        var rules = inv.rules.filter { $0.family == family }.sorted { $0.priority < $1.priority }
        if rules.isEmpty { rules = defaultRules(ipv4: destination.isIPv4) }
        var evidence: [Evidence] = []
        var index = 0
        var steps = 0
        while index < rules.count, steps < 256 {
            steps += 1
            let rule = rules[index]
            index += 1
            switch matches(rule, source: source, destination: destination, inInterface: inInterface, outInterface: outInterface,
                           mark: mark, tos: tos, ipProtocol: ipProtocol, sourcePort: sourcePort, destinationPort: destinationPort) {
            case .no: continue
            case .unknown(let why):
                evidence.append(Evidence(kind: .policyRule, source: "ip rule", text: rule.text))
                return RouteDecision(outcome: .unknown(why), rule: rule, route: nil, evidence: evidence)
            case .yes: break
            }
            switch rule.action {
            case .nop, .unspecified: continue
            case .goto:
                guard let target = rule.gotoPriority, let next = rules.firstIndex(where: { $0.priority >= target }) else { continue }
                index = next
                continue
            case .blackhole, .unreachable, .prohibit:
                evidence.append(Evidence(kind: .policyRule, source: "ip rule", text: rule.text))
                return RouteDecision(outcome: .rejected(type: rule.action.rawValue), rule: rule, route: nil, evidence: evidence)
            case .lookup:
                let table = rule.table ?? RoutingTable.main
                guard let route = bestRoute(inv, table: table, destination: destination, tos: tos, outInterface: outInterface) else { continue }
                if route.type == .throw { continue }
                if let s = rule.suppressPrefixLength, s >= 0, route.destination.length <= Int(s) { continue }
                let isDefaultRule = [0, 32766, 32767].contains(rule.priority) && rule.from == nil && rule.to == nil
                    && rule.fwmark == nil && rule.inputInterface == nil
                if !isDefaultRule || inv.rules.contains(where: { $0.family == family && !([0, 32766, 32767].contains($0.priority)) }) {
                    evidence.append(Evidence(kind: .policyRule, source: "ip rule", text: rule.text))
                }
                evidence.append(Evidence(kind: .route, source: "route table \(RoutingTable.name(table))", text: route.text))
                return RouteDecision(outcome: outcome(of: route), rule: rule, route: route, evidence: evidence)
            }
        }
        return RouteDecision(outcome: .noRoute, rule: nil, route: nil,
                             evidence: evidence + [Evidence(kind: .route, source: "routing", text: "no route to \(destination)",
                                                            note: "no policy rule led to a table with a matching route")])
    }

    static func outcome(of route: Route) -> RouteDecision.Outcome {
        switch route.type {
        case .local, .broadcast, .anycast: return .local
        case .blackhole, .unreachable, .prohibit: return .rejected(type: route.type.description)
        case .unicast:
            if !route.nexthops.isEmpty {
                guard route.nexthops.count == 1, let dev = route.nexthops[0].interface else {
                    return .unknown("multipath route \(route.text): which next hop the kernel's hash picks is not modelled")
                }
                return .unicast(interface: dev, gateway: route.nexthops[0].gateway)
            }
            guard let dev = route.outputInterface else { return .unknown("route \(route.text) names no device") }
            return .unicast(interface: dev, gateway: route.gateway)
        default:
            return .unknown("route type \(route.type) is not modelled")
        }
    }

    /// The route of `table` the kernel picks for `destination`: longest prefix, then matching TOS,
    /// then lowest metric.
    static func bestRoute(_ inv: NamespaceInventory, table: UInt32, destination: IPAddress, tos: UInt8, outInterface: String?) -> Route? {
        var best: Route?
        for r in inv.routes where r.table == table && r.destination.address.isIPv4 == destination.isIPv4 {
            guard r.destination.contains(destination), r.sourcePrefix == nil else { continue }
            if r.tos != 0 && r.tos != tos { continue }
            if let o = outInterface, r.type == .unicast, r.outputInterface != o, !r.nexthops.contains(where: { $0.interface == o }) { continue }
            if r.flags.contains("dead") { continue }
            guard let b = best else { best = r; continue }
            if r.destination.length > b.destination.length
                || (r.destination.length == b.destination.length && (r.tos != 0 && b.tos == 0))
                || (r.destination.length == b.destination.length && r.tos == b.tos && (r.metric ?? 0) < (b.metric ?? 0)) {
                best = r
            }
        }
        return best
    }

    enum Match { case yes, no, unknown(String) }

    static func matches(_ rule: RoutingRule, source: IPAddress?, destination: IPAddress, inInterface: String?, outInterface: String?,
                        mark: UInt32, tos: UInt8, ipProtocol: UInt8?, sourcePort: UInt16?, destinationPort: UInt16?) -> Match {
        var result = true
        if let from = rule.from, from.length > 0 {
            guard let source else { return rule.inverted ? .yes : .no }
            result = result && from.contains(source)
        }
        if let to = rule.to, to.length > 0 { result = result && to.contains(destination) }
        if let iif = rule.inputInterface { result = result && (inInterface ?? "lo") == iif }
        if let oif = rule.outputInterface { result = result && outInterface == oif }
        if let m = rule.fwmark { result = result && (mark & (rule.fwmask ?? 0xFFFF_FFFF)) == m }
        if rule.tos != 0 { result = result && rule.tos == tos }
        if let p = rule.ipProtocol {
            guard let ipProtocol else { return .unknown("rule \(rule.text) needs the IP protocol") }
            result = result && p == ipProtocol
        }
        if let r = rule.sourcePorts {
            guard let sourcePort else { return .unknown("rule \(rule.text) needs the source port") }
            result = result && r.contains(sourcePort)
        }
        if let r = rule.destinationPorts {
            guard let destinationPort else { return .unknown("rule \(rule.text) needs the destination port") }
            result = result && r.contains(destinationPort)
        }
        if let uids = rule.uidRange, result {
            // A forwarded packet has uid 0; a local one, its socket's owner, which is not known.
            guard inInterface != nil else { return .unknown("rule \(rule.text) selects by the sending process's uid, which is not known") }
            result = uids.contains(0)
        }
        if rule.l3mdev, result { return .unknown("l3mdev (VRF) rule \(rule.text) is not modelled") }
        if rule.inverted { result.toggle() }
        return result ? .yes : .no
    }

    /// The source address a local socket gets for a packet routed by `decision`: the route's
    /// `src`, else the output interface's first address of the same family whose subnet holds the
    /// next hop, else its first global one, else any of the namespace.
    public static func sourceAddress(_ inv: NamespaceInventory, decision: RouteDecision, destination: IPAddress) -> IPAddress? {
        if let s = decision.route?.preferredSource { return s }
        let family = destination.isIPv4
        let candidates = inv.addresses.filter { $0.prefix.address.isIPv4 == family && $0.scope != .host && !$0.flags.contains("tentative") }
        if case .local = decision.outcome {
            return destination
        }
        guard let dev = decision.outputInterface else { return candidates.first?.prefix.address }
        let onDevice = candidates.filter { $0.interface == dev }
        let hop = decision.nextHop(for: destination) ?? destination
        return onDevice.first { $0.prefix.contains(hop) }?.prefix.address
            ?? onDevice.first { $0.scope == .global }?.prefix.address
            ?? onDevice.first?.prefix.address
            ?? candidates.first { $0.scope == .global }?.prefix.address
    }
}
