import HopscopeModel
import PathTrace
import Topology

/// MTU_MISMATCH: a packet of the size walked does not fit a device on the path, or (a warning
/// when the walked packet still fits) full-size tenant packets plus the tunnel's overhead do
/// not fit the underlay device.
public struct MTUCheck: DiagnosisCheck {
    public let code = DiagnosisCode.mtuMismatch
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for s in c.stops where s.dropped && s.hop.summary.contains("MTU") {
            let h = s.hop
            out.append(finding(c, h, location: c.location(walk: s.walk, hop: h), relevance: .cause, severity: .error, why: h.summary))
        }
        for (i, _, r) in c.walkResults {
            for h in r.hops {
                guard let note = h.notes.first(where: { $0.hasPrefix("full-size packets do not fit") }) else { continue }
                out.append(finding(c, h, location: c.location(walk: i, hop: h), relevance: .contributing, severity: .warning, why: note))
            }
        }
        // The instance's NIC larger than the MTU its network hands out: full-size frames it sends are lost.
        if let nic = c.instance.nic, let i = c.topology.interface(nic), let mtu = c.services.dhcpMTU, i.link.mtu > mtu,
           let option = c.services.option("mtu") {
            let p = c.place(device: i.name, namespace: nic.namespace.label, node: c.node(nic.namespace))
            out.append(Finding(
                code: code, title: "\(c.instance.name)'s \(i.name) has MTU \(i.link.mtu), more than its network's \(mtu)", severity: .warning,
                relevance: .contributing, location: p.location,
                headline: "\(c.instance.name) sends frames up to \(i.link.mtu) bytes on a network that carries \(mtu): full-size packets are lost",
                evidence: [c.linkEvidence(nic), Evidence(kind: .process, source: option.source, text: option.raw, note: "the MTU DHCP hands out")],
                advice: Advice(summary: "let the instance take the MTU from DHCP (option 26) or set it to \(mtu)",
                               confirm: [c.shell(nic.namespace, "ip link show \(i.name)")],
                               fix: [c.shell(nic.namespace, "ip link set \(i.name) mtu \(mtu)")])))
        }
        return out
    }

    func finding(_ c: DiagnosisContext, _ h: PathHop, location: FindingLocation, relevance: Relevance, severity: Severity, why: String) -> Finding {
        let ns = c.namespaceID(of: h)
        let dev = h.device ?? "?"
        let mtu = h.state?.mtu.map(String.init) ?? "?"
        let overlay = why.contains("full-size") || h.role == "underlay"
        return Finding(
            code: code, title: "\(dev) on \(h.node) has MTU \(mtu): \(why)", severity: severity, relevance: relevance, location: location,
            headline: relevance == .cause ? "the packet is too big for \(dev) on \(h.node): \(why)" : "full-size packets will not fit: \(why)",
            evidence: h.evidence.filter { $0.kind == .link } + [Evidence(kind: .link, source: "ip link \(h.namespace)", text: "\(dev) mtu \(mtu)", note: why)],
            advice: Advice(summary: overlay ? "raise the underlay MTU by the tunnel overhead (50 bytes for VXLAN over IPv4), or lower the tenant network's MTU to fit"
                                            : "make the MTUs along the path agree (the network's MTU, the instance NIC, the bridges)",
                           confirm: [c.shell(ns, "ip link show \(dev)"), "ping -M do -s \(1500 - 28) DESTINATION   # from the instance"],
                           fix: overlay ? [c.shell(ns, "ip link set \(dev) mtu 1550"), "openstack network set --mtu 1450 NETWORK"]
                                        : [c.shell(ns, "ip link set \(dev) mtu MTU")]))
    }
}
