import Foundation
import HopscopeModel
import OpenVSwitch

/// The graph of one or more snapshots: namespaces (grouped into nodes), interfaces, Linux
/// bridges, Open vSwitch instances with their bridges and ports, and the links between them
/// (veth pairs, bridge membership, OVS ports, patch ports, tunnels), plus routers, DHCP servers,
/// libvirt domains and Neutron labels.
///
/// Built in phases, as plotnetcfg does: first each namespace and switch on its own, then what
/// crosses them (veth peers from the inventory, OVS ports to Linux devices, patch peers, tunnel
/// endpoints resolved to the namespace owning the address, in this snapshot or another).
/// Anything ambiguous is a warning on the piece it concerns, never a guess.
///
/// Pure and immutable after `init`; `Sendable`.
public struct Topology: Sendable {
    public let snapshots: [Snapshot]
    public private(set) var namespaces: [NamespaceID: NamespaceNode] = [:]
    public private(set) var interfaces: [InterfaceID: InterfaceNode] = [:]
    public private(set) var switches: [SwitchNode] = []
    public private(set) var dhcpServers: [DHCPServer] = []
    public private(set) var libvirtDomains: [(snapshot: Int, domain: LibvirtDomain)] = []
    /// Warnings not tied to one node.
    public private(set) var warnings: [String] = []

    /// Interfaces by address (several when an address is configured twice).
    public private(set) var addressOwners: [IPAddress: [InterfaceID]] = [:]
    /// Interfaces by MAC address.
    public private(set) var macOwners: [MACAddress: [InterfaceID]] = [:]
    /// Linux devices behind OVS ports, and the reverse.
    public private(set) var portDevices: [OVSPortID: InterfaceID] = [:]
    public private(set) var devicePorts: [InterfaceID: OVSPortID] = [:]
    /// Namespace ids by (snapshot, label) order, for stable output.
    public private(set) var namespaceOrder: [NamespaceID] = []
    /// Each namespace's anti-spoofing rules (`-s IP -m mac --mac-source MAC`) by MAC, read once:
    /// finding instances asks for them per instance.
    private(set) var antiSpoofing: [NamespaceID: [MACAddress: [AntiSpoofingRule]]] = [:]

    /// One `-s IP -m mac --mac-source MAC` rule: the address it allows and the rule's text.
    struct AntiSpoofingRule: Sendable {
        var address: IPAddress
        var rule: String
        /// Line number in the dump, to keep the rules in the dump's order.
        var line: Int
    }

    /// One namespace: its inventory, node, roles and labels.
    public struct NamespaceNode: Sendable {
        public var id: NamespaceID
        public var inventory: NamespaceInventory
        /// The machine it belongs to: the Open vSwitch node running in it, else the node of the
        /// namespaces its veth pairs lead to (when that is one), else the snapshot's host name.
        public var node: String
        public var isRouter: Bool
        /// Index into `Topology.switches` of the Open vSwitch running here.
        public var switchIndex: Int?
        /// `qrouter`/`qdhcp`/`snat`/`fip` and the UUID, when the name says so.
        public var neutronKind: String?
        public var neutronID: String?
        public var warnings: [String]

        public var label: String { id.label }
    }

    /// One Linux interface with what it connects to.
    public struct InterfaceNode: Sendable {
        public var id: InterfaceID
        public var link: Link
        public var addresses: [IPPrefix]
        /// The other end of a veth pair.
        public var vethPeer: InterfaceID?
        /// The Linux bridge this interface is a port of.
        public var bridgeMaster: InterfaceID?
        /// The Open vSwitch port this device is.
        public var ovsPort: OVSPortID?
        /// Neutron port id prefix and role, from the device name.
        public var neutronPort: String?
        public var neutronRole: String?
        public var warnings: [String]

        public var name: String { link.name }
    }

    /// One Open vSwitch instance with its bridges and ports resolved.
    public struct SwitchNode: Sendable {
        public var index: Int
        public var snapshot: Int
        public var node: String
        public var namespace: NamespaceID?
        public var info: OVSInstanceInfo
        public var database: OVSDatabase
        public var openFlow: [OVSBridgeOpenFlow]
        public var ports: [String: PortNode]
        /// Local VLAN <-> tunnel id translations the flows perform, per bridge.
        public var vlanTunnels: [VLANTunnelMapping]
        public var warnings: [String]
    }

    /// One OVS port (its first interface) with type, VLAN, peer and tunnel.
    public struct PortNode: Sendable {
        public var id: OVSPortID
        public var port: OVSPortRow
        public var interface: OVSInterfaceRow
        public var ofport: Int?
        /// The patch peer's port.
        public var patchPeer: OVSPortID?
        public var tunnel: TunnelNode?
        public var warnings: [String]
    }

    /// A tunnel port's endpoints, with the remote resolved where the snapshots allow.
    public struct TunnelNode: Sendable {
        public var type: String
        public var localIP: IPAddress?
        public var remoteIP: IPAddress?
        /// The interface owning `remoteIP` (in this snapshot or another).
        public var remoteOwner: InterfaceID?
        /// The tunnel port on the remote switch that receives from us (its remote_ip is our
        /// local address, same type), when the remote switch is in the snapshots.
        public var remotePort: OVSPortID?
    }

    // MARK: Building

    public init(snapshots: [Snapshot]) {
        self.snapshots = snapshots
        readNamespaces()
        readSwitches()
        resolveVethPeers()
        resolveSwitchPorts()
        resolveTunnels()
        nameNodes()
        readServices()
    }

    /// Phase 1: every namespace and interface on its own, with addresses and labels.
    private mutating func readNamespaces() {
        for (s, snapshot) in snapshots.enumerated() {
            var seen = Set<String>()
            for inv in snapshot.network.namespaces {
                let id = NamespaceID(snapshot: s, label: inv.namespace.label)
                guard seen.insert(inv.namespace.label).inserted else {
                    warnings.append("snapshot \(snapshot.hostname) lists namespace \(inv.namespace.label) twice; the first is used")
                    continue
                }
                let forwarding = inv.sysctls.ipv4Forwarding == true || inv.sysctls.ipv6Forwarding == true
                let addressed = Set(inv.addresses.filter { $0.scope == .global }.map(\.interfaceIndex))
                let agent = NeutronLabels.agentNamespace(inv.namespace.label)
                namespaces[id] = NamespaceNode(id: id, inventory: inv, node: snapshot.hostname,
                                               isRouter: forwarding && addressed.count >= 2, switchIndex: nil,
                                               neutronKind: agent?.kind, neutronID: agent?.id, warnings: inv.warnings)
                namespaceOrder.append(id)
                for link in inv.links {
                    let iid = InterfaceID(namespace: id, index: link.index)
                    let addrs = inv.addresses.filter { $0.interfaceIndex == link.index }.map(\.prefix)
                    let neutron = NeutronLabels.port(ofDevice: link.name)
                    interfaces[iid] = InterfaceNode(id: iid, link: link, addresses: addrs, vethPeer: nil,
                                                    bridgeMaster: link.bridgeMaster.map { InterfaceID(namespace: id, index: $0.index) },
                                                    ovsPort: nil, neutronPort: neutron?.portIDPrefix, neutronRole: neutron?.role, warnings: [])
                    for a in addrs where !a.address.isMulticast { addressOwners[a.address, default: []].append(iid) }
                    if let m = link.mac, m != .zero { macOwners[m, default: []].append(iid) }
                }
            }
        }
    }

    /// Phase 1 for switches: each instance's bridges and ports, with the namespace it runs in.
    private mutating func readSwitches() {
        for (s, snapshot) in snapshots.enumerated() {
            for o in snapshot.openVSwitch {
                guard let db = o.database else {
                    warnings.append("Open vSwitch \(o.instance.node) of \(snapshot.hostname) has no database in the snapshot: \(o.warnings.joined(separator: "; "))")
                    continue
                }
                let index = switches.count
                let nsID = o.namespaceLabel.map { NamespaceID(snapshot: s, label: $0) }
                var mappings: [VLANTunnelMapping] = []
                for of in o.openFlow {
                    if let dump = try? FlowDump(parsing: of.flowDump) { mappings += VLANTunnelMapping.find(in: dump.flows, bridge: of.bridge) }
                }
                var node = SwitchNode(index: index, snapshot: s, node: o.instance.node, namespace: nsID, info: o.instance, database: db,
                                      openFlow: o.openFlow, ports: [:], vlanTunnels: mappings, warnings: o.warnings)
                for bridge in db.bridges {
                    for port in db.ports(of: bridge) {
                        let ifaces = db.interfaces(of: port)
                        guard let iface = ifaces.first else { continue }
                        let pid = OVSPortID(instance: index, bridge: bridge.name, port: iface.name)
                        var p = PortNode(id: pid, port: port, interface: iface,
                                         ofport: o.openFlow.first { $0.bridge == bridge.name }?.ports.first { $0.name == iface.name }?.number ?? iface.ofport,
                                         patchPeer: nil, tunnel: nil, warnings: [])
                        if ifaces.count > 1 { p.warnings.append("port \(port.name) is a bond of \(ifaces.count) interfaces; only \(iface.name) is followed") }
                        if let e = iface.error { p.warnings.append("OVS: \(e)") }
                        if iface.isTunnel {
                            p.tunnel = TunnelNode(type: iface.type, localIP: iface.options["local_ip"].flatMap { IPAddress($0) },
                                                  remoteIP: iface.options["remote_ip"].flatMap { IPAddress($0) })
                        }
                        node.ports[iface.name] = p
                    }
                }
                if let nsID { namespaces[nsID]?.switchIndex = index }
                switches.append(node)
            }
        }
    }

    /// Phase 2: veth peers, from the inventory's cross-namespace resolution.
    private mutating func resolveVethPeers() {
        for (iid, node) in interfaces {
            guard let peer = node.link.vethPeer else { continue }
            let pid = InterfaceID(namespace: NamespaceID(snapshot: iid.namespace.snapshot, label: peer.namespace), index: peer.index)
            if interfaces[pid] != nil {
                interfaces[iid]?.vethPeer = pid
            } else {
                interfaces[iid]?.warnings.append("veth peer \(peer) is not in the snapshot")
            }
        }
    }

    /// Phase 2: OVS ports to their Linux devices (in the switch's namespace, else a namespace of
    /// the same snapshot holding a device of that name and ifindex, such as an internal port
    /// moved into a router namespace), and patch ports to their peers.
    private mutating func resolveSwitchPorts() {
        for si in switches.indices {
            let sw = switches[si]
            var byName: [String: OVSPortID] = [:]
            for (name, p) in sw.ports { byName[name] = p.id }
            for (name, p) in sw.ports {
                if p.interface.isPatch {
                    if let peer = p.interface.options["peer"], let target = byName[peer] {
                        switches[si].ports[name]?.patchPeer = target
                    } else {
                        switches[si].ports[name]?.warnings.append("patch port \(name): peer \(p.interface.options["peer"] ?? "(none)") is not a port of this switch")
                    }
                    continue
                }
                if p.interface.isTunnel { continue }
                var found: [InterfaceID] = []
                if let ns = sw.namespace, let inv = namespaces[ns]?.inventory, let l = inv.link(named: name) {
                    found = [InterfaceID(namespace: ns, index: l.index)]
                } else {
                    for id in namespaceOrder where id.snapshot == sw.snapshot {
                        guard let l = namespaces[id]?.inventory.link(named: name) else { continue }
                        if let ifindex = p.interface.ifindex, ifindex != l.index { continue }
                        found.append(InterfaceID(namespace: id, index: l.index))
                    }
                }
                if found.count == 1 {
                    portDevices[p.id] = found[0]
                    devicePorts[found[0]] = p.id
                    interfaces[found[0]]?.ovsPort = p.id
                } else if found.count > 1 {
                    switches[si].ports[name]?.warnings.append("OVS port \(name) matches devices in \(found.map(\.namespace.label).joined(separator: ", ")); not followed")
                } else if p.interface.ofport != -1 {
                    switches[si].ports[name]?.warnings.append("no Linux device \(name) in the snapshot")
                }
            }
        }
    }

    /// Phase 2: tunnel endpoints. The remote address is resolved to the interface that owns it;
    /// when a switch runs in that namespace (or its snapshot's host), its tunnel port of the same
    /// type whose remote_ip is our local address is the receiving end.
    private mutating func resolveTunnels() {
        for si in switches.indices {
            for (name, p) in switches[si].ports {
                guard var t = p.tunnel else { continue }
                guard let remote = t.remoteIP else {
                    switches[si].ports[name]?.warnings.append("tunnel \(name) has remote_ip=\(p.interface.options["remote_ip"] ?? "(none)"): endpoints come from the flows")
                    continue
                }
                var owners = addressOwners[remote] ?? []
                if owners.count > 1, let ns = switches[si].namespace, let local = t.localIP ?? localAddress(ofSwitch: si),
                   let localDevice = (addressOwners[local] ?? []).first(where: { $0.namespace == ns }) {
                    // Labs and test beds reuse underlay addresses: only the owner the local endpoint
                    // reaches at layer 2 receives this switch's tunnel.
                    let domain = linkLayerDomain(of: localDevice)
                    let reachable = owners.filter { domain.contains($0) }
                    if reachable.count == 1 { owners = reachable }
                }
                if owners.count > 1 {
                    switches[si].ports[name]?.warnings.append("tunnel \(name): \(remote) is configured in \(owners.map { "\(interfaces[$0]?.name ?? "?")@\($0.namespace.label)" }.joined(separator: ", ")); not followed")
                } else if let owner = owners.first {
                    t.remoteOwner = owner
                    let local = t.localIP ?? localAddress(ofSwitch: si)
                    let candidates = switches.filter { $0.namespace == owner.namespace }.flatMap { sw in
                        sw.ports.values.filter { q in
                            guard let qt = q.tunnel, qt.type == t.type else { return false }
                            if let local, let r = qt.remoteIP { return r == local }
                            return q.interface.options["remote_ip"] == "flow"
                        }
                    }
                    if candidates.count == 1 { t.remotePort = candidates[0].id } else if candidates.count > 1 {
                        switches[si].ports[name]?.warnings.append("tunnel \(name): \(candidates.count) ports on the remote switch could receive it")
                    }
                }
                switches[si].ports[name]?.tunnel = t
            }
        }
    }

    /// The address a switch's tunnels leave from when local_ip is not set: the only global
    /// address of its namespace that a tunnel of another switch points at.
    func localAddress(ofSwitch si: Int) -> IPAddress? {
        guard let ns = switches[si].namespace, let inv = namespaces[ns]?.inventory else { return nil }
        let mine = Set(inv.addresses.filter { $0.scope == .global }.map(\.prefix.address))
        let pointedAt = Set(switches.flatMap { $0.ports.values.compactMap(\.tunnel?.remoteIP) })
        let both = mine.intersection(pointedAt)
        return both.count == 1 ? both.first : nil
    }

    /// Node names: a namespace running Open vSwitch is that switch's node; a namespace plugged
    /// into exactly one node by Neutron's devices (a veth whose node end is a Neutron port: a
    /// tap, qr-, qg- or ns- device, or an OVS port with an iface-id) belongs to it, repeated until
    /// nothing changes. The rest are their machine's host name, except on a machine that runs
    /// several switches in their own namespaces (simulated nodes, as in the lab), where every
    /// other namespace is a host of its own, named by its label.
    private mutating func nameNodes() {
        var assigned: [NamespaceID: String] = [:]
        for sw in switches { if let ns = sw.namespace, !(namespaces[ns]?.inventory.namespace.isHost ?? true) { assigned[ns] = sw.node } }
        for sw in switches { if let ns = sw.namespace, assigned[ns] == nil { assigned[ns] = sw.node } }
        var changed = true
        var rounds = 0
        while changed, rounds < 16 {
            changed = false
            rounds += 1
            for id in namespaceOrder where assigned[id] == nil {
                var peers = Set<String>()
                for (iid, i) in interfaces where iid.namespace == id {
                    guard let p = i.vethPeer, let n = assigned[p.namespace], let peer = interfaces[p] else { continue }
                    let neutron = peer.neutronPort != nil || peer.ovsPort.flatMap { port($0)?.interface.externalIDs["iface-id"] } != nil
                    if neutron { peers.insert(n) }
                }
                if peers.count == 1 {
                    assigned[id] = peers.first!
                    changed = true
                }
            }
        }
        for (s, _) in snapshots.enumerated() {
            let simulated = switches.filter { $0.snapshot == s && $0.namespace.map { !(namespaces[$0]?.inventory.namespace.isHost ?? true) } == true }.count >= 2
            guard simulated else { continue }
            for id in namespaceOrder where id.snapshot == s && assigned[id] == nil && !(namespaces[id]?.inventory.namespace.isHost ?? false) {
                assigned[id] = id.label
            }
        }
        for (id, n) in assigned { namespaces[id]?.node = n }
    }

    /// DHCP servers and libvirt domains.
    private mutating func readServices() {
        for (s, snapshot) in snapshots.enumerated() {
            for f in snapshot.firewalls {
                guard let text = f.iptablesSave, text.contains("--mac-source") else { continue }
                antiSpoofing[NamespaceID(snapshot: s, label: f.namespace)] = Topology.antiSpoofingIndex(text)
            }
            for d in snapshot.dnsmasq {
                dhcpServers.append(DHCPServer(d, namespace: NamespaceID(snapshot: s, label: d.namespace)))
            }
            for f in snapshot.libvirtDomains { libvirtDomains.append((s, LibvirtDomain(f))) }
        }
    }

    // MARK: Queries

    public func namespace(_ id: NamespaceID) -> NamespaceNode? { namespaces[id] }
    public func interface(_ id: InterfaceID) -> InterfaceNode? { interfaces[id] }
    public func port(_ id: OVSPortID) -> PortNode? { switches.indices.contains(id.instance) ? switches[id.instance].ports[id.port] : nil }

    /// The interface named `name` in namespace `ns`.
    public func interface(named name: String, in ns: NamespaceID) -> InterfaceNode? {
        guard let l = namespaces[ns]?.inventory.link(named: name) else { return nil }
        return interfaces[InterfaceID(namespace: ns, index: l.index)]
    }

    /// Namespaces whose label or one of whose names is `text`, in any snapshot; or, failing
    /// that, whose label ends with `-text` (a lab namespace by its short name).
    public func namespaces(matching text: String) -> [NamespaceID] {
        let exact = namespaceOrder.filter { id in id.label == text || namespaces[id]!.inventory.namespace.names.contains(text) }
        if !exact.isEmpty { return exact }
        return namespaceOrder.filter { $0.label.hasSuffix("-" + text) }
    }

    /// The ports of an OVS bridge that are Linux devices, and the other ports, for labels.
    public func ports(of bridge: String, switch si: Int) -> [PortNode] {
        switches[si].ports.values.filter { $0.id.bridge == bridge }.sorted { ($0.ofport ?? 0) < ($1.ofport ?? 0) }
    }

    /// The interfaces a frame sent on `start` can reach at layer 2, following real links only:
    /// veth peers, Linux bridge ports, the ports of an OVS bridge (flows not consulted), patch
    /// peers and tunnels to their remote ports. Used to tell which of several owners of an
    /// address can answer ARP from `start`. Bounded: at most `limit` interfaces.
    public func linkLayerDomain(of start: InterfaceID, limit: Int = 100_000) -> Set<InterfaceID> {
        var seen: Set<InterfaceID> = [start]
        var bridgesSeen = Set<OVSPortID>()
        var queue = [start]
        func visitBridge(_ instance: Int, _ bridge: String) {
            for p in switches[instance].ports.values where p.id.bridge == bridge {
                guard bridgesSeen.insert(p.id).inserted else { continue }
                if let d = portDevices[p.id], seen.insert(d).inserted { queue.append(d) }
                if let peer = p.patchPeer { visitBridge(peer.instance, peer.bridge) }
                if let remote = p.tunnel?.remotePort { visitBridge(remote.instance, remote.bridge) }
            }
        }
        while let i = queue.popLast(), seen.count < limit {
            guard let node = interfaces[i] else { continue }
            if let p = node.vethPeer, seen.insert(p).inserted { queue.append(p) }
            if let b = node.bridgeMaster, seen.insert(b).inserted { queue.append(b) }
            if node.link.kind == .bridge {
                for (other, o) in interfaces where o.bridgeMaster == i && seen.insert(other).inserted { queue.append(other) }
            }
            if let port = node.ovsPort { visitBridge(port.instance, port.bridge) }
        }
        return seen
    }

    /// Every warning of the graph, each prefixed with where it is.
    public var allWarnings: [String] {
        var out = warnings
        for id in namespaceOrder { for w in namespaces[id]!.warnings { out.append("\(id.label): \(w)") } }
        for (iid, i) in interfaces.sorted(by: { $0.key < $1.key }) { for w in i.warnings { out.append("\(i.name)@\(iid.namespace.label): \(w)") } }
        for sw in switches {
            for w in sw.warnings { out.append("\(sw.node): \(w)") }
            for p in sw.ports.values.sorted(by: { $0.id.port < $1.id.port }) { for w in p.warnings { out.append("\(sw.node) \(p.id.bridge) \(p.id.port): \(w)") } }
        }
        for d in dhcpServers { for w in d.warnings { out.append("dnsmasq \(d.pid)@\(d.namespace.label): \(w)") } }
        return out
    }
}
