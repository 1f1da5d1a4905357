import HopscopeModel
import PathTrace
import Topology

/// FIREWALL_DROP: a walk stops because an iptables rule (or a chain policy) drops the packet:
/// the security-group chain of a port, the router's rules. The finding names the deciding rule
/// with its table, chain and Neutron comment, and the packet as the rule saw it.
public struct FirewallDropCheck: DiagnosisCheck {
    public let code = DiagnosisCode.firewallDrop
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            guard s.dropped, s.hop.decision.isDrop, let rule = c.decidingRule(s.hop) else { return nil }
            let chain = DiagnosisContext.chain(of: rule) ?? "?"
            let table = DiagnosisContext.table(of: rule) ?? "filter"
            let ns = c.namespaceID(of: s.hop)
            let ruleText = rule.note.map { "\"\($0.components(separatedBy: "; counters").first ?? $0)\"" } ?? rule.text
            let isSecurityGroup = chain.hasPrefix("neutron-openvswi-") || chain.hasPrefix("neutron-linuxbri-") || s.hop.role.contains("qbr")
            let service = s.hop.packet.serviceText
            let advice: Advice
            if isSecurityGroup {
                // Towards the instance is ingress to its group; from it, egress.
                let fromInstance = s.hop.packet.ipSrc.map { c.instance.addresses.contains($0) } ?? false
                let direction = fromInstance ? "egress" : "ingress"
                let proto = service.hasPrefix("ICMP") ? "icmp" : service.hasPrefix("TCP") ? "tcp" : "udp"
                let port = s.hop.packet.dstPort.map { " --dst-port \($0)" } ?? ""
                advice = Advice(
                    summary: "allow \(service) in the instance's security group" + (service == "ICMP" ? " or test with SSH (--proto tcp:22)" : ""),
                    confirm: [c.listChain(ns, table: table, chain: chain),
                              "openstack port show \(c.portID ?? "PORT") -c security_group_ids"],
                    fix: ["openstack security group rule create --\(direction) --protocol \(proto)\(proto == "icmp" ? "" : port) SECURITY_GROUP"])
            } else {
                advice = Advice(summary: "find who wrote the rule in \(chain) and remove it or add an accepting rule before it",
                                confirm: [c.listChain(ns, table: table, chain: chain)],
                                fix: [c.shell(ns, "iptables -t \(table) -D \(chain) \(rule.text.split(separator: " ").dropFirst(2).joined(separator: " "))")])
            }
            return Finding(
                code: code, title: "iptables \(table) \(chain) drops \(s.hop.packet.shortText) on \(s.hop.node): \(ruleText)",
                relevance: .cause, location: c.location(walk: s.walk, hop: s.hop),
                headline: "the packet is dropped on \(s.hop.node) by \(isSecurityGroup ? "security-group " : "")rule \(ruleText) (chain \(chain))",
                evidence: [rule] + s.hop.evidence.filter { $0.kind == .firewallRule && $0 != rule }.suffix(3), advice: advice)
        }
    }
}
