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
