import HopscopeModel
import PathTrace
import Topology

extension DiagnosisContext {
    /// The iptables-save text of a namespace (nil when not collected).
    func iptablesSave(_ ns: NamespaceID) -> String? {
        topology.snapshots[ns.snapshot].firewalls.first { $0.namespace == ns.label }?.iptablesSave
    }

    /// The lines of a namespace's iptables-save that append to a chain (`-A CHAIN `).
    func ruleLines(_ ns: NamespaceID, chain: String) -> [String] {
        (iptablesSave(ns) ?? "").split(separator: "\n").map(String.init).filter { $0.hasPrefix("-A \(chain) ") }
    }
}

/// FIREWALL_NOT_ENFORCED: a namespace has security-group chains (physdev rules for bridged
/// ports) while net.bridge.bridge-nf-call-iptables is off there: bridged frames never meet
/// them, so the groups are silently not applied. A warning: traffic passes that should not.
public struct FirewallNotEnforcedCheck: DiagnosisCheck {
    public let code = DiagnosisCode.firewallNotEnforced
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        var done = Set<NamespaceID>()
        for (i, _, r) in c.walkResults {
            for h in r.hops where h.notes.contains(where: { $0.contains("br_netfilter is off") }) {
                guard let ns = c.namespaceID(of: h), let groups = securityGroupEvidence(c, ns), done.insert(ns).inserted else { continue }
                out.append(finding(c, ns, groups: groups, sysctl: h.evidence.first { $0.kind == .sysctl }, location: c.location(walk: i, hop: h)))
            }
        }
        for ns in c.topology.namespaceOrder where !done.contains(ns) && c.concernedNamespaces.contains(ns.label) {
            guard c.topology.namespace(ns)?.inventory.sysctls.bridgeNFCallIptables == false, let groups = securityGroupEvidence(c, ns) else { continue }
            out.append(finding(c, ns, groups: groups, sysctl: nil, location: FindingLocation(node: c.node(ns), namespace: ns.label, device: nil)))
        }
        return out
    }

    /// The rules that show security groups are meant to apply to bridged traffic (physdev matches).
    func securityGroupEvidence(_ c: DiagnosisContext, _ ns: NamespaceID) -> [Evidence]? {
        let lines = (c.iptablesSave(ns) ?? "").split(separator: "\n").filter { $0.contains("-m physdev") }
        guard !lines.isEmpty else { return nil }
        return lines.prefix(2).map { Evidence(kind: .firewallRule, source: "iptables filter (\(ns.label))", text: String($0)) }
    }

    func finding(_ c: DiagnosisContext, _ ns: NamespaceID, groups: [Evidence], sysctl: Evidence?, location: FindingLocation) -> Finding {
        let s = sysctl ?? Evidence(kind: .sysctl, source: "\(ns.label) net.bridge.bridge-nf-call-iptables", text: "0")
        return Finding(
            code: code, title: "\(c.node(ns)) has security-group rules for bridged ports but bridge-nf-call-iptables is off: they are not applied",
            relevance: .contributing, location: location,
            headline: "security groups on \(c.node(ns)) are not enforced: net.bridge.bridge-nf-call-iptables = 0",
            evidence: [s] + groups,
            advice: Advice(summary: "turn bridge-nf-call-iptables (and ip6tables) on, persistently (the agent expects br_netfilter loaded)",
                           confirm: [c.shell(ns, "sysctl net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables")],
                           fix: [c.shell(ns, "sysctl -w net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1")]))
    }
}

/// NAT_MISSING: the path needs an address translation that is not there: the router sends the
/// instance's fixed address out of its gateway port unchanged (no SNAT), so the reply has no way
/// back; or a packet for a floating IP ends at the router itself (no DNAT to the fixed address).
public struct NATMissingCheck: DiagnosisCheck {
    public let code = DiagnosisCode.natMissing
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for (i, w, r) in c.walkResults where !w.isReachable {
            guard let fixed = r.packet.ipSrc else { continue }
            // SNAT: the forward packet leaves a router by its gateway port with its private source address.
            if let h = r.hops.first(where: { $0.direction == .forward && $0.role.contains("qg-") && $0.packet.ipSrc == fixed }),
               let ns = c.namespaceID(of: h), c.topology.namespace(ns)?.isRouter == true {
                let snat = c.ruleLines(ns, chain: "neutron-l3-agent-snat") + c.ruleLines(ns, chain: "neutron-l3-agent-float-snatonly")
                out.append(Finding(
                    code: code, title: "\(h.namespace) on \(h.node) sends \(fixed) out of \(h.device ?? "its gateway port") without SNAT",
                    relevance: .cause, location: c.location(walk: i, hop: h),
                    headline: "\(h.namespace) on \(h.node) does not translate the source address \(fixed): the packet leaves \(h.device ?? "qg-") untranslated and the reply has no way back",
                    evidence: [Evidence(kind: .note, source: "packet at hop \(h.index)", text: h.packet.shortText, note: "the source is still the fixed address")]
                        + (snat.isEmpty ? [Evidence(kind: .firewallRule, source: "iptables nat neutron-l3-agent-snat (\(h.namespace))", text: "(no SNAT rule)")]
                                        : snat.prefix(3).map { Evidence(kind: .firewallRule, source: "iptables nat (\(h.namespace))", text: $0) }),
                    advice: Advice(summary: "restore the router's SNAT rules (the L3 agent writes them; enable_snat on the router's gateway)",
                                   confirm: [c.listChain(ns, table: "nat", chain: "neutron-l3-agent-snat"), "openstack router show ROUTER -c external_gateway_info"],
                                   fix: ["systemctl restart neutron-l3-agent   # on \(h.node): it rewrites the router's NAT rules"])))
            }
            // DNAT: a packet for an address of the router's gateway port is delivered to the router itself.
            if let s = c.stops.first(where: { $0.walk == i }), s.result.verdict.reason.contains("delivered to"),
               let ns = c.namespaceID(of: s.hop), c.topology.namespace(ns)?.isRouter == true, let dst = s.hop.packet.ipDst, dst == r.packet.ipDst,
               let target = c.instance.ipv4, dst != target {
                let dnat = c.ruleLines(ns, chain: "neutron-l3-agent-PREROUTING").filter { $0.contains("DNAT") }
                out.append(Finding(
                    code: code, title: "\(h(s)) has no DNAT from \(dst) to \(target): the packet ends at the router itself", relevance: .cause,
                    location: c.location(walk: s.walk, hop: s.hop),
                    headline: "the floating IP \(dst) is not translated to \(c.instance.name)'s \(target) on \(s.hop.node): the packet is delivered to the router itself",
                    evidence: [Evidence(kind: .address, source: "ip addr \(s.hop.namespace)", text: "\(dst) on \(s.hop.namespace)", note: "the router holds the floating IP")]
                        + (dnat.isEmpty ? [Evidence(kind: .firewallRule, source: "iptables nat neutron-l3-agent-PREROUTING (\(s.hop.namespace))", text: "(no DNAT rule for \(dst))")]
                                        : dnat.prefix(3).map { Evidence(kind: .firewallRule, source: "iptables nat (\(s.hop.namespace))", text: $0) }),
                    advice: Advice(summary: "restore the floating IP's DNAT rule (re-associate the floating IP, or restart the L3 agent)",
                                   confirm: [c.listChain(ns, table: "nat", chain: "neutron-l3-agent-PREROUTING"), "openstack floating ip show \(dst)"],
                                   fix: ["openstack server remove floating ip SERVER \(dst) && openstack server add floating ip SERVER \(dst)"])))
            }
        }
        return out
    }

    func h(_ s: WalkStop) -> String { "\(s.hop.namespace) on \(s.hop.node)" }
}
