import HopscopeModel
import PathTrace
import Topology

/// NO_ROUTE: a walk stops because a namespace (an instance, a router, the provider side) has no
/// route to the destination, or the route is unreachable/prohibit/blackhole.
public struct NoRouteCheck: DiagnosisCheck {
    public let code = DiagnosisCode.noRoute
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        let stops = stopFindings(c)
        return stops + routerWithoutDefault(c).filter { f in !stops.contains { $0.location.namespace == f.location.namespace } }
    }

    /// The instance's router (the owner of its gateway) has a gateway port but no default
    /// route: nothing beyond the external subnet is reachable, so the external walk is not made.
    func routerWithoutDefault(_ c: DiagnosisContext) -> [Finding] {
        guard c.walks.contains(where: { $0.purpose == .gateway }), !c.walks.contains(where: { $0.purpose == .externalGateway }),
              let gw = c.walks.first(where: { $0.purpose == .gateway }).flatMap({ IPAddress($0.destination) }) else { return [] }
        for owner in c.topology.addressOwners[gw] ?? [] {
            guard let node = c.topology.namespace(owner.namespace), node.isRouter,
                  let qg = node.inventory.links.first(where: { $0.name.hasPrefix("qg-") }) else { continue }
            let ns = owner.namespace
            let routes = node.inventory.routes.filter { $0.table == RoutingTable.main && $0.isIPv4 }
            return [Finding(
                code: code, title: "\(ns.label) on \(c.node(ns)) has a gateway port \(qg.name) but no default route", relevance: .cause,
                location: FindingLocation(node: c.node(ns), namespace: ns.label, device: qg.name),
                headline: "\(c.instance.name)'s router \(ns.label) has no default route: nothing beyond its own subnets is reachable",
                evidence: routes.prefix(4).map { Evidence(kind: .route, source: "ip route \(ns.label)", text: $0.text) },
                advice: Advice(summary: "restore the router's default route via the external subnet's gateway (the L3 agent sets it from the subnet's gateway_ip)",
                               confirm: [c.shell(ns, "ip route"), "openstack subnet show EXTERNAL_SUBNET -c gateway_ip"],
                               fix: [c.shell(ns, "ip route add default via EXTERNAL_GATEWAY dev \(qg.name)")]))]
        }
        return []
    }

    func stopFindings(_ c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            let h = s.hop
            guard s.dropped, h.decision.isDrop, h.summary.hasPrefix("no route to") || h.summary.contains("the route to ") && h.summary.contains(" is ") else { return nil }
            let ns = c.namespaceID(of: h)
            let dst = h.packet.ipDst?.description ?? "?"
            let isInstance = ns == c.instance.nic?.namespace
            let isReply = h.direction == .reply
            return Finding(
                code: code, title: "\(h.namespace) on \(h.node) has no usable route to \(dst)", relevance: .cause,
                location: c.location(walk: s.walk, hop: h),
                headline: (isReply ? "the reply stops" : "the packet stops") + " in \(h.namespace) on \(h.node): \(h.summary)",
                evidence: h.evidence.filter { $0.kind == .route || $0.kind == .policyRule } + [Evidence(kind: .route, source: "ip route \(h.namespace)", text: h.summary)],
                advice: Advice(summary: isInstance ? "give the instance its default route back (renew its DHCP lease or reboot it; check the subnet's gateway_ip)"
                                                   : "add the missing route in \(h.namespace) (for a router: the subnet's or the external gateway's)",
                               confirm: [c.shell(ns, "ip route get \(dst)"), c.shell(ns, "ip route show table all")],
                               fix: isInstance ? [c.shell(ns, "dhclient -v")] : [c.shell(ns, "ip route add \(dst.contains(":") ? "::/0" : "default") via GATEWAY")]))
        }
    }
}

/// IP_FORWARDING_DISABLED: a walk stops at a namespace that must route the packet (a router)
/// because net.ipv4.ip_forward (or IPv6 forwarding) is 0 there.
public struct IPForwardingCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ipForwardingDisabled
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            let h = s.hop
            guard s.dropped, let ev = h.evidence.first(where: { $0.kind == .sysctl && ($0.source.hasSuffix("ip_forward") || $0.source.hasSuffix("forwarding")) }) else { return nil }
            let key = ev.source.split(separator: " ").last.map(String.init) ?? "net.ipv4.ip_forward"
            let ns = c.namespaceID(of: h)
            return Finding(
                code: code, title: "\(h.namespace) on \(h.node) must route the packet but \(key) = \(ev.text)", relevance: .cause,
                location: c.location(walk: s.walk, hop: h),
                headline: "the packet stops at \(h.device ?? h.namespace) on \(h.node): \(h.namespace) does not forward (\(key) = \(ev.text))",
                evidence: [ev] + h.evidence.filter { $0.kind == .route },
                advice: Advice(summary: "turn IP forwarding back on in \(h.namespace) (the L3 agent sets it when it creates the router)",
                               confirm: [c.shell(ns, "sysctl \(key)")], fix: [c.shell(ns, "sysctl -w \(key)=1")]))
        }
    }
}

/// RP_FILTER_DROP: a walk stops because reverse-path filtering drops the packet on its input
/// interface: in strict mode the route back to the source leaves by another device, or there
/// is no route back at all.
public struct RPFilterCheck: DiagnosisCheck {
    public let code = DiagnosisCode.rpFilterDrop
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            let h = s.hop
            guard s.dropped, h.summary.hasPrefix("rp_filter"), let ev = h.evidence.first(where: { $0.kind == .sysctl && $0.source.contains("rp_filter") }) else { return nil }
            let ns = c.namespaceID(of: h)
            let dev = h.device ?? "all"
            let src = h.packet.ipSrc?.description ?? "?"
            return Finding(
                code: code, title: "rp_filter in \(h.namespace) on \(h.node) drops packets from \(src) arriving on \(dev)", relevance: .cause,
                location: c.location(walk: s.walk, hop: h),
                headline: "the packet is dropped on \(dev) in \(h.namespace) on \(h.node) by reverse-path filtering: \(h.summary)",
                evidence: [ev] + h.evidence.filter { $0.kind == .route },
                advice: Advice(summary: "fix the route back to \(src) so that it leaves by \(dev), or set rp_filter to loose (2) where routing is asymmetric",
                               confirm: [c.shell(ns, "ip route get \(src)"), c.shell(ns, "sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.\(dev).rp_filter")],
                               fix: [c.shell(ns, "ip route del \(src)   # if this more specific route is the mistake"),
                                     c.shell(ns, "sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.\(dev).rp_filter=2")]))
        }
    }
}

/// NEIGHBOR_UNRESOLVED: a walk stops because the next hop's MAC cannot be resolved: its
/// neighbour entry is FAILED or INCOMPLETE (nobody answers ARP for it). A tunnel endpoint's
/// entry is TUNNEL_ENDPOINT_UNREACHABLE instead.
public struct NeighborUnresolvedCheck: DiagnosisCheck {
    public let code = DiagnosisCode.neighborUnresolved
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            let h = s.hop
            guard h.role != "underlay", h.summary.contains("neighbour entry for"), h.summary.contains("FAILED") || h.summary.contains("INCOMPLETE"),
                  let ev = h.evidence.last(where: { $0.kind == .neighbor }) else { return nil }
            let ns = c.namespaceID(of: h)
            let next = ev.text.split(separator: " ").first.map(String.init) ?? "?"
            return Finding(
                code: code, title: "\(h.namespace) on \(h.node) cannot resolve the MAC of its next hop \(next) on \(h.device ?? "?")",
                relevance: .cause, location: c.location(walk: s.walk, hop: h),
                headline: "the packet stops at \(h.device ?? "?") on \(h.node): nobody answers ARP for the next hop \(next)",
                evidence: [ev] + h.evidence.filter { $0.kind == .route },
                advice: Advice(summary: "make \(next) answer ARP (is the gateway up and on this VLAN/segment?) or correct the route's next hop",
                               confirm: [c.shell(ns, "ip neigh show \(next)"), c.shell(ns, "arping -c 3 -I \(h.device ?? "DEV") \(next)")],
                               fix: [c.shell(ns, "ip neigh flush dev \(h.device ?? "DEV")   # after the next hop is back")]))
        }
    }
}
