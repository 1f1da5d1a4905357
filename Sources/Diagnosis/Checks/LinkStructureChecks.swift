import HopscopeModel
import PathTrace
import Topology

/// VETH_PEER_MISSING: a veth on a walk (or in an instance's plugging) whose other end cannot be
/// followed: the kernel names no peer, or the peer is in a namespace the snapshots do not hold
/// (moved away, or a namespace only a bind mount keeps alive). Frames sent into it leave
/// everything known.
public struct VethPeerMissingCheck: DiagnosisCheck {
    public let code = DiagnosisCode.vethPeerMissing
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        var seen = Set<InterfaceID>()
        for (i, w, r) in c.walkResults {
            for h in r.hops {
                guard let iid = c.interfaceID(of: h), let node = c.topology.interface(iid), node.link.kind == .veth, node.vethPeer == nil,
                      seen.insert(iid).inserted else { continue }
                let cause = !w.isReachable || h.summary.contains("leaves the snapshots")
                out.append(finding(c, iid, node, location: c.location(walk: i, hop: h), relevance: cause ? .cause : .contributing))
            }
        }
        // The instance's own plugging (qvb/qvo pair) off the walks.
        if let stem = c.topology.interface(c.instance.tap)?.neutronPort, let inv = c.topology.namespace(c.instance.tap.namespace)?.inventory {
            for l in inv.links where l.kind == .veth {
                let iid = InterfaceID(namespace: c.instance.tap.namespace, index: l.index)
                guard let node = c.topology.interface(iid), node.neutronPort == stem, node.vethPeer == nil, seen.insert(iid).inserted else { continue }
                let p = c.place(device: l.name, namespace: iid.namespace.label, node: c.node(iid.namespace))
                out.append(finding(c, iid, node, location: p.location, relevance: c.stops.isEmpty ? p.relevance : .cause))
            }
        }
        return out
    }

    func finding(_ c: DiagnosisContext, _ iid: InterfaceID, _ i: Topology.InterfaceNode, location: FindingLocation, relevance: Relevance) -> Finding {
        let nsid = i.link.lowerNamespaceID.map { "link-netnsid \($0), a namespace the snapshots do not hold" } ?? "no peer"
        return Finding(
            code: code, title: "the other end of veth \(i.name) on \(c.node(iid.namespace)) cannot be followed (\(nsid))", relevance: relevance,
            location: location,
            headline: "\(i.name) on \(c.node(iid.namespace)) is a veth whose other end is not where it belongs (\(nsid)): frames sent into it go nowhere known",
            evidence: [c.linkEvidence(iid, note: "a veth's peer should be in a namespace of the snapshots")],
            advice: Advice(summary: "find the peer (ip -all netns exec ip link, lsns -t net) and move it back, or recreate the pair (for an instance: hard-reboot it)",
                           confirm: [c.shell(iid.namespace, "ip -d link show \(i.name)"), "ip -all netns exec ip -br link"],
                           fix: ["ip -n WHERE_IT_IS link set PEER netns \(c.topology.namespace(iid.namespace)?.inventory.namespace.names.first ?? "NAMESPACE")"]))
    }
}

/// NOT_IN_BRIDGE: a device of an instance's plugging that should be a port of its Linux bridge
/// (the qvb of a hybrid plug, the tap) is not; the bridge then has nowhere to send the frame.
public struct NotInBridgeCheck: DiagnosisCheck {
    public let code = DiagnosisCode.notInBridge
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        guard let tap = c.topology.interface(c.instance.tap), let stem = tap.neutronPort,
              let inv = c.topology.namespace(c.instance.tap.namespace)?.inventory else { return [] }
        let ns = c.instance.tap.namespace
        // The instance's Linux bridge: the tap's master, or the bridge carrying the port's stem.
        guard let bridge = inv.links.first(where: { $0.kind == .bridge && (tap.link.masterIndex == $0.index
                  || c.topology.interface(InterfaceID(namespace: ns, index: $0.index))?.neutronPort == stem) }) else { return [] }
        var out: [Finding] = []
        for l in inv.links where l.kind == .veth || l.index == tap.link.index {
            let iid = InterfaceID(namespace: ns, index: l.index)
            guard let node = c.topology.interface(iid), node.neutronPort == stem, l.masterIndex != bridge.index else { continue }
            // A veth of the stem that is an OVS port (the qvo) belongs to br-int, not to the Linux bridge.
            if node.ovsPort != nil { continue }
            var place = c.place(device: l.name, namespace: ns.label, node: c.node(ns))
            if let s = c.stops.first(where: { $0.hop.device == bridge.name && $0.hop.namespace == ns.label }) {
                place = (c.location(walk: s.walk, hop: s.hop), .cause)
            }
            let master = l.master.map { "its master is \($0)" } ?? "it has no master"
            out.append(Finding(
                code: code, title: "\(l.name) is not a port of \(bridge.name) on \(c.node(ns)) (\(master))", relevance: place.relevance,
                location: place.location,
                headline: "\(l.name) is not a port of \(c.instance.name)'s bridge \(bridge.name) (\(master)): the bridge cannot pass its frames on",
                evidence: [c.linkEvidence(iid), c.linkEvidence(InterfaceID(namespace: ns, index: bridge.index), note: "the instance's Linux bridge")],
                advice: Advice(summary: "add \(l.name) back to \(bridge.name) (the agent or Nova's os-vif plugged it there)",
                               confirm: [c.shell(ns, "bridge link show"), c.shell(ns, "ip link show master \(bridge.name)")],
                               fix: [c.shell(ns, "ip link set \(l.name) master \(bridge.name)")])))
        }
        return out
    }
}
