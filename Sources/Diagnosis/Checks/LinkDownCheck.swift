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
        for s in c.stops where s.dropped {
            let h = s.hop
            guard h.summary.contains("administratively down") || h.summary.contains("has no carrier"),
                  let iid = c.interfaceID(of: h), let i = c.topology.interface(iid) else { continue }
            out.append(finding(c, iid, i, location: c.location(walk: s.walk, hop: h), relevance: .cause))
        }
        if let nic = c.instance.nic, let i = c.topology.interface(nic), !i.link.adminUp {
            let p = c.place(device: i.name, namespace: nic.namespace.label, node: c.node(nic.namespace))
            let onStop = c.stops.contains { $0.hop.namespace == nic.namespace.label && $0.hop.index == 1 }
            out.append(finding(c, nic, i, location: p.location, relevance: onStop ? .cause : p.relevance))
        }
        return out
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
