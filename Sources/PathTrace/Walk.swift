import HopscopeModel
import Netfilter
import OpenVSwitch
import Topology

/// How one branch of a walk ended.
enum End {
    /// The packet reached the place it was sent to.
    case arrived(Arrival)
    /// It stopped; the last hop carries the drop and its evidence.
    case stopped(String)
    /// The walk cannot say; the last hop carries the reason.
    case unknown(String)
    /// A flooded copy reached a device that does not want it (another host's MAC, a loop): not
    /// the path, not a fault.
    case notForUs(String)

    /// Preference when a flood gives several branches: arrival first, then the most informative end.
    var rank: Int {
        switch self {
        case .arrived: 4
        case .stopped: 3
        case .unknown: 2
        case .notForUs: 1
        }
    }

    var text: String {
        switch self {
        case .arrived(let a): "arrives (\(a.text))"
        case .stopped(let r): "stops: \(r)"
        case .unknown(let r): "unknown: \(r)"
        case .notForUs(let r): r
        }
    }
}

/// Where a walk arrived.
enum Arrival {
    /// Delivered to the IP stack of a namespace (on `interface`).
    case local(NamespaceID, interface: InterfaceID?)
    /// Handed to the guest behind a tap.
    case guest(Instance)
    /// Left the snapshots by `interface` towards `nextHop`.
    case left(InterfaceID, nextHop: IPAddress?, neighbour: String)

    var text: String {
        switch self {
        case .local(let ns, _): "delivered in \(ns.label)"
        case .guest(let i): "delivered to guest \(i.name)"
        case .left(let i, let hop, _): "leaves the snapshots by interface \(i.index) in \(i.namespace.label) towards \(hop.map(\.description) ?? "?")"
        }
    }
}

/// A packet inside a tunnel: the inner packet waits here while the outer one crosses the underlay.
struct Encapsulation {
    var inner: PacketKey
    var tunnelType: String
    var tunnelID: UInt64
    var localIP: IPAddress?
    var remoteIP: IPAddress
    /// The receiving tunnel port, when the remote switch is in the snapshots.
    var remotePort: OVSPortID?
    var udpPort: UInt16
    /// Bytes the encapsulation adds to the inner IP packet.
    var overhead: Int
}

/// The state one branch of a walk carries: the hops so far, the packet as it is now, what
/// conntrack recorded on the way, and what was seen (to stop loops).
struct Walk {
    var direction: PathHop.Direction
    var hops: [PathHop] = []
    var packet: PacketKey
    /// Netfilter traces of this direction by place (`ns:LABEL`, `br:LABEL:BRIDGE`), for the reply's NAT.
    var conntrack: [String: FirewallTrace] = [:]
    /// The forward direction's traces, when walking the reply.
    var forwardConntrack: [String: FirewallTrace] = [:]
    var visited: Set<String> = []
    var encapsulation: [Encapsulation] = []
    /// Copies of flooded packets that went elsewhere, summarised.
    var otherBranches: [String] = []
    /// The namespace and address the walk must arrive at (nil: wherever the destination IP is local).
    var target: Target

    struct Target {
        /// The destination IP as sent (before any DNAT).
        var address: IPAddress
        /// When set, arrival must be in this namespace (the instance's) or at this guest.
        var namespace: NamespaceID?
        var guest: Instance?
    }

    static let maxHops = 400
}

extension PathTracer {
    // MARK: Hops

    func node(_ ns: NamespaceID) -> String { topology.namespace(ns)?.node ?? topology.snapshots[ns.snapshot].hostname }

    func state(_ iid: InterfaceID) -> DeviceState? {
        guard let i = topology.interface(iid) else { return nil }
        let l = i.link
        var s = DeviceState(adminUp: l.adminUp, operState: l.operState.rawValue, carrier: l.carrier ?? l.lowerUp, mtu: l.mtu,
                            rxPackets: l.statistics?.rxPackets, txPackets: l.statistics?.txPackets,
                            rxDropped: l.statistics?.rxDropped, txDropped: l.statistics?.txDropped)
        if let p = i.ovsPort, let port = topology.port(p) { s.ovs = portState(port) }
        return s
    }

    func portState(_ p: Topology.PortNode) -> String {
        if let e = p.interface.error { return "OVS error: \(e)" }
        var parts = ["ofport \(p.ofport.map(String.init) ?? "?")"]
        if let t = p.port.tag { parts.append("tag \(t)") }
        if let l = p.interface.linkState { parts.append("link \(l)") }
        return parts.joined(separator: " ")
    }

    func add(_ w: inout Walk, ns: NamespaceID, device: String?, role: String, state: DeviceState?, decision: Decision,
             summary: String, evidence: [Evidence] = [], notes: [String] = []) {
        w.hops.append(PathHop(direction: w.direction, node: node(ns), namespace: ns.label, device: device, role: role, state: state,
                              packet: w.packet, decision: decision, summary: summary, evidence: evidence, notes: notes))
    }

    func add(_ w: inout Walk, interface iid: InterfaceID, role: String? = nil, decision: Decision, summary: String,
             evidence: [Evidence] = [], notes: [String] = []) {
        let name = topology.interface(iid)?.name ?? "if\(iid.index)"
        add(&w, ns: iid.namespace, device: name, role: role ?? self.role(iid), state: state(iid), decision: decision,
            summary: summary, evidence: evidence, notes: notes)
    }

    /// Stops the branch at a new hop.
    func stop(_ w: inout Walk, interface iid: InterfaceID, role: String? = nil, _ reason: String, evidence: [Evidence] = []) -> End {
        add(&w, interface: iid, role: role, decision: .drop, summary: reason, evidence: evidence)
        return .stopped(reason)
    }

    func unknown(_ w: inout Walk, interface iid: InterfaceID, role: String? = nil, _ reason: String, evidence: [Evidence] = []) -> End {
        add(&w, interface: iid, role: role, decision: .unknown(reason: reason), summary: reason, evidence: evidence)
        return .unknown(reason)
    }

    /// Marks a place as seen with this packet; false when the branch was here already (a loop).
    func visit(_ w: inout Walk, _ place: String) -> Bool {
        let key = place + "|" + w.packet.description + "|\(w.encapsulation.count)"
        return w.visited.insert(key).inserted
    }

    func linkEvidence(_ iid: InterfaceID) -> Evidence {
        let i = topology.interface(iid)
        let l = i?.link
        let flags = l.map { $0.flags.names.joined(separator: ",") } ?? ""
        return Evidence(kind: .link, source: "ip link \(iid.namespace.label)",
                        text: "\(l?.name ?? "?"): <\(flags)> mtu \(l?.mtu ?? 0) state \(l?.operState.rawValue ?? "?")")
    }

    // MARK: Interfaces

    /// The packet leaves by Linux interface `iid`: into its veth peer, its OVS bridge (an
    /// internal port), its Linux bridge (the bridge device itself), a guest (a tap), or out of
    /// the snapshots.
    func transmit(_ iid: InterfaceID, _ w: inout Walk, via: String) -> End {
        guard w.hops.count < Walk.maxHops else { return unknown(&w, interface: iid, "the walk is longer than \(Walk.maxHops) hops") }
        guard visit(&w, "tx:\(iid)") else { return .notForUs("loop: the packet comes back to \(topology.interface(iid)?.name ?? "?")") }
        guard let i = topology.interface(iid) else { return .unknown("interface \(iid.index) of \(iid.namespace.label) is not in the snapshot") }
        let l = i.link
        if !l.adminUp {
            return stop(&w, interface: iid, "\(l.name) is administratively down", evidence: [linkEvidence(iid)])
        }
        let size = packetSize(w)
        if l.mtu > 0, size > l.mtu {
            return stop(&w, interface: iid, "the \(size)-byte packet is larger than \(l.name)'s MTU \(l.mtu)", evidence: [linkEvidence(iid)])
        }
        // A Linux bridge device sending: the bridge forwards it (from its own port).
        if l.kind == .bridge {
            add(&w, interface: iid, decision: .forward(to: [l.name]), summary: "\(via); into bridge \(l.name)")
            return bridgeForward(bridge: iid, inPort: nil, &w)
        }
        // An Open vSwitch internal port: the switch receives what the stack sends.
        if let p = i.ovsPort, let port = topology.port(p), port.interface.type == "internal" {
            add(&w, interface: iid, decision: .forward(to: [p.bridge]), summary: "\(via); into OVS bridge \(p.bridge) (internal port)")
            return ovsInput(p, &w)
        }
        if l.kind == .veth, let peer = i.vethPeer {
            if l.lowerUp == false && topology.interface(peer)?.link.adminUp != false {
                return stop(&w, interface: iid, "\(l.name) has no carrier", evidence: [linkEvidence(iid)])
            }
            add(&w, interface: iid, decision: .forward(to: [topology.interface(peer)?.name ?? "peer"]),
                summary: "\(via); veth to \(topology.interface(peer)?.name ?? "?")@\(peer.namespace.label)")
            return receive(peer, &w)
        }
        if l.kind == .tun {
            return deliverToGuest(behind: iid, &w, via: via)
        }
        if l.flags.contains(.loopback) {
            add(&w, interface: iid, decision: .forward(to: ["local"]), summary: "\(via); loopback")
            return stackInput(iid.namespace, interface: iid, &w)
        }
        // A physical or unknown device, or a veth whose other end is not in the snapshots: the
        // frame leaves what is known here. Another snapshot may own the destination MAC (the
        // other end of the wire).
        if l.lowerUp == false {
            return stop(&w, interface: iid, "\(l.name) has no carrier (cable or peer down)", evidence: [linkEvidence(iid)])
        }
        if let dst = w.packet.ethSrc == nil ? nil : w.packet.ethDst, let owners = topology.macOwners[dst],
           let other = owners.first(where: { $0.namespace.snapshot != iid.namespace.snapshot }) {
            add(&w, interface: iid, role: "NIC", decision: .forward(to: [topology.interface(other)?.name ?? "?"]),
                summary: "\(via); leaves \(node(iid.namespace)) to \(dst), which is \(topology.interface(other)?.name ?? "?") on \(node(other.namespace))")
            return receive(other, &w)
        }
        add(&w, interface: iid, role: "NIC", decision: .forward(to: []), summary: "\(via); leaves the snapshots")
        return .arrived(.left(iid, nextHop: nil, neighbour: ""))
    }

    /// A frame arrives on Linux interface `iid`: its Linux bridge, its OVS bridge, or the stack.
    func receive(_ iid: InterfaceID, _ w: inout Walk) -> End {
        guard w.hops.count < Walk.maxHops else { return unknown(&w, interface: iid, "the walk is longer than \(Walk.maxHops) hops") }
        guard visit(&w, "rx:\(iid)") else { return .notForUs("loop: the packet comes back to \(topology.interface(iid)?.name ?? "?")") }
        guard let i = topology.interface(iid) else { return .unknown("interface \(iid.index) of \(iid.namespace.label) is not in the snapshot") }
        let l = i.link
        if !l.adminUp {
            return stop(&w, interface: iid, "\(l.name) is administratively down", evidence: [linkEvidence(iid)])
        }
        if let bridge = i.bridgeMaster {
            if let stp = l.bridgePort?.stpState, stp != .forwarding {
                return stop(&w, interface: iid, "bridge port \(l.name) is in STP state \(stp.rawValue): it does not forward")
            }
            add(&w, interface: iid, decision: .forward(to: [topology.interface(bridge)?.name ?? "bridge"]),
                summary: "received; port of Linux bridge \(topology.interface(bridge)?.name ?? "?")")
            return bridgeForward(bridge: bridge, inPort: iid, &w)
        }
        if let p = i.ovsPort, let port = topology.port(p) {
            if port.interface.type == "internal" {
                // What the switch sends to an internal port reaches the stack; this is not that direction.
                return stackReceive(iid, &w, summary: "received from the switch")
            }
            if let e = port.interface.error {
                return stop(&w, interface: iid, "Open vSwitch cannot use port \(port.id.port): \(e)",
                            evidence: [Evidence(kind: .ovsdb, source: "\(topology.switches[p.instance].node) Interface \(port.id.port)", text: "error: \"\(e)\"")])
            }
            add(&w, interface: iid, decision: .forward(to: [p.bridge]), summary: "received; port \(p.port) of OVS bridge \(p.bridge)")
            return ovsInput(p, &w)
        }
        return stackReceive(iid, &w, summary: "received")
    }

    /// The stack of the interface's namespace takes a frame addressed to it (its MAC, broadcast or
    /// multicast); another host's frame is not for it.
    func stackReceive(_ iid: InterfaceID, _ w: inout Walk, summary: String) -> End {
        let l = topology.interface(iid)!.link
        if let dst = w.packet.ethDst, !dst.isMulticast, let mine = l.mac, dst != mine, !l.flags.contains(.noARP) {
            return .notForUs("\(l.name)@\(iid.namespace.label) drops a frame for \(dst) (its MAC is \(mine))")
        }
        return stackInput(iid.namespace, interface: iid, &w, summary: summary)
    }

    /// Hands a frame to the guest behind a tap: it arrives when it is addressed to the guest.
    func deliverToGuest(behind tap: InterfaceID, _ w: inout Walk, via: String) -> End {
        guard let guest = instances.first(where: { $0.tap == tap }) else {
            add(&w, interface: tap, decision: .unknown(reason: "nothing is known behind tun/tap device \(topology.interface(tap)?.name ?? "?")"),
                summary: "\(via); to the process holding the tap")
            return .unknown("nothing is known behind tun/tap device \(topology.interface(tap)?.name ?? "?")")
        }
        if let dst = w.packet.ethDst, !dst.isMulticast, !guest.macs.isEmpty, !guest.macs.contains(dst) {
            add(&w, interface: tap, role: "tap", decision: .forward(to: [guest.name]), summary: "\(via); to guest \(guest.name)")
            return .notForUs("guest \(guest.name) ignores a frame for \(dst)")
        }
        add(&w, interface: tap, role: "tap", decision: .forward(to: [guest.name]), summary: "\(via); to guest \(guest.name)")
        guard let ip = w.packet.ipDst, guest.addresses.contains(ip) else {
            return .notForUs("guest \(guest.name) does not own \(w.packet.ipDst?.description ?? "the destination")")
        }
        return .arrived(.guest(guest))
    }

    // MARK: Linux bridge

    /// A Linux bridge forwards a frame: FDB lookup (or flood), with iptables on bridged traffic
    /// when br_netfilter is on; frames for the bridge's own MAC go up to its stack.
    func bridgeForward(bridge: InterfaceID, inPort: InterfaceID?, _ w: inout Walk) -> End {
        guard let b = topology.interface(bridge) else { return .unknown("bridge \(bridge.index) is not in the snapshot") }
        let ns = bridge.namespace
        guard let inv = topology.namespace(ns)?.inventory else { return .unknown("namespace \(ns.label) is not in the snapshot") }
        if !b.link.adminUp { return stop(&w, interface: bridge, "bridge \(b.name) is administratively down", evidence: [linkEvidence(bridge)]) }
        let ports = inv.links.filter { $0.masterIndex == b.link.index && $0.portKind == "bridge" }
        let dst = w.packet.ethDst
        if inPort != nil, let dst, dst == b.link.mac {
            add(&w, interface: bridge, decision: .forward(to: ["local"]), summary: "frame for the bridge's own MAC: up to the stack")
            return stackInput(ns, interface: bridge, &w, summary: "received by the bridge device")
        }
        var targets: [Link] = []
        var evidence: [Evidence] = []
        var summary: String
        // An entry counts when it names the bridge itself or one of its current ports.
        let portIndexes = Set(ports.map(\.index) + [b.link.index])
        if let dst, !dst.isMulticast, let entry = inv.fdb.first(where: {
            $0.mac == dst && ($0.master == b.name || $0.masterIndex == b.link.index) && portIndexes.contains($0.interfaceIndex)
        }) {
            evidence.append(Evidence(kind: .fdb, source: "bridge fdb \(ns.label)", text: entry.text))
            if entry.state.contains(.permanent), entry.interfaceIndex == b.link.index || entry.flags.contains("self") || entry.interfaceIndex == inPort?.index {
                if entry.interfaceIndex == inPort?.index || entry.interfaceIndex == b.link.index {
                    add(&w, interface: bridge, decision: .forward(to: ["local"]), summary: "FDB: \(dst) is the bridge's own address: up to the stack", evidence: evidence)
                    return stackInput(ns, interface: bridge, &w, summary: "received by the bridge device")
                }
            }
            guard let out = inv.link(index: entry.interfaceIndex) else { return .unknown("FDB entry names interface \(entry.interfaceIndex), which is not in the snapshot") }
            if out.index == inPort?.index {
                return stop(&w, interface: bridge, "FDB: \(dst) is behind the port it came in on (\(out.name)); the bridge drops it", evidence: evidence)
            }
            targets = [out]
            summary = "FDB: \(dst) behind \(out.name)"
        } else {
            targets = ports.filter { $0.index != inPort?.index && $0.bridgePort?.unicastFlood != false || (dst?.isMulticast == true && $0.index != inPort?.index) }
            summary = dst?.isMulticast == true ? "broadcast/multicast: flooded to \(targets.map(\.name).joined(separator: ", "))"
                : "no FDB entry for \(dst?.description ?? "?"): flooded to \(targets.map(\.name).joined(separator: ", "))"
            evidence.append(Evidence(kind: .fdb, source: "bridge fdb \(ns.label)", text: "(no entry for \(dst?.description ?? "?") on \(b.name))"))
        }
        if targets.isEmpty {
            return stop(&w, interface: bridge, "the bridge has no other port to send the frame to", evidence: evidence)
        }
        let brnf = (w.packet.isIPv6 ? inv.sysctls.bridgeNFCallIp6tables : inv.sysctls.bridgeNFCallIptables) == true
        var branches: [(Walk, End)] = []
        for out in targets {
            var bw = w
            let outID = InterfaceID(namespace: ns, index: out.index)
            var ev = evidence
            var decision: Decision = .forward(to: [out.name])
            var why = summary
            var notes: [String] = []
            if inPort != nil, w.packet.isIPv4 || w.packet.isIPv6 {
                if brnf {
                    let inName = inPort.flatMap { topology.interface($0)?.name }
                    let fw = netfilter(ns, key: "br:\(ns.label):\(b.name)", traversal: .bridged(bridge: b.name, from: inName, to: out.name), &bw)
                    ev += fw.evidence
                    notes += fw.notes
                    if !fw.decision.isForward {
                        decision = fw.decision
                        why = fw.decision.isDrop ? "iptables drops the bridged frame (br_netfilter on)" + droppingRule(fw.evidence) : "iptables: \(fw.decision)"
                    }
                } else {
                    notes.append("br_netfilter is off in \(ns.label) (net.bridge.bridge-nf-call-\(w.packet.isIPv6 ? "ip6tables" : "iptables")=\(inv.sysctls.bridgeNFCallIptables == nil ? "absent" : "0")): iptables does not see bridged frames, security groups are not applied")
                    ev.append(Evidence(kind: .sysctl, source: "\(ns.label) net.bridge.bridge-nf-call-iptables",
                                       text: inv.sysctls.bridgeNFCallIptables.map { $0 ? "1" : "0" } ?? "(br_netfilter not loaded)"))
                }
            }
            add(&bw, interface: bridge, role: role(bridge), decision: decision, summary: why, evidence: ev, notes: notes)
            let end: End
            switch decision {
            case .drop: end = .stopped(why)
            case .unknown(let r): end = .unknown(r)
            case .forward: end = transmit(outID, &bw, via: "sent by bridge \(b.name)")
            }
            branches.append((bw, end))
        }
        return choose(branches, into: &w)
    }

    /// Picks the branch to report (arrival first) and summarises the others.
    func choose(_ branches: [(Walk, End)], into w: inout Walk) -> End {
        guard let best = branches.enumerated().max(by: { a, b in
            a.element.1.rank < b.element.1.rank || (a.element.1.rank == b.element.1.rank && a.offset > b.offset)
        }) else { return .unknown("no branch") }
        let prefix = w.hops.count
        var chosen = best.element.0
        for (i, (bw, end)) in branches.enumerated() where i != best.offset {
            let first = bw.hops.count > prefix ? bw.hops[prefix...].first(where: { _ in true }) : nil
            let place = first.map { "\($0.device ?? "?")@\($0.namespace)" } ?? "?"
            chosen.otherBranches.append(end.text + (place == "?" ? "" : " (after \(place))"))
            chosen.otherBranches += bw.otherBranches.filter { !chosen.otherBranches.contains($0) }
        }
        w = chosen
        return best.element.1
    }

    // MARK: Open vSwitch

    /// A packet enters an OVS bridge on `port`: the OpenFlow evaluator decides (patch ports
    /// followed inside); each bridge crossed is a hop; each output continues (floods branch).
    func ovsInput(_ port: OVSPortID, _ w: inout Walk) -> End {
        let sw = topology.switches[port.instance]
        let ns = sw.namespace ?? NamespaceID(snapshot: sw.snapshot, label: sw.info.namespace ?? "host")
        guard visit(&w, "ovs:\(port.instance):\(port.port)") else { return .notForUs("loop: the packet comes back to \(port.port)") }
        let model: OpenFlowModel
        switch evaluators.openFlow(port.instance) {
        case .success(let m): model = m
        case .failure(let e):
            add(&w, ns: ns, device: port.bridge, role: "OVS bridge \(port.bridge)", state: nil, decision: .unknown(reason: "\(e)"),
                summary: "the flows of \(sw.node) do not parse: \(e)")
            return .unknown("the flows of \(sw.node) do not parse")
        }
        var key = w.packet
        key.inPort = port.port
        let conntrack = w.direction == .forward ? ConntrackInput.newConnection
            : ConntrackInput(states: Array(repeating: 0x2A, count: 16))  // trk|est|rpl: a reply of a known connection
        let trace: OpenFlowTrace
        do { trace = try model.trace(bridge: port.bridge, packet: key, conntrack: conntrack) } catch {
            add(&w, ns: ns, device: port.bridge, role: "OVS bridge \(port.bridge)", state: nil, decision: .unknown(reason: "\(error)"), summary: "\(error)")
            return .unknown("\(error)")
        }
        let inPortText = "in_port \(port.port)" + (w.packet.vlanID.map { ", vlan \($0)" } ?? "")
        let decision = trace.decision
        var notes: [String] = []
        if !trace.learnedFlows.isEmpty { notes.append("learn() would add: " + trace.learnedFlows.joined(separator: "; ")) }
        /// Every bridge the packet went through, in order, the last one with the drop or the unknown.
        func stoppingHops(_ decision: Decision, _ summary: String, _ w: inout Walk) {
            let levels = bridgeLevels(trace, first: port.bridge).all
            for (n, level) in levels.enumerated() {
                if let p = level.patch { addPatchHop(p, ns: ns, &w) }
                let isLast = n == levels.count - 1
                add(&w, ns: ns, device: level.bridge, role: "OVS bridge \(level.bridge)", state: DeviceState(ovs: n == 0 ? inPortText : "in_port patch"),
                    decision: isLast ? decision : .forward(to: [levels[n + 1].bridge]), summary: isLast ? summary : "on through \(levels[n + 1].bridge)",
                    evidence: OpenFlowTrace.evidence(of: level.steps), notes: isLast ? notes : [])
            }
            if levels.isEmpty {
                add(&w, ns: ns, device: port.bridge, role: "OVS bridge \(port.bridge)", state: DeviceState(ovs: inPortText), decision: decision, summary: summary)
            }
        }
        guard decision.isForward else {
            if case .unknown(let r) = decision {
                stoppingHops(decision, trace.unknownReasons.joined(separator: "; "), &w)
                return .unknown(r)
            }
            let why = trace.dropCauses.last?.description ?? "dropped by \(port.bridge)"
            stoppingHops(decision, why, &w)
            return .stopped(why)
        }
        // Each output is a branch with the bridges that led to it.
        let chains = bridgeLevels(trace, first: port.bridge).chains
        var used = Set<Int>()
        var branches: [(Walk, End)] = []
        for out in trace.outputs {
            var bw = w
            let index = chains.indices.first { !used.contains($0) && chains[$0].bridge == out.bridge && chains[$0].port == out.port }
            let levels = index.map { chains[$0].levels } ?? [BridgeLevel(bridge: out.bridge, steps: [], patch: nil)]
            if let index { used.insert(index) }
            for (n, level) in levels.enumerated() {
                if let p = level.patch { addPatchHop(p, ns: ns, &bw) }
                let isLast = n == levels.count - 1
                add(&bw, ns: ns, device: level.bridge, role: "OVS bridge \(level.bridge)", state: DeviceState(ovs: n == 0 ? inPortText : "in_port patch"),
                    decision: .forward(to: [isLast ? (out.kind == .controller ? "CONTROLLER" : out.port) : levels[n + 1].patch.flatMap(patchPorts)?.from ?? "patch"]),
                    summary: isLast ? "out \(out.description)" : "to the patch port towards \(levels[n + 1].bridge)",
                    evidence: OpenFlowTrace.evidence(of: level.steps), notes: isLast ? notes : [])
            }
            let end = ovsOutput(out, switchIndex: port.instance, &bw)
            branches.append((bw, end))
        }
        var chosen = w
        let end = choose(branches, into: &chosen)
        if case .notForUs = end, let skipped = trace.skippedOutputs.last {
            // No copy arrives and an output went nowhere: that is where the packet stops.
            var stopped = w
            stopped.otherBranches = chosen.otherBranches + branches.map { "flooded copy: \($0.1.text)" }
            stoppingHops(.drop, skipped.description, &stopped)
            w = stopped
            return .stopped(skipped.description)
        }
        w = chosen
        return end
    }

    /// A bridge the packet is in during a trace, with its own steps and the patch step that led there.
    struct BridgeLevel {
        var bridge: String
        var steps: [TraceStep]
        var patch: TraceStep?
    }

    /// Splits a trace into bridges: `all` in the order first met (for a drop), and per output
    /// step the chain of bridges, from the first through patch ports, that led to it.
    func bridgeLevels(_ trace: OpenFlowTrace, first: String) -> (all: [BridgeLevel], chains: [(bridge: String, port: String, levels: [BridgeLevel])]) {
        var stack = [BridgeLevel(bridge: first, steps: [], patch: nil)]
        var all = [BridgeLevel(bridge: first, steps: [], patch: nil)]
        var chains: [(bridge: String, port: String, levels: [BridgeLevel])] = []
        func pop(to bridge: String) {
            while stack.count > 1 && stack[stack.count - 1].bridge != bridge { stack.removeLast() }
        }
        for s in trace.steps {
            pop(to: s.bridge)
            if s.kind == .patch, let target = patchPorts(s)?.toBridge {
                stack.append(BridgeLevel(bridge: target, steps: [], patch: s))
                if !all.contains(where: { $0.bridge == target }) { all.append(BridgeLevel(bridge: target, steps: [], patch: s)) }
                continue
            }
            if s.kind == .output {
                chains.append((s.bridge, s.note ?? "", stack))
                continue
            }
            stack[stack.count - 1].steps.append(s)
            if let i = all.firstIndex(where: { $0.bridge == s.bridge }) { all[i].steps.append(s) }
        }
        return (all.filter { !$0.steps.isEmpty || $0.patch != nil }, chains)
    }

    /// The ports and bridge of a patch step (`patch port patch-tun -> br-tun port patch-int`).
    func patchPorts(_ s: TraceStep) -> (from: String, toBridge: String, to: String)? {
        let w = (s.note ?? "").split(separator: " ").map(String.init)
        guard w.count >= 7, w[0] == "patch", w[1] == "port", w[3] == "->" else { return nil }
        return (w[2], w[4], w[6])
    }

    func addPatchHop(_ s: TraceStep, ns: NamespaceID, _ w: inout Walk) {
        let p = patchPorts(s)
        add(&w, ns: ns, device: p?.from ?? "patch", role: "patch", state: nil, decision: .forward(to: [p?.to ?? "?"]),
            summary: s.note ?? "patch", evidence: [Evidence(kind: .note, source: s.bridge, text: s.note ?? "patch")])
    }

    /// What happens after the switch outputs a packet: to a Linux device, an internal port's
    /// stack, or a tunnel.
    func ovsOutput(_ out: OpenFlowOutput, switchIndex: Int, _ w: inout Walk) -> End {
        let sw = topology.switches[switchIndex]
        switch out.kind {
        case .controller:
            return .unknown("\(out.bridge) sends the packet to the OpenFlow controller, which is not modelled")
        case .tunnel:
            guard let t = out.tunnel else { return .unknown("tunnel output without tunnel data") }
            return tunnel(t, port: OVSPortID(instance: switchIndex, bridge: out.bridge, port: out.port), &w)
        case .port:
            w.packet.vlanID = out.vlan
            let pid = OVSPortID(instance: switchIndex, bridge: out.bridge, port: out.port)
            guard let port = topology.port(pid) else { return .unknown("port \(out.port) of \(sw.node) is not in the snapshot") }
            guard let dev = topology.portDevices[pid] else {
                return .unknown("no Linux device behind OVS port \(out.port) on \(sw.node)" + (port.warnings.first.map { " (\($0))" } ?? ""))
            }
            if port.interface.type == "internal" {
                return stackDelivery(fromSwitch: dev, &w)
            }
            return transmit(dev, &w, via: "sent by \(out.bridge)" + (out.vlan.map { " tagged \($0)" } ?? ""))
        }
    }

    /// The switch outputs to an internal port: the namespace's stack receives on that device.
    func stackDelivery(fromSwitch dev: InterfaceID, _ w: inout Walk) -> End {
        guard let l = topology.interface(dev)?.link else { return .unknown("device gone") }
        if let dst = w.packet.ethDst, !dst.isMulticast, let mine = l.mac, dst != mine {
            return .notForUs("\(l.name)@\(dev.namespace.label) drops a frame for \(dst) (its MAC is \(mine))")
        }
        if !l.adminUp { return stop(&w, interface: dev, "\(l.name) is administratively down", evidence: [linkEvidence(dev)]) }
        return stackInput(dev.namespace, interface: dev, &w, summary: "received from OVS (internal port)")
    }

    // MARK: Tunnels

    /// The packet enters a tunnel: the underlay route to the remote endpoint in the switch's
    /// namespace, the egress device's MTU against the inner packet plus the encapsulation, then the
    /// outer packet's own walk to the remote node, where the tunnel port takes the inner packet.
    func tunnel(_ t: TunnelOutput, port: OVSPortID, _ w: inout Walk) -> End {
        let sw = topology.switches[port.instance]
        guard let ns = sw.namespace, let inv = topology.namespace(ns)?.inventory else {
            return .unknown("the namespace of Open vSwitch \(sw.node) is not in the snapshot")
        }
        let portNode = topology.port(port)
        var inner = w.packet
        inner.vlanTCI = 0
        inner.tunnelID = t.tunnelID
        let tunnelEvidence = Evidence(kind: .ovsdb, source: "\(sw.node) Interface \(port.port)",
                                      text: "type=\(t.type) options:{" + (portNode?.interface.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") ?? "") + "}")
        w.packet = inner
        add(&w, ns: ns, device: port.port, role: "\(t.type.uppercased()) tunnel",
            state: portNode.map { DeviceState(ovs: portState($0)) }, decision: .forward(to: [t.remoteIP]),
            summary: "tun_id 0x\(String(t.tunnelID, radix: 16)) to \(t.remoteIP)" + (t.localIP.map { " from \($0)" } ?? ""),
            evidence: [tunnelEvidence])
        guard let remote = IPAddress(t.remoteIP) else {
            return .unknown("tunnel \(port.port) remote \(t.remoteIP) is not an address")
        }
        let local = t.localIP.flatMap { IPAddress($0) }
        let route = RouteLookup.lookup(inv, destination: remote, source: local)
        guard case .unicast(let dev, let gateway) = route.outcome, let devLink = inv.link(named: dev) else {
            let why = "no underlay route to the tunnel endpoint \(remote) in \(ns.label)" + (route.outcome == .noRoute ? "" : " (\(route.outcome))")
            add(&w, ns: ns, device: nil, role: "underlay", state: nil, decision: .drop, summary: why, evidence: route.evidence)
            return .stopped(why)
        }
        let devID = InterfaceID(namespace: ns, index: devLink.index)
        let overhead = Self.encapsulationOverhead(t.type, ipv6: !remote.isIPv4)
        let innerMTU = innerNetworkMTU(w)
        var notes: [String] = []
        var evidence = route.evidence
        evidence.append(linkEvidence(devID))
        if let innerMTU, innerMTU + overhead > devLink.mtu {
            notes.append("full-size packets do not fit: inner MTU \(innerMTU) + \(overhead) bytes of \(t.type) > \(dev) MTU \(devLink.mtu)")
        }
        let neighbour = resolveNeighbour(inv, ns: ns, device: dev, nextHop: gateway ?? remote)
        evidence += neighbour.evidence
        let outerSize = packetSize(w) + overhead
        if outerSize > devLink.mtu {
            let why = "the \(packetSize(w))-byte packet is \(outerSize) bytes with \(t.type) encapsulation, more than \(dev)'s MTU \(devLink.mtu)"
            add(&w, interface: devID, role: "underlay", decision: .drop, summary: why, evidence: evidence, notes: notes)
            return .stopped(why)
        }
        // The outer packet.
        var outer = PacketKey()
        outer.ethType = remote.isIPv4 ? PacketKey.EtherType.ipv4 : PacketKey.EtherType.ipv6
        outer.ipProto = t.type == "gre" ? PacketKey.IPProtocol.gre : PacketKey.IPProtocol.udp
        outer.ipSrc = local ?? RouteLookup.sourceAddress(inv, decision: route, destination: remote)
        outer.ipDst = remote
        let udpPort = UInt16(portNode?.interface.options["dst_port"] ?? "") ?? (t.type == "geneve" ? 6081 : 4789)
        if outer.ipProto == PacketKey.IPProtocol.udp { outer.dstPort = udpPort; outer.srcPort = 49152 }
        outer.ethSrc = devLink.mac
        outer.ethDst = neighbour.mac
        w.encapsulation.append(Encapsulation(inner: inner, tunnelType: t.type, tunnelID: t.tunnelID, localIP: outer.ipSrc, remoteIP: remote,
                                             remotePort: portNode?.tunnel?.remotePort, udpPort: udpPort, overhead: overhead))
        w.packet = outer
        guard neighbour.mac != nil else {
            let why = neighbour.problem ?? "the MAC of \(gateway ?? remote) is not known"
            add(&w, interface: devID, role: "underlay", decision: neighbour.isUnknown ? .unknown(reason: why) : .drop, summary: why, evidence: evidence, notes: notes)
            return neighbour.isUnknown ? .unknown(why) : .stopped(why)
        }
        add(&w, interface: devID, role: "underlay", decision: .forward(to: [dev]),
            summary: "route to \(remote) via \(dev)" + (gateway.map { " gateway \($0)" } ?? "") + ", outer \(outer.ipSrc?.description ?? "?") > \(remote)",
            evidence: evidence, notes: notes)
        return transmitEncapsulated(devID, &w)
    }

    /// Sends the outer packet on the underlay device: the route's device is usually a plain
    /// interface or an OVS internal port (br-phy in a userspace datapath).
    func transmitEncapsulated(_ dev: InterfaceID, _ w: inout Walk) -> End {
        let l = topology.interface(dev)!.link
        if !l.adminUp { return stop(&w, interface: dev, role: "underlay", "\(l.name) is administratively down", evidence: [linkEvidence(dev)]) }
        if let i = topology.interface(dev), let p = i.ovsPort, topology.port(p)?.interface.type == "internal" {
            return ovsInput(p, &w)
        }
        if l.kind == .veth, let peer = topology.interface(dev)?.vethPeer { return receive(peer, &w) }
        return transmit(dev, &w, via: "underlay")
    }

    /// The tunnel's far end takes the inner packet: the receiving port of the remote switch.
    func decapsulate(at ns: NamespaceID, _ w: inout Walk) -> End {
        let e = w.encapsulation.removeLast()
        w.packet = e.inner
        guard let remotePort = e.remotePort ?? receivingPort(in: ns, for: e) else {
            let why = "the tunnel endpoint \(e.remoteIP) is in \(ns.label), but no \(e.tunnelType) port there receives from \(e.localIP?.description ?? "?")"
            add(&w, ns: ns, device: nil, role: "\(e.tunnelType.uppercased()) tunnel", state: nil, decision: .drop, summary: why)
            return .stopped(why)
        }
        guard let port = topology.port(remotePort) else { return .unknown("tunnel port gone") }
        w.packet.tunnelID = e.tunnelID
        w.packet.tunnelSrc = e.localIP
        w.packet.tunnelDst = e.remoteIP
        add(&w, ns: ns, device: remotePort.port, role: "\(e.tunnelType.uppercased()) tunnel", state: DeviceState(ovs: portState(port)),
            decision: .forward(to: [remotePort.bridge]),
            summary: "decapsulated: tun_id 0x\(String(e.tunnelID, radix: 16)) from \(e.localIP?.description ?? "?") into \(remotePort.bridge)",
            evidence: [Evidence(kind: .ovsdb, source: "\(topology.switches[remotePort.instance].node) Interface \(remotePort.port)",
                                text: "type=\(port.interface.type) options:{" + port.interface.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}")])
        return ovsInput(remotePort, &w)
    }

    func receivingPort(in ns: NamespaceID, for e: Encapsulation) -> OVSPortID? {
        let candidates = topology.switches.filter { $0.namespace == ns }.flatMap { sw in
            sw.ports.values.filter { p in
                guard let t = p.tunnel, t.type == e.tunnelType else { return false }
                return t.remoteIP == e.localIP || p.interface.options["remote_ip"] == "flow"
            }
        }
        return candidates.count == 1 ? candidates[0].id : nil
    }

    /// Bytes a tunnel adds to the inner Ethernet frame (outer Ethernet not counted: MTU is L3).
    static func encapsulationOverhead(_ type: String, ipv6: Bool) -> Int {
        let ip = ipv6 ? 40 : 20
        switch type {
        case "vxlan": return ip + 8 + 8 + 14
        case "geneve": return ip + 8 + 8 + 14
        case "gre": return ip + 4 + 14
        default: return ip + 8 + 8 + 14
        }
    }

    /// The MTU of the network the inner packet belongs to: the smallest MTU of the Linux devices
    /// it crossed so far in this direction.
    func innerNetworkMTU(_ w: Walk) -> Int? {
        w.hops.filter { $0.direction == w.direction }.compactMap(\.state?.mtu).filter { $0 > 0 }.min()
    }

    /// The IP length of the packet as it is now: the requested size plus every encapsulation around it.
    func packetSize(_ w: Walk) -> Int { requestedSize + w.encapsulation.map(\.overhead).reduce(0, +) }
}
