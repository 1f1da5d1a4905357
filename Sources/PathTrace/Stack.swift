import HopscopeModel
import Netfilter
import Topology

/// The neighbour a namespace sends to: its MAC and how it was found.
struct NeighbourResolution {
    var mac: MACAddress?
    var evidence: [Evidence]
    /// Why there is no MAC, when there is none.
    var problem: String?
    /// True when the reason is a gap in what is known, not a fault.
    var isUnknown: Bool
    var ownerInSnapshots: Bool
    /// `REACHABLE`, `STALE`, ... or `none` for the hop's text.
    var stateText: String
}

/// The outcome of netfilter at one place.
struct NetfilterResult {
    var decision: Decision
    var evidence: [Evidence]
    var notes: [String]
    var trace: FirewallTrace?
}

extension PathTracer {
    // MARK: Netfilter

    /// Runs the namespace's iptables for this traversal: a new connection forward, and on the
    /// reply an established one bound to what the forward packet did here (its NAT undone).
    func netfilter(_ ns: NamespaceID, key: String, traversal: Traversal, route: FirewallEvaluator.RouteLookup? = nil,
                   _ w: inout Walk) -> NetfilterResult {
        guard w.packet.isIPv4 || w.packet.isIPv6 else { return NetfilterResult(decision: .forward(to: []), evidence: [], notes: [], trace: nil) }
        switch evaluators.firewall(ns) {
        case .noRules:
            return NetfilterResult(decision: .forward(to: []), evidence: [], notes: [], trace: nil)
        case .unavailable(let why):
            return NetfilterResult(decision: .unknown(reason: why), evidence: [], notes: [], trace: nil)
        case .rules(let evaluator):
            if (w.packet.isIPv4 && evaluator.ipv4 == nil) || (w.packet.isIPv6 && evaluator.ipv6 == nil) {
                return NetfilterResult(decision: .forward(to: []), evidence: [], notes: [], trace: nil)
            }
            let trace: FirewallTrace
            if w.direction == .reply {
                if let original = w.forwardConntrack[key] {
                    trace = evaluator.traceReply(to: original, reply: w.packet, through: traversal, route: route)
                } else {
                    trace = evaluator.trace(w.packet, through: traversal, connection: ConnectionContext(state: .established, isReply: true), route: route)
                }
            } else {
                trace = evaluator.trace(w.packet, through: traversal, connection: .new, route: route)
                w.conntrack[key] = trace
            }
            var notes = trace.notes
            for t in trace.translations { notes.append(t.description) }
            return NetfilterResult(decision: trace.verdict, evidence: trace.evidence.filter { $0.kind != .note }, notes: notes, trace: trace)
        }
    }

    // MARK: Neighbours

    /// The MAC a namespace sends to for `nextHop` on `device`: its neighbour entry, else the MAC
    /// of the interface in the snapshots that owns the address (what ARP would answer).
    func resolveNeighbour(_ inv: NamespaceInventory, ns: NamespaceID, device: String, nextHop: IPAddress) -> NeighbourResolution {
        let entries = inv.neighbors.filter { $0.address == nextHop && $0.interface == device }
        var owners = (topology.addressOwners[nextHop] ?? []).filter { topology.interface($0)?.link.adminUp == true }
        let configured = owners.count
        if owners.count > 1, let dev = inv.link(named: device) {
            // Only an owner linked to the device at layer 2 can answer its ARP.
            let domain = linkLayerDomain(of: InterfaceID(namespace: ns, index: dev.index))
            owners = owners.filter { domain.contains($0) }
        }
        // A guest behind a tap owns no interface the snapshots hold; what the host knows of it stands in.
        let guest = owners.isEmpty ? guestAnsweringARP(for: nextHop, from: inv, ns: ns, device: device) : nil
        var failedEntry: Evidence?
        if let n = entries.first {
            let ev = Evidence(kind: .neighbor, source: "ip neigh \(ns.label)", text: n.text)
            // An entry that disagrees with the only owner of the address on the same layer 2 is
            // from before a change: a FAILED one (an earlier attempt) is asked anew on the next
            // packet, a learned one holding another MAC (br-phy's before Open vSwitch changed it)
            // is re-probed when it next needs confirming. The owner answers with its current MAC.
            let learned = n.mac != nil && !n.state.contains(.permanent) && !n.state.contains(.noARP)
            let unconfirmed = n.state.contains(.failed) || learned
            if unconfirmed, let o = owners.first, owners.count == 1, let mac = topology.interface(o)?.link.mac, mac != n.mac,
               let dev = inv.link(named: device), linkLayerDomain(of: InterfaceID(namespace: ns, index: dev.index)).contains(o) {
                let name = topology.interface(o)?.name ?? "?"
                let state = n.state.names.joined(separator: ",")
                let note = Evidence(kind: .address, source: "ip addr \(o.namespace.label)", text: "\(name): \(nextHop) link/ether \(mac)",
                                    note: "the \(state) entry is from an earlier exchange; \(name)@\(o.namespace.label) owns \(nextHop) on the same layer 2 and answers the next ARP")
                let entry = n.state.contains(.failed)
                    ? Evidence(kind: .neighbor, source: ev.source, text: n.text,
                               note: "an earlier ARP for \(nextHop) went unanswered; the next packet asks again")
                    : ev
                return NeighbourResolution(mac: mac, evidence: [entry, note], problem: nil, isUnknown: false, ownerInSnapshots: true,
                                           stateText: "\(state) (re-resolved to owner \(name))")
            }
            if n.state.isUsable, let mac = n.mac {
                return NeighbourResolution(mac: mac, evidence: [ev], problem: nil, isUnknown: false, ownerInSnapshots: !owners.isEmpty,
                                           stateText: n.state.names.joined(separator: ","))
            }
            if n.state.contains(.failed) {
                guard !owners.isEmpty || guest != nil else {
                    return NeighbourResolution(mac: nil, evidence: [ev], problem: "the neighbour entry for \(nextHop) on \(device) is FAILED: nobody answers ARP for it",
                                               isUnknown: false, ownerInSnapshots: false, stateText: "FAILED")
                }
                // The kernel asks again for the next packet to a FAILED neighbour, and an owner that is up answers.
                failedEntry = Evidence(kind: .neighbor, source: ev.source, text: n.text,
                                       note: "an earlier ARP for \(nextHop) went unanswered; the next packet asks again")
            }
            if n.state.contains(.incomplete), owners.isEmpty, guest == nil {
                return NeighbourResolution(mac: nil, evidence: [ev], problem: "the neighbour entry for \(nextHop) on \(device) is INCOMPLETE: ARP is unanswered so far",
                                           isUnknown: false, ownerInSnapshots: false, stateText: "INCOMPLETE")
            }
        }
        if owners.count == 1, let mac = topology.interface(owners[0])?.link.mac {
            let o = topology.interface(owners[0])!
            return NeighbourResolution(mac: mac, evidence: Array([failedEntry].compactMap { $0 }) + [Evidence(kind: .address, source: "ip addr \(owners[0].namespace.label)",
                                                                     text: "\(o.name): \(o.addresses.first { $0.address == nextHop }?.description ?? nextHop.description) link/ether \(mac)",
                                                                     note: "no neighbour entry for \(nextHop) on \(device); \(o.name)@\(owners[0].namespace.label) owns it, ARP would resolve to its MAC")],
                                       problem: nil, isUnknown: false, ownerInSnapshots: true,
                                       stateText: failedEntry == nil ? "none (owner \(o.name))" : "FAILED (owner \(o.name) answers)")
        }
        if owners.count > 1 {
            return NeighbourResolution(mac: nil, evidence: [], problem: "no neighbour entry for \(nextHop), and \(owners.count) interfaces own it: \(owners.map { "\(topology.interface($0)?.name ?? "?")@\($0.namespace.label)" }.joined(separator: ", "))",
                                       isUnknown: true, ownerInSnapshots: true, stateText: "none")
        }
        if let guest, let mac = guest.mac {
            let source = guest.facts.first { $0.field == .mac }?.source ?? "the instance's facts"
            let tap = topology.interface(guest.tap)?.name ?? "its tap"
            return NeighbourResolution(mac: mac, evidence: Array([failedEntry].compactMap { $0 }) + [Evidence(kind: .address, source: source, text: "\(guest.name): \(nextHop) \(mac)",
                                                                     note: "no neighbour entry for \(nextHop) on \(device); guest \(guest.name) behind \(tap) has it, ARP would resolve to its MAC")],
                                       problem: nil, isUnknown: false, ownerInSnapshots: true, stateText: "none (guest \(guest.name))")
        }
        return NeighbourResolution(mac: nil, evidence: [Evidence(kind: .neighbor, source: "ip neigh \(ns.label)", text: "(no entry for \(nextHop) on \(device))")],
                                   problem: "no neighbour entry for \(nextHop) on \(device) and no interface in the snapshots owns \(nextHop)"
                                    + (configured > 1 ? " on \(device)'s layer-2 domain (\(configured) interfaces elsewhere have it)" : ""),
                                   isUnknown: true, ownerInSnapshots: false, stateText: "none")
    }

    /// The one guest behind a tap that has `address` (from its OVS, DHCP, security group or
    /// neighbour facts) and is on `device`'s layer-2 domain: a guest owns no interface Hopscope
    /// can read, so no address owner stands for it. Nil when none or several qualify, or the guest's
    /// MAC is unknown.
    func guestAnsweringARP(for address: IPAddress, from inv: NamespaceInventory, ns: NamespaceID, device: String) -> Instance? {
        let guests = instances.filter { $0.isGuest && $0.mac != nil && $0.addresses.contains(address) }
        guard !guests.isEmpty, let dev = inv.link(named: device) else { return nil }
        let domain = linkLayerDomain(of: InterfaceID(namespace: ns, index: dev.index))
        let reachable = guests.filter { domain.contains($0.tap) }
        return reachable.count == 1 ? reachable[0] : nil
    }

    /// `: filter CHAIN #N`: the rule that dropped, from netfilter's evidence, for a hop's one-line
    /// summary (the table shows the summary of a drop, and the rule is what the operator looks for).
    func droppingRule(_ evidence: [Evidence]) -> String {
        guard let rule = evidence.last(where: { $0.kind == .firewallRule }) else { return "" }
        let source = rule.source.hasPrefix("iptables ") ? String(rule.source.dropFirst("iptables ".count)) : rule.source
        return ": \(source)"
    }

    // MARK: The IP stack

    /// A packet a local socket of `ns` sends: routing, OUTPUT and POSTROUTING, the neighbour,
    /// then out of the route's device.
    func sendFromStack(_ ns: NamespaceID, role: String? = nil, _ w: inout Walk) -> End {
        guard let inv = topology.namespace(ns)?.inventory else { return .unknown("namespace \(ns.label) is not in the snapshot") }
        guard let dst = w.packet.ipDst else { return .unknown("the packet has no destination address") }
        let route = RouteLookup.lookup(inv, destination: dst, source: w.packet.ipSrc, mark: 0,
                                       ipProtocol: w.packet.ipProto, sourcePort: w.packet.srcPort, destinationPort: w.packet.dstPort)
        switch route.outcome {
        case .local:
            add(&w, ns: ns, device: "lo", role: role ?? "local", state: nil, decision: .forward(to: ["local"]),
                summary: "\(dst) is local to \(ns.label)", evidence: route.evidence)
            return stackInput(ns, interface: nil, &w, summary: "sent to itself")
        case .unicast(let dev, let gateway):
            guard let link = inv.link(named: dev) else { return .unknown("route device \(dev) is not in the snapshot") }
            let devID = InterfaceID(namespace: ns, index: link.index)
            if w.packet.ipSrc == nil { w.packet.ipSrc = RouteLookup.sourceAddress(inv, decision: route, destination: dst) }
            let fw = netfilter(ns, key: "ns:\(ns.label)", traversal: .sentLocally(out: dev), route: { [topology] p in
                Self.routeDecision(topology, ns, p, inInterface: nil)
            }, &w)
            if let t = fw.trace { w.packet = withTranslation(w.packet, t) }
            var evidence = route.evidence + fw.evidence
            if !fw.decision.isForward {
                let why = fw.decision.isDrop ? "iptables drops the packet at OUTPUT/POSTROUTING" + droppingRule(fw.evidence) : "\(fw.decision)"
                add(&w, interface: devID, role: role, decision: fw.decision, summary: why, evidence: evidence, notes: fw.notes)
                return fw.decision.isDrop ? .stopped(why) : .unknown(why)
            }
            let hop = gateway ?? dst
            let n = resolveNeighbour(inv, ns: ns, device: dev, nextHop: hop)
            evidence += n.evidence
            w.packet.ethSrc = link.mac
            w.packet.ethDst = n.mac
            guard n.mac != nil else {
                let why = n.problem ?? "the MAC of \(hop) is not known"
                add(&w, interface: devID, role: role, decision: n.isUnknown ? .unknown(reason: why) : .drop, summary: why, evidence: evidence, notes: fw.notes)
                return n.isUnknown ? .unknown(why) : .stopped(why)
            }
            return transmitRouted(devID, role: role, nextHop: hop, gateway: gateway, evidence: evidence, notes: fw.notes, neighbour: n, &w,
                                  via: "sent by \(ns.label)")
        case .rejected(let type):
            let why = "the route to \(dst) in \(ns.label) is \(type)"
            add(&w, ns: ns, device: nil, role: role ?? "routing", state: nil, decision: .drop, summary: why, evidence: route.evidence)
            return .stopped(why)
        case .noRoute:
            let why = "no route to \(dst) in \(ns.label)"
            add(&w, ns: ns, device: nil, role: role ?? "routing", state: nil, decision: .drop, summary: why, evidence: route.evidence)
            return .stopped(why)
        case .unknown(let why):
            add(&w, ns: ns, device: nil, role: role ?? "routing", state: nil, decision: .unknown(reason: why), summary: why, evidence: route.evidence)
            return .unknown(why)
        }
    }

    /// The egress hop of a routed packet (with route and neighbour evidence), then out of the device.
    func transmitRouted(_ devID: InterfaceID, role: String?, nextHop: IPAddress, gateway: IPAddress?, evidence: [Evidence], notes: [String],
                        neighbour: NeighbourResolution, _ w: inout Walk, via: String) -> End {
        let name = topology.interface(devID)?.name ?? "?"
        let summary = "\(via): out \(name)" + (gateway.map { " via \($0)" } ?? " (on-link)") + ", neighbour \(nextHop) \(neighbour.stateText)"
        // The device's own hop is written by `transmit`; routing evidence goes on it.
        var t = w
        let end = transmit(devID, &t, via: summary)
        if let i = t.hops.indices.first(where: { $0 >= w.hops.count && t.hops[$0].device == name && t.hops[$0].namespace == devID.namespace.label }) {
            t.hops[i].evidence = evidence + t.hops[i].evidence
            t.hops[i].notes = notes + t.hops[i].notes
            if let role { t.hops[i].role = role }
        }
        w = t
        return end
    }

    /// The route the kernel of `ns` picks for `packet`, in the evaluator's terms.
    static func routeDecision(_ topology: Topology, _ ns: NamespaceID, _ p: PacketKey, inInterface: String?) -> FirewallEvaluator.RouteDecision {
        guard let inv = topology.namespace(ns)?.inventory, let dst = p.ipDst else { return .unknown("no destination") }
        let d = RouteLookup.lookup(inv, destination: dst, source: p.ipSrc, inInterface: inInterface, ipProtocol: p.ipProto,
                                   sourcePort: p.srcPort, destinationPort: p.dstPort)
        switch d.outcome {
        case .local: return .local
        case .unicast(let dev, _): return .forward(outInterface: dev)
        case .rejected(let t): return .unknown("the route is \(t)")
        case .noRoute: return .unknown("no route to \(dst)")
        case .unknown(let why): return .unknown(why)
        }
    }

    /// The packet after the NAT a netfilter trace applied (addresses and ports; MACs kept).
    func withTranslation(_ p: PacketKey, _ t: FirewallTrace) -> PacketKey {
        var out = p
        out.ipSrc = t.translatedPacket.ipSrc
        out.ipDst = t.translatedPacket.ipDst
        out.srcPort = t.translatedPacket.srcPort
        out.dstPort = t.translatedPacket.dstPort
        return out
    }

    /// The IP stack of `ns` takes a packet received on `interface` (nil: from a local socket):
    /// PREROUTING (DNAT), rp_filter, routing, then INPUT and local delivery, or ip_forward,
    /// FORWARD, POSTROUTING (SNAT), TTL, the neighbour and out.
    func stackInput(_ ns: NamespaceID, interface iid: InterfaceID?, _ w: inout Walk, summary: String = "received") -> End {
        guard let node = topology.namespace(ns) else { return .unknown("namespace \(ns.label) is not in the snapshot") }
        let inv = node.inventory
        guard let originalDst = w.packet.ipDst else { return .unknown("not an IP packet") }
        let inName = iid.flatMap { topology.interface($0)?.name }
        let hopID = iid ?? inv.link(named: "lo").map { InterfaceID(namespace: ns, index: $0.index) }
        func hop(_ decision: Decision, _ text: String, _ evidence: [Evidence], _ notes: [String] = [], role: String? = nil) {
            if let hopID { add(&w, interface: hopID, role: role, decision: decision, summary: text, evidence: evidence, notes: notes) } else {
                add(&w, ns: ns, device: nil, role: role ?? "IP stack", state: nil, decision: decision, summary: text, evidence: evidence, notes: notes)
            }
        }
        // Netfilter PREROUTING, with the route after DNAT deciding local or forward.
        let fw = netfilter(ns, key: "ns:\(ns.label)", traversal: .routed(in: inName, out: nil), route: { [topology] p in
            Self.routeDecision(topology, ns, p, inInterface: inName)
        }, &w)
        let translated = fw.trace.map { withTranslation(w.packet, $0) } ?? w.packet
        guard let dst = translated.ipDst else { return .unknown("no destination") }
        // Routing sees the destination after PREROUTING's DNAT and the source before POSTROUTING's SNAT.
        let route = RouteLookup.lookup(inv, destination: dst, source: w.packet.ipSrc, inInterface: inName,
                                       ipProtocol: w.packet.ipProto, sourcePort: w.packet.srcPort, destinationPort: translated.dstPort)
        var evidence = route.evidence
        let notes = fw.notes
        // rp_filter checks the source against the route back, on the input interface.
        if let inName, let src = w.packet.ipSrc, let mode = inv.sysctls.effectiveRPFilter(on: inName), mode > 0 {
            let back = RouteLookup.lookup(inv, destination: src, source: dst)
            let ev = Evidence(kind: .sysctl, source: "\(ns.label) net.ipv4.conf.{all,\(inName)}.rp_filter", text: "\(mode)",
                              note: mode == 1 ? "strict: the route back to the source must leave by the input interface" : "loose: some route back to the source must exist")
            switch back.outcome {
            case .unicast(let backDev, _) where mode == 1 && backDev != inName:
                hop(.drop, "rp_filter (strict) drops it: the route back to \(src) leaves by \(backDev), not \(inName)", [ev] + back.evidence)
                return .stopped("rp_filter drops the packet on \(inName)")
            case .noRoute, .rejected:
                hop(.drop, "rp_filter drops it: no route back to \(src)", [ev] + back.evidence)
                return .stopped("rp_filter drops the packet on \(inName)")
            default: break
            }
        }
        switch route.outcome {
        case .local:
            // Local delivery: INPUT decided in the same trace.
            evidence += fw.evidence
            if !fw.decision.isForward {
                let why = fw.decision.isDrop ? "iptables drops the packet (PREROUTING/INPUT)" + droppingRule(fw.evidence) : "\(fw.decision)"
                hop(fw.decision, why, evidence, notes)
                return fw.decision.isDrop ? .stopped(why) : .unknown(why)
            }
            w.packet = translated
            if !w.encapsulation.isEmpty, let last = w.encapsulation.last, dst == last.remoteIP {
                hop(.forward(to: ["tunnel"]), "\(summary); \(dst) is this node's tunnel endpoint", evidence, notes, role: "underlay")
                return decapsulate(at: ns, &w)
            }
            hop(.forward(to: ["local"]), "\(summary); \(dst) is local: delivered" + (dst != originalDst ? " (after DNAT from \(originalDst))" : ""),
                evidence, notes, role: isTarget(ns, w) ? (w.direction == .forward ? "destination" : arrivalRole(hopID)) : nil)
            return .arrived(.local(ns, interface: iid))
        case .unicast(let dev, let gateway):
            guard let out = inv.link(named: dev) else { return .unknown("route device \(dev) is not in the snapshot") }
            let outID = InterfaceID(namespace: ns, index: out.index)
            // Forwarding: the sysctl first (the kernel refuses before FORWARD), then iptables.
            let forwarding = dst.isIPv4 ? inv.sysctls.ipv4Forwarding : inv.sysctls.ipv6Forwarding
            if iid != nil && forwarding != true {
                let key = dst.isIPv4 ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding"
                hop(.drop, "\(ns.label) does not forward: \(key) = \(forwarding == nil ? "unknown" : "0")",
                    evidence + [Evidence(kind: .sysctl, source: "\(ns.label) \(key)", text: forwarding == false ? "0" : "(not read)")])
                return .stopped("IP forwarding is off in \(ns.label)")
            }
            evidence += fw.evidence
            if !fw.decision.isForward {
                let why = fw.decision.isDrop ? "iptables drops the forwarded packet" + droppingRule(fw.evidence) : "\(fw.decision)"
                hop(fw.decision, why, evidence, notes)
                return fw.decision.isDrop ? .stopped(why) : .unknown(why)
            }
            if let ttl = w.packet.ttl, ttl <= 1 {
                hop(.drop, "TTL expired", evidence)
                return .stopped("TTL expired in \(ns.label)")
            }
            hop(.forward(to: [dev]), "\(summary); routed to \(dev)" + (gateway.map { " via \($0)" } ?? ""), evidence, notes)
            w.packet = translated
            if let t = w.packet.ttl { w.packet.ttl = t - 1 }
            let next = gateway ?? dst
            let n = resolveNeighbour(inv, ns: ns, device: dev, nextHop: next)
            w.packet.ethSrc = out.mac
            w.packet.ethDst = n.mac
            guard n.mac != nil else {
                let why = n.problem ?? "the MAC of \(next) is not known"
                add(&w, interface: outID, decision: n.isUnknown ? .unknown(reason: why) : .drop, summary: why, evidence: n.evidence)
                return n.isUnknown ? .unknown(why) : .stopped(why)
            }
            var end = transmitRouted(outID, role: nil, nextHop: next, gateway: gateway, evidence: n.evidence, notes: [], neighbour: n, &w,
                                     via: "forwarded by \(ns.label)")
            if case .arrived(.left(let i, nil, _)) = end { end = .arrived(.left(i, nextHop: next, neighbour: n.stateText)) }
            return end
        case .rejected(let type):
            let why = "the route to \(dst) in \(ns.label) is \(type)"
            hop(.drop, why, evidence)
            return .stopped(why)
        case .noRoute:
            let why = "no route to \(dst) in \(ns.label)"
            hop(.drop, why, evidence)
            return .stopped(why)
        case .unknown(let why):
            hop(.unknown(reason: why), why, evidence)
            return .unknown(why)
        }
    }

    /// The role of the device where a reply arrives back: the instance's NIC, or the source.
    func arrivalRole(_ iid: InterfaceID?) -> String {
        guard let iid else { return "source" }
        let r = role(iid)
        return r == "instance NIC" ? r : "source"
    }

    /// True when `ns` is where this walk must arrive (or no particular place is required).
    func isTarget(_ ns: NamespaceID, _ w: Walk) -> Bool {
        if let t = w.target.namespace { return t == ns }
        return w.target.guest == nil
    }
}
