import HopscopeModel
import PathTrace
import Topology

/// LINK_DOWN: a walk stops at a device that is administratively down or has no carrier (a tap,
/// a qr- port, a bridge, the underlay NIC), or an instance's own NIC is down (its routes are
/// gone with it, so its packets cannot leave).
public struct LinkDownCheck: DiagnosisCheck {
    public let code = DiagnosisCode.linkDown
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for s in c.stops {
            let h = s.hop
            if s.dropped, h.summary.contains("administratively down") || h.summary.contains("has no carrier"),
               let iid = c.interfaceID(of: h), let i = c.topology.interface(iid) {
                // A veth without a followable peer has no carrier by nature: VETH_PEER_MISSING says why.
                if i.link.kind == .veth && i.link.adminUp && i.vethPeer == nil { continue }
                out.append(finding(c, iid, i, location: c.location(walk: s.walk, hop: h), relevance: .cause))
            } else if let (owner, node) = downNextHop(c, h) {
                // The next hop cannot be resolved because the interface that owns it is down.
                var f = finding(c, owner, node, location: c.location(owner, walk: s.walk, hop: nil), relevance: .cause)
                f.evidence += h.evidence.filter { $0.kind == .neighbor }
                f.headline = "the next hop \(node.addresses.map(\.address.description).joined(separator: ", ")) is on \(node.name) on \(c.node(owner.namespace)), which is down: \(h.summary)"
                out.append(f)
            }
        }
        if let nic = c.instance.nic, let i = c.topology.interface(nic), !i.link.adminUp {
            let p = c.place(device: i.name, namespace: nic.namespace.label, node: c.node(nic.namespace))
            let onStop = c.stops.contains { $0.hop.namespace == nic.namespace.label && $0.hop.index == 1 }
            out.append(finding(c, nic, i, location: p.location, relevance: onStop ? .cause : p.relevance))
        }
        return out
    }

    /// The administratively down interface that owns the next hop a stop hop could not resolve.
    func downNextHop(_ c: DiagnosisContext, _ h: PathHop) -> (InterfaceID, Topology.InterfaceNode)? {
        guard let range = h.summary.range(of: "neighbour entry for ") else { return nil }
        let word = h.summary[range.upperBound...].split(separator: " ").first.map(String.init) ?? ""
        guard let next = IPAddress(word) else { return nil }
        for owner in c.topology.addressOwners[next] ?? [] {
            if let node = c.topology.interface(owner), !node.link.adminUp { return (owner, node) }
        }
        return nil
    }

    func finding(_ c: DiagnosisContext, _ iid: InterfaceID, _ i: Topology.InterfaceNode, location: FindingLocation, relevance: Relevance) -> Finding {
        let state = i.link.adminUp ? "has no carrier (its peer or cable is down)" : "is administratively down"
        var evidence = [c.linkEvidence(iid)]
        var fixTarget = (iid, i.name)
        if i.link.adminUp, let peer = i.vethPeer, let p = c.topology.interface(peer) {
            evidence.append(c.linkEvidence(peer, note: "the other end of the veth pair"))
            if !p.link.adminUp { fixTarget = (peer, p.name) }
        }
        let role = i.neutronRole.map { " (\($0))" } ?? ""
        return Finding(
            code: code, title: "\(i.name)\(role) \(state) on \(c.node(iid.namespace))", relevance: relevance, location: location,
            headline: "the packet stops at \(i.name) on \(c.node(iid.namespace)): it \(state)", evidence: evidence,
            advice: Advice(summary: "bring \(fixTarget.1) up (and find out who set it down: an agent, a reboot, an operator)",
                           confirm: [c.shell(iid.namespace, "ip link show \(i.name)")],
                           fix: [c.shell(fixTarget.0.namespace, "ip link set \(fixTarget.1) up")]))
    }
}
