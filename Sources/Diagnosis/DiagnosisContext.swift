import Foundation
import HopscopeModel
import PathTrace
import Topology

/// What a check sees: the topology of the snapshots, the run (instance, walks and their hops,
/// observations), and helpers that tie a hop back to the topology and write commands that run
/// where a finding is.
///
/// Immutable; shared by every check of one evaluation.
public struct DiagnosisContext: Sendable {
    public let topology: Topology
    public let run: DiagnosisRun
    /// The instance's own OVS ports (its qvo, or its tap on br-int), found by links or by the
    /// Neutron port id, MAC and name in the switch's database.
    public let instancePorts: [OVSPortID]
    /// What the instance's network gives it (subnet, DHCP servers and options, DNS server).
    public let services: InstanceServices

    public init(topology: Topology, run: DiagnosisRun, services: InstanceServices? = nil) {
        self.topology = topology
        self.run = run
        instancePorts = DiagnosisContext.ports(of: run.instance, in: topology)
        self.services = services ?? InstanceServices(topology: topology, instance: run.instance)
    }

    public var instance: Instance { run.instance }
    public var walks: [DiagnosisWalk] { run.walks }

    /// The walks that were made, with their index.
    public var walkResults: [(index: Int, walk: DiagnosisWalk, result: PathResult)] {
        run.walks.enumerated().compactMap { i, w in w.result.map { (i, w, $0) } }
    }

    // MARK: Hops to topology

    /// The namespace a hop is in (by node and label; the label alone when the node does not say).
    public func namespaceID(of hop: PathHop) -> NamespaceID? {
        namespaceID(label: hop.namespace, node: hop.node)
    }

    public func namespaceID(label: String, node: String?) -> NamespaceID? {
        let candidates = topology.namespaceOrder.filter { $0.label == label }
        if candidates.count <= 1 { return candidates.first }
        return candidates.first { topology.namespace($0)?.node == node } ?? candidates.first
    }

    /// The Linux interface of a hop (nil for OVS bridges, patch and tunnel ports, guests).
    public func interfaceID(of hop: PathHop) -> InterfaceID? {
        guard let device = hop.device, let ns = namespaceID(of: hop) else { return nil }
        return topology.interface(named: device, in: ns)?.id
    }

    public func interface(of hop: PathHop) -> Topology.InterfaceNode? {
        interfaceID(of: hop).flatMap { topology.interface($0) }
    }

    /// The Open vSwitch running in a hop's namespace (the switch of an OVS bridge, patch or tunnel hop).
    public func switchIndex(of hop: PathHop) -> Int? {
        guard let ns = namespaceID(of: hop) else { return nil }
        return topology.switches.firstIndex { $0.namespace == ns }
    }

    /// The OVS port a hop's device is (a Linux device plugged into a bridge, or a patch or tunnel port).
    public func ovsPort(of hop: PathHop) -> OVSPortID? {
        if let i = interface(of: hop), let p = i.ovsPort { return p }
        guard let device = hop.device, let si = switchIndex(of: hop) else { return nil }
        return topology.switches[si].ports[device]?.id
    }

    /// The node a namespace belongs to.
    public func node(_ ns: NamespaceID) -> String { topology.namespace(ns)?.node ?? topology.snapshots[ns.snapshot].hostname }

    /// Where a hop is, as a finding location.
    public func location(walk: Int, hop: PathHop) -> FindingLocation {
        FindingLocation(walk: walk, hop: hop.index, node: hop.node, namespace: hop.namespace, device: hop.device)
    }

    /// Where an interface is, off the path.
    public func location(_ iid: InterfaceID, walk: Int? = nil, hop: Int? = nil) -> FindingLocation {
        FindingLocation(walk: walk, hop: hop, node: node(iid.namespace), namespace: iid.namespace.label,
                        device: topology.interface(iid)?.name)
    }

    /// Where an OVS port is, off the path.
    public func location(_ port: OVSPortID, walk: Int? = nil, hop: Int? = nil) -> FindingLocation {
        let sw = topology.switches[port.instance]
        return FindingLocation(walk: walk, hop: hop, node: sw.node, namespace: sw.namespace?.label ?? sw.info.namespace ?? "host",
                               device: port.port)
    }

    /// The first hop of a walk that is `device` in `namespace` (at or after `from`), with its index.
    public func hop(in result: PathResult, device: String, namespace: String, from: Int = 1) -> PathHop? {
        result.hops.first { $0.index >= from && $0.device == device && $0.namespace == namespace }
    }

    /// True when the walk stopped (or could not go on) at `hop` or after it.
    public func stopsAtOrAfter(_ walk: DiagnosisWalk, hop: Int) -> Bool {
        guard let s = walk.stopHop else { return false }
        return s.index >= hop
    }

    // MARK: The instance

    /// The instance's MAC addresses as its Neutron port knows them (OVS attached-mac, libvirt),
    /// else the ones read inside it.
    public var portMACs: [MACAddress] {
        var fromPort: [MACAddress] = []
        for f in instance.facts where f.field == .mac && !f.source.hasPrefix("interface ") {
            if let m = MACAddress(f.value), !fromPort.contains(m) { fromPort.append(m) }
        }
        return fromPort.isEmpty ? instance.macs : fromPort
    }

    static func ports(of i: Instance, in topology: Topology) -> [OVSPortID] {
        if let p = i.ovsPort { return [p] }
        let ids = Set(i.values(.portID))
        let macs = Set(i.macs)
        let stem = topology.interface(i.tap)?.neutronPort
        var out: [OVSPortID] = []
        for sw in topology.switches where sw.snapshot == i.tap.namespace.snapshot {
            for p in sw.ports.values.sorted(by: { $0.id.port < $1.id.port }) {
                let e = p.interface.externalIDs
                let byID = e["iface-id"].map { id in ids.contains(id) || ids.contains { id.hasPrefix($0) } } ?? false
                let byMAC = e["attached-mac"].flatMap { MACAddress($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }.map(macs.contains) ?? false
                let byName = stem.map { p.id.port.hasSuffix($0) && p.id.port.hasPrefix("qvo") } ?? false
                if byID || byMAC || byName { out.append(p.id) }
            }
        }
        return out
    }

    // MARK: Evidence

    /// An interface as `ip link` shows it: flags, MTU, state, master and where its peer is.
    public func linkEvidence(_ iid: InterfaceID, note: String? = nil) -> Evidence {
        guard let i = topology.interface(iid) else {
            return Evidence(kind: .link, source: "ip link \(iid.namespace.label)", text: "(interface \(iid.index) not in the snapshot)")
        }
        let l = i.link
        var text = "\(l.index): \(l.name)"
        if let peer = l.vethPeer { text += "@\(peer.name)" } else if l.lowerIndex != nil { text += "@if\(l.lowerIndex!)" }
        text += ": <\(l.flags.names.filter { $0 != "RUNNING" }.joined(separator: ","))> mtu \(l.mtu)"
        if let m = l.master { text += " master \(m.name)" }
        text += " state \(l.operState.rawValue)"
        if let k = l.kind { text += " type \(k.rawValue)" }
        if let n = l.lowerNamespaceID { text += " link-netnsid \(n)" }
        return Evidence(kind: .link, source: "ip link \(iid.namespace.label)", text: text, note: note)
    }

    /// An OVSDB row's columns worth showing, as `ovs-vsctl list` would: `Port qvo…: tag=3 other_config:tag=1`.
    public func ovsdbEvidence(_ port: OVSPortID, columns: [String], note: String? = nil) -> Evidence {
        let sw = topology.switches[port.instance]
        let p = sw.ports[port.port]
        var parts: [String] = []
        for c in columns {
            switch c {
            case "tag": parts.append("tag=\(p?.port.tag.map(String.init) ?? "[]")")
            case "error": parts.append("error=\(p?.interface.error.map { "\"\($0)\"" } ?? "[]")")
            case "ofport": parts.append("ofport=\(p?.interface.ofport.map(String.init) ?? "[]")")
            case "type": parts.append("type=\(p?.interface.type.isEmpty == false ? p!.interface.type : "\"\"")")
            case "link_state": parts.append("link_state=\(p?.interface.linkState ?? "[]")")
            default:
                if c.hasPrefix("options:") { parts.append("\(c)=\(p?.interface.options[String(c.dropFirst(8))] ?? "[]")") }
                if c.hasPrefix("other_config:") { parts.append("\(c)=\(p?.port.otherConfig[String(c.dropFirst(13))] ?? "[]")") }
                if c.hasPrefix("external_ids:") { parts.append("\(c)=\(p?.interface.externalIDs[String(c.dropFirst(13))] ?? "[]")") }
            }
        }
        return Evidence(kind: .ovsdb, source: "\(sw.node) ovsdb \(port.bridge) \(port.port)", text: parts.joined(separator: " "), note: note)
    }

    // MARK: Commands

    /// `COMMAND` as run inside namespace `ns`: plain on the host, `ip netns exec NAME …` for a
    /// named namespace, `nsenter -t PID -n …` for one only a process holds.
    public func shell(_ ns: NamespaceID?, _ command: String) -> String {
        guard let ns, let n = topology.namespace(ns)?.inventory.namespace, !n.isHost else { return command }
        if let name = n.names.first { return "ip netns exec \(name) \(command)" }
        if let pid = n.processes.first?.pid { return "nsenter -t \(pid) -n \(command)" }
        return command
    }

    /// An Open vSwitch tool command for switch `si`, with `OVS_RUNDIR` when the switch does not
    /// use the default run directory (one of several switches on a machine, as in the lab).
    public func ovsCommand(_ si: Int, _ command: String) -> String {
        let rundir = topology.switches[si].info.runDirectory
        let standard = ["/var/run/openvswitch", "/run/openvswitch", "/usr/local/var/run/openvswitch"]
        return standard.contains(rundir) ? command : "OVS_RUNDIR=\(rundir) \(command)"
    }

    /// The instance's Neutron port id (full when known).
    public var portID: String? { instance.values(.portID).max { $0.count < $1.count } }
}

extension PacketKey {
    /// The packet in words: `icmp 10.0.0.11 > 203.0.113.1`, `udp 10.0.0.2:67 > 10.0.0.11:68`.
    var shortText: String {
        let proto: String
        switch ipProto {
        case PacketKey.IPProtocol.icmp, PacketKey.IPProtocol.icmpv6: proto = "icmp"
        case PacketKey.IPProtocol.udp: proto = "udp"
        case PacketKey.IPProtocol.tcp: proto = "tcp"
        default: proto = "ip proto \(ipProto)"
        }
        func end(_ a: IPAddress?, _ p: UInt16?) -> String { (a?.description ?? "?") + (p.map { ":\($0)" } ?? "") }
        return "\(proto) \(end(ipSrc, srcPort)) > \(end(ipDst, dstPort))"
    }

    /// What the packet is, as a security group rule would name it: `ICMP`, `TCP port 22`, `UDP port 53`.
    var serviceText: String {
        switch ipProto {
        case PacketKey.IPProtocol.tcp: "TCP port \(dstPort.map(String.init) ?? "?")"
        case PacketKey.IPProtocol.udp: "UDP port \(dstPort.map(String.init) ?? "?")"
        case PacketKey.IPProtocol.icmp, PacketKey.IPProtocol.icmpv6: "ICMP"
        default: "IP protocol \(ipProto)"
        }
    }
}
