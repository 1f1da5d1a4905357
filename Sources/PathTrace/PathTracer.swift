import HopscopeModel
import Netfilter
import Topology

/// Walks a packet hop by hop through the topology of one or more snapshots: from an instance to
/// a destination (or from a source to the instance), then the reply back, following real links
/// (veth peers, bridge ports, OVS ports and patches, tunnels to the node owning the endpoint,
/// routes and neighbours) with the OpenFlow and netfilter evaluators deciding at each switch and
/// namespace, NAT applied on the way and undone on the reply.
///
/// Flooded packets are followed as branches (loops stopped, at most `Walk.maxHops` hops); the
/// reported path is the branch that arrives, the others are summarised. Anything the walk cannot
/// decide is `unknown` with the reason, never a guess.
///
/// Not thread-safe (it caches compiled evaluators): one walk at a time per tracer.
public final class PathTracer {
    public let topology: Topology
    let evaluators: Evaluators
    var requestedSize = 84
    /// The instances of the topology, found once.
    lazy var instances: [Instance] = topology.instances
    private var domains: [InterfaceID: Set<InterfaceID>] = [:]

    /// The layer-2 domain of an interface, computed once per walk.
    func linkLayerDomain(of iid: InterfaceID) -> Set<InterfaceID> {
        if let d = domains[iid] { return d }
        let d = topology.linkLayerDomain(of: iid)
        for i in d where topology.interface(i)?.link.kind != .bridge || i == iid { domains[i] = d }
        return d
    }

    public init(topology: Topology) {
        self.topology = topology
        evaluators = Evaluators(topology: topology)
    }

    public convenience init(snapshots: [Snapshot]) {
        self.init(topology: Topology(snapshots: snapshots))
    }

    // MARK: Request

    /// Walks `request`. Throws `InstanceLookupError` (no or several instances match) or
    /// `PathRequestError` (a source or destination that cannot be placed); everything found on
    /// the way is in the result.
    public func trace(_ request: PathRequest) throws -> PathResult {
        let instance = try topology.findInstance(request.instance, among: instances)
        requestedSize = request.size ?? request.proto.defaultSize
        var notes: [String] = []
        for f in instance.facts where instance.isGuest && (f.field == .ip || f.field == .mac) {
            notes.append("instance \(f.field.rawValue) \(f.value) from \(f.source)")
        }
        switch request.direction {
        case .to(let destText):
            let (dst, targetNS, targetGuest) = try destination(destText, notes: &notes)
            guard let src = instance.ipv4 ?? instance.addresses.first else {
                throw PathRequestError("no address is known for instance \(instance.name) (no DHCP host entry, security group rule, neighbour entry or interface address)")
            }
            let packet = makePacket(src: src, dst: dst, proto: request.proto, sourcePort: request.sourcePort)
            var w = Walk(direction: .forward, packet: packet, target: Walk.Target(address: dst, namespace: targetNS, guest: targetGuest))
            let end = start(from: .instance(instance), &w, notes: &notes)
            return finish(instance: instance, source: "\(instance.name) (\(src))", destination: destText == dst.description ? destText : "\(destText) (\(dst))",
                          proto: request.proto, packet: packet, walk: w, end: end, origin: .instance(instance), notes: notes)
        case .from(let srcText):
            guard let fixed = instance.ipv4 ?? instance.addresses.first else {
                throw PathRequestError("no address is known for instance \(instance.name)")
            }
            let origin = try self.origin(srcText)
            let srcIP = origin.address
            var dst = fixed
            if let fip = floatingIP(of: fixed), !sameSubnet(srcIP, fixed) {
                dst = fip.address
                notes.append("\(srcIP) is outside the instance's subnet: the walk goes to its floating IP \(fip.address) (\(fip.rule))")
            }
            let packet = makePacket(src: srcIP, dst: dst, proto: request.proto, sourcePort: request.sourcePort)
            var w = Walk(direction: .forward, packet: packet,
                         target: Walk.Target(address: dst, namespace: instance.nic?.namespace, guest: instance.isGuest ? instance : nil))
            let end = start(from: origin, &w, notes: &notes)
            return finish(instance: instance, source: "\(srcText)" + (srcText == srcIP.description ? "" : " (\(srcIP))"),
                          destination: "\(instance.name) (\(dst == fixed ? fixed.description : "\(dst) -> \(fixed)"))",
                          proto: request.proto, packet: packet, walk: w, end: end, origin: origin, notes: notes)
        }
    }

    /// Where a walk starts: a namespace's stack, a guest behind its tap, or the edge of the
    /// snapshots for a source outside them.
    enum Origin {
        case instance(Instance)
        case namespace(NamespaceID, IPAddress)
        case outside(IPAddress)

        var address: IPAddress {
            switch self {
            case .instance(let i): i.ipv4 ?? i.addresses.first!
            case .namespace(_, let a), .outside(let a): a
            }
        }
    }

    /// DEST of `--to`: an address, or an instance (then arrival must be at it).
    func destination(_ text: String, notes: inout [String]) throws -> (IPAddress, NamespaceID?, Instance?) {
        if let ip = IPAddress(text) { return (ip, nil, nil) }
        guard let other = try? topology.findInstance(text, among: instances), let ip = other.ipv4 ?? other.addresses.first else {
            throw PathRequestError("destination \"\(text)\" is neither an IP address nor an instance of the snapshots")
        }
        return (ip, other.nic?.namespace, other.isGuest ? other : nil)
    }

    /// SRC of `--from`: an instance, an address owned by a namespace of the snapshots, or an
    /// address outside them.
    func origin(_ text: String) throws -> Origin {
        if let ip = IPAddress(text) {
            let owners = topology.addressOwners[ip] ?? []
            let namespaces = Set(owners.map(\.namespace))
            if namespaces.count == 1 { return .namespace(namespaces.first!, ip) }
            if namespaces.count > 1 {
                throw PathRequestError("\(ip) is configured in \(namespaces.map(\.label).sorted().joined(separator: ", ")); give the source as an instance instead")
            }
            if let i = instances.first(where: { $0.addresses.contains(ip) }) { return .instance(i) }
            return .outside(ip)
        }
        guard let i = try? topology.findInstance(text, among: instances), i.ipv4 ?? i.addresses.first != nil else {
            throw PathRequestError("source \"\(text)\" is neither an IP address nor an instance of the snapshots")
        }
        return .instance(i)
    }

    func makePacket(src: IPAddress, dst: IPAddress, proto: PathProtocol, sourcePort: UInt16) -> PacketKey {
        var p = PacketKey()
        p.ethType = src.isIPv4 ? PacketKey.EtherType.ipv4 : PacketKey.EtherType.ipv6
        p.ipSrc = src
        p.ipDst = dst
        p.ttl = 64
        switch proto {
        case .icmp:
            p.ipProto = src.isIPv4 ? PacketKey.IPProtocol.icmp : PacketKey.IPProtocol.icmpv6
            p.icmpType = src.isIPv4 ? 8 : 128
            p.icmpCode = 0
        case .udp(let port):
            p.ipProto = PacketKey.IPProtocol.udp
            p.srcPort = sourcePort
            p.dstPort = port
        case .tcp(let port):
            p.ipProto = PacketKey.IPProtocol.tcp
            p.srcPort = sourcePort
            p.dstPort = port
            p.tcpFlags = 0x002
        }
        return p
    }

    /// The reply to `p`: addresses and ports swapped, ICMP echo reply, TCP SYN-ACK.
    func reply(to p: PacketKey) -> PacketKey {
        var r = p
        r.ipSrc = p.ipDst
        r.ipDst = p.ipSrc
        r.srcPort = p.dstPort
        r.dstPort = p.srcPort
        r.ethSrc = nil
        r.ethDst = nil
        r.vlanTCI = 0
        r.tunnelID = nil
        r.tunnelSrc = nil
        r.tunnelDst = nil
        r.inPort = nil
        r.ttl = 64
        if p.isICMP { r.icmpType = p.isIPv4 ? 0 : 129 }
        if p.ipProto == PacketKey.IPProtocol.tcp { r.tcpFlags = 0x012 }
        return r
    }

    // MARK: Starting

    func start(from origin: Origin, _ w: inout Walk, notes: inout [String]) -> End {
        switch origin {
        case .instance(let i):
            if let nic = i.nic { return sendFromStack(nic.namespace, role: "instance NIC", &w) }
            return startFromGuest(i, &w, notes: &notes)
        case .namespace(let ns, _):
            return sendFromStack(ns, role: "source", &w)
        case .outside(let ip):
            return startOutside(ip, &w, notes: &notes)
        }
    }

    /// A guest sends: it is behind a tap with nothing to look into, so its next hop is taken from
    /// what its network hands out (the DHCP router option, else the router interface on its
    /// subnet), and the frame enters the host on the tap.
    func startFromGuest(_ i: Instance, _ w: inout Walk, notes: inout [String]) -> End {
        guard let dst = w.packet.ipDst, let src = w.packet.ipSrc else { return .unknown("no addresses") }
        let (gateway, subnet, how) = guestRouting(i, address: src)
        let nextHop: IPAddress? = subnet.map { $0.contains(dst) } == true ? dst : gateway
        var evidence = i.facts.filter { $0.field == .ip || $0.field == .mac }.map {
            Evidence(kind: .note, source: $0.source, text: "\($0.field.rawValue) \($0.value)")
        }
        w.packet.ethSrc = i.mac
        var mac: MACAddress?
        if let nextHop, let owner = (topology.addressOwners[nextHop] ?? []).first, let m = topology.interface(owner)?.link.mac {
            mac = m
            evidence.append(Evidence(kind: .address, source: "ip addr \(owner.namespace.label)",
                                     text: "\(topology.interface(owner)!.name): \(nextHop) link/ether \(m)", note: "the guest's ARP for \(nextHop) resolves to it"))
        }
        w.packet.ethDst = mac
        let tapName = topology.interface(i.tap)?.name ?? "?"
        notes.append("\(i.name) is a guest behind \(tapName): its next hop \(nextHop?.description ?? "?") is assumed from \(how)")
        guard let nextHop, mac != nil else {
            let why = nextHop == nil ? "the guest's next hop is not known (no DHCP router option, no router interface on its subnet)"
                : "no interface in the snapshots owns the guest's next hop \(nextHop?.description ?? "?")"
            w.hops.append(PathHop(direction: w.direction, node: i.node, namespace: "(guest)", device: nil, role: "instance NIC (guest)", packet: w.packet,
                                  decision: .unknown(reason: why), summary: why, evidence: evidence))
            return .unknown(why)
        }
        w.hops.append(PathHop(direction: w.direction, node: i.node, namespace: "(guest)", device: i.mac?.description, role: "instance NIC (guest)",
                              packet: w.packet, decision: .forward(to: [tapName]),
                              summary: "the guest sends to \(nextHop) (\(how)) through \(tapName)", evidence: evidence))
        return receive(i.tap, &w)
    }

    /// A guest's gateway and subnet: the DHCP options file's router option for it and the
    /// subnet of the router interface (or DHCP port) that holds its address.
    func guestRouting(_ i: Instance, address: IPAddress) -> (IPAddress?, IPPrefix?, String) {
        let subnet = topology.interfaces.values.flatMap(\.addresses).first { $0.length < $0.address.bitWidth && IPPrefix(address: $0.network, length: $0.length).contains(address) }
            .map { IPPrefix(address: $0.network, length: $0.length) }
        for d in topology.dhcpServers where d.hosts.contains(where: { h in h.mac.map { i.macs.contains($0) } == true }) {
            for line in d.optionLines where line.contains("option:router,") || line.contains("option:3,") || line.contains(",3,") {
                if let last = line.split(separator: ",").last, let gw = IPAddress(last.trimmingCharacters(in: .whitespaces)) {
                    return (gw, subnet, "the DHCP router option of dnsmasq in \(d.namespace.label): \(line)")
                }
            }
        }
        if let subnet {
            for ns in topology.namespaceOrder where topology.namespace(ns)?.isRouter == true {
                for a in topology.namespace(ns)!.inventory.addresses where subnet.contains(a.prefix.address) && a.prefix.length == subnet.length {
                    return (a.prefix.address, subnet, "the router interface \(a.interface ?? "?") of \(ns.label) on \(subnet)")
                }
            }
        }
        return (nil, subnet, "nothing")
    }

    /// A source outside the snapshots: the packet enters where the namespace that owns the
    /// destination would route it back to the source, from that route's next hop.
    func startOutside(_ src: IPAddress, _ w: inout Walk, notes: inout [String]) -> End {
        guard let dst = w.packet.ipDst, let owner = topology.addressOwners[dst]?.first, let inv = topology.namespace(owner.namespace)?.inventory else {
            return .unknown("\(src) is not in the snapshots and no namespace owns the destination \(w.packet.ipDst?.description ?? "?")")
        }
        let back = RouteLookup.lookup(inv, destination: src, source: dst)
        guard case .unicast(let dev, let gateway) = back.outcome, let link = inv.link(named: dev) else {
            return .unknown("\(owner.namespace.label) has no route back to \(src): the entry point cannot be placed")
        }
        let iid = InterfaceID(namespace: owner.namespace, index: link.index)
        let n = resolveNeighbour(inv, ns: owner.namespace, device: dev, nextHop: gateway ?? src)
        w.packet.ethSrc = n.mac
        w.packet.ethDst = link.mac
        notes.append("\(src) is outside the snapshots: the packet is taken to arrive on \(dev)@\(owner.namespace.label), where the route back to it leaves")
        w.hops.append(PathHop(direction: w.direction, node: "(outside)", namespace: "-", device: nil, role: "source",
                              packet: w.packet, decision: .forward(to: [dev]),
                              summary: "\(src) sends from outside the snapshots via \(gateway?.description ?? "the link")",
                              evidence: back.evidence + n.evidence))
        return stackInput(owner.namespace, interface: iid, &w)
    }

    /// The floating IP of a fixed address: a DNAT rule `-d FIP/32 -j DNAT --to-destination FIXED`
    /// in some namespace's nat table.
    func floatingIP(of fixed: IPAddress) -> (address: IPAddress, rule: String)? {
        for s in topology.snapshots {
            for f in s.firewalls {
                guard let text = f.iptablesSave else { continue }
                let lines = text.split(separator: "\n").filter { $0.contains("-j DNAT") && $0.contains("--to-destination \(fixed)") }
                for line in lines.filter({ $0.contains("PREROUTING") }) + lines.filter({ !$0.contains("PREROUTING") }) {
                    let words = line.split(separator: " ")
                    guard let di = words.firstIndex(of: "-d"), di + 1 < words.count,
                          words.last.map({ $0 == Substring(fixed.description) || $0.hasPrefix("\(fixed):") }) == true,
                          let ip = IPAddress(words[di + 1].split(separator: "/")[0]) else { continue }
                    return (ip, "DNAT rule in \(f.namespace): \(line.drop { $0 != "-" })")
                }
            }
        }
        return nil
    }

    /// True when a router interface's subnet holds both addresses.
    func sameSubnet(_ a: IPAddress, _ b: IPAddress) -> Bool {
        topology.interfaces.values.flatMap(\.addresses).contains { p in
            p.length < p.address.bitWidth && IPPrefix(address: p.network, length: p.length).contains(a)
                && IPPrefix(address: p.network, length: p.length).contains(b)
        }
    }

    // MARK: Finishing

    func finish(instance: Instance, source: String, destination: String, proto: PathProtocol, packet: PacketKey,
                walk: Walk, end: End, origin: Origin, notes: [String]) -> PathResult {
        var w = walk
        var end = end
        // An arrival somewhere else than the target is a stop there.
        if case .arrived(.local(let ns, _)) = end, !isTarget(ns, w) {
            let why = "delivered to \(ns.label) itself, not to \(w.target.namespace?.label ?? w.target.guest?.name ?? "the target")"
            if !w.hops.isEmpty { w.hops[w.hops.count - 1].decision = .drop; w.hops[w.hops.count - 1].summary += " (\(why))" }
            end = .stopped(why)
        }
        if case .arrived(.guest(let g)) = end, let t = w.target.guest, t.tap != g.tap {
            end = .stopped("delivered to guest \(g.name), not \(t.name)")
        }
        let forward = verdict(end, w.hops, arrivedText: "")
        var hops = w.hops
        var replyVerdict: PathVerdict?
        var branches = w.otherBranches
        if case .arrived(let arrival) = end {
            var r = Walk(direction: .reply, packet: reply(to: w.hops.last?.packet ?? packet),
                         target: Walk.Target(address: packet.ipSrc!, namespace: nil, guest: nil))
            r.forwardConntrack = w.conntrack
            switch origin {
            case .instance(let i):
                r.target.namespace = i.nic?.namespace
                r.target.guest = i.isGuest ? i : nil
            case .namespace(let ns, _): r.target.namespace = ns
            case .outside: break
            }
            r.hops = []
            var replyEnd = startReply(arrival, forwardLast: w.hops.last, &r)
            if case .arrived(.local(let ns, _)) = replyEnd, !isTarget(ns, r) {
                replyEnd = .stopped("the reply is delivered to \(ns.label), not back to the source")
            }
            if case .arrived(.left) = replyEnd, case .outside = origin {} else if case .arrived(.left(let i, _, _)) = replyEnd {
                replyEnd = .unknown("the reply leaves the snapshots by \(topology.interface(i)?.name ?? "?")@\(i.namespace.label)")
            }
            hops += r.hops
            replyVerdict = verdict(replyEnd, hops, arrivedText: "")
            branches += r.otherBranches
        }
        for i in hops.indices { hops[i].index = i + 1 }
        var overall = forward
        if forward.kind == .reachable, let rv = replyVerdict {
            switch rv.kind {
            case .reachable: overall = forward
            case .stopped: overall = PathVerdict(kind: .stopped, hop: rv.hop, node: rv.node, namespace: rv.namespace, device: rv.device, reason: "the reply: \(rv.reason)")
            case .unknown: overall = PathVerdict(kind: .unknown, hop: rv.hop, node: rv.node, namespace: rv.namespace, device: rv.device, reason: "the reply: \(rv.reason)")
            }
        }
        // Hop numbers of the verdicts refer to the whole list.
        func renumber(_ v: PathVerdict) -> PathVerdict {
            var v = v
            if let h = v.hop, h <= hops.count { v.hop = h }
            return v
        }
        var allNotes = notes
        if case .arrived(.left(let i, let next, let state)) = end {
            allNotes.append("the destination is outside the snapshots: the packet leaves by \(topology.interface(i)?.name ?? "?")@\(i.namespace.label) towards \(next?.description ?? "the wire") (neighbour \(state.isEmpty ? "?" : state))")
        }
        return PathResult(instance: instance, source: source, destination: destination, proto: proto.description, packet: packet,
                          hops: hops, forward: renumber(forward), reply: replyVerdict.map(renumber), verdict: renumber(overall),
                          otherBranches: branches, notes: allNotes)
    }

    /// The reply starts where the forward packet arrived: the destination's stack sends it, the
    /// guest sends it back through its tap, or it comes back in where the packet left.
    func startReply(_ arrival: Arrival, forwardLast: PathHop?, _ r: inout Walk) -> End {
        switch arrival {
        case .local(let ns, _):
            return sendFromStack(ns, role: "destination", &r)
        case .guest(let g):
            r.packet.ethSrc = g.mac
            r.packet.ethDst = forwardLast?.packet.ethSrc
            r.hops.append(PathHop(direction: .reply, node: g.node, namespace: "(guest)", device: g.mac?.description, role: "instance NIC (guest)",
                                  packet: r.packet, decision: .forward(to: [topology.interface(g.tap)?.name ?? "tap"]),
                                  summary: "the guest answers to \(r.packet.ethDst?.description ?? "?") through its tap"))
            return receive(g.tap, &r)
        case .left(let iid, _, _):
            // The answer comes back from where the packet went, to the MAC that sent it.
            r.packet.ethSrc = forwardLast?.packet.ethDst
            r.packet.ethDst = forwardLast?.packet.ethSrc
            return receive(iid, &r)
        }
    }

    func verdict(_ end: End, _ hops: [PathHop], arrivedText: String) -> PathVerdict {
        let last = hops.last
        let at = hops.isEmpty ? nil : hops.count
        switch end {
        case .arrived(let a):
            if case .left = a { return PathVerdict(kind: .reachable, reason: "as far as the snapshots show: \(a.text)") }
            return PathVerdict(kind: .reachable, reason: arrivedText)
        case .stopped(let why):
            let stopHop = hops.lastIndex { $0.decision.isDrop }.map { $0 + 1 } ?? at
            let h = stopHop.map { hops[$0 - 1] } ?? last
            return PathVerdict(kind: .stopped, hop: stopHop, node: h?.node, namespace: h?.namespace, device: h?.device, reason: why)
        case .unknown(let why):
            return PathVerdict(kind: .unknown, hop: at, node: last?.node, namespace: last?.namespace, device: last?.device, reason: why)
        case .notForUs(let why):
            return PathVerdict(kind: .stopped, hop: at, node: last?.node, namespace: last?.namespace, device: last?.device,
                               reason: "no copy of the packet reaches the destination (\(why))")
        }
    }
}
