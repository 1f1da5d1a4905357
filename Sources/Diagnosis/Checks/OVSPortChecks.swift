import HopscopeModel
import OpenVSwitch
import PathTrace
import Topology

extension DiagnosisContext {
    /// Where an OVS port's finding goes: the stop hop when a walk stops at the port or in a
    /// bridge of its switch, else the port's first hop on a walk, else the port off the path.
    func portPlace(_ port: OVSPortID) -> (location: FindingLocation, relevance: Relevance) {
        let sw = topology.switches[port.instance]
        let ns = sw.namespace?.label ?? sw.info.namespace ?? "host"
        // A walk that crosses the port and then stops: the finding is at the port's hop.
        for s in stops {
            if let h = s.result.hops.first(where: { $0.device == port.port && $0.namespace == ns && $0.index <= s.hop.index }) {
                return (location(walk: s.walk, hop: h), .cause)
            }
        }
        for (i, _, r) in walkResults {
            if let h = r.hops.first(where: { $0.device == port.port && $0.namespace == ns }) { return (location(walk: i, hop: h), .contributing) }
        }
        return (location(port), .contributing)
    }

    /// `ovs-vsctl` (and friends) for the switch of a port.
    func ovs(_ port: OVSPortID, _ command: String) -> String { ovsCommand(port.instance, command) }
}

/// OVS_DEAD_VLAN: an instance's OVS port is tagged 4095, the VLAN the Open vSwitch agent parks a
/// port on when it cannot bind it (port_dead): br-int drops everything from it.
public struct OVSDeadVLANCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ovsDeadVLAN
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.instancePorts.compactMap { pid -> Finding? in
            guard let p = c.topology.port(pid), p.port.tag == 4095 else { return nil }
            let place = c.portPlace(pid)
            let drop = c.stops.first { $0.walk == place.location.walk && $0.hop.role.hasPrefix("OVS bridge") }
            return Finding(
                code: code, title: "\(pid.port) (\(c.instance.name)'s port) is on the dead VLAN 4095 of \(pid.bridge) on \(c.topology.switches[pid.instance].node)",
                relevance: place.relevance == .cause || !c.stops.isEmpty ? .cause : .contributing, location: place.location,
                headline: "\(c.instance.name)'s port \(pid.port) is on the dead VLAN 4095: \(pid.bridge) drops its traffic",
                evidence: [c.ovsdbEvidence(pid, columns: ["tag", "other_config:tag", "external_ids:iface-id"],
                                           note: "4095 is the agent's dead VLAN: the port could not be bound")]
                    + (drop?.hop.evidence.filter { $0.kind == .flow }.suffix(1) ?? []),
                advice: Advice(summary: "find why the agent could not bind the port (its log, the port's binding:host_id and vif_type) and let it resync",
                               confirm: [c.ovs(pid, "ovs-vsctl get Port \(pid.port) tag"),
                                         "openstack port show \(c.portID ?? "PORT") -c binding_host_id -c binding_vif_type -c status"],
                               fix: ["systemctl restart neutron-openvswitch-agent   # on \(c.topology.switches[pid.instance].node)"]))
        }
    }
}

/// OVS_TAG_MISMATCH: an instance's OVS port carries another local VLAN than its network's: the
/// tag differs from the agent's own record (Port other_config:tag) or from the VLAN br-tun
/// maps the network's segmentation id to.
public struct OVSTagMismatchCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ovsTagMismatch
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.instancePorts.compactMap { pid -> Finding? in
            guard let p = c.topology.port(pid), let tag = p.port.tag, tag != 4095 else { return nil }
            let sw = c.topology.switches[pid.instance]
            var expected: Int?
            var how = ""
            if let recorded = p.port.otherConfig["tag"].flatMap({ Int($0) }) {
                expected = recorded
                how = "the agent's record other_config:tag=\(recorded)"
            } else if let seg = p.port.otherConfig["segmentation_id"].flatMap({ UInt64($0) }),
                      let m = sw.vlanTunnels.first(where: { $0.direction == .fromTunnel && $0.tunnelID == seg }) {
                expected = m.vlan
                how = "\(m.bridge) table \(m.table) maps tun_id 0x\(String(seg, radix: 16)) to VLAN \(m.vlan)"
            }
            guard let expected, expected != tag else { return nil }
            let place = c.portPlace(pid)
            return Finding(
                code: code, title: "\(pid.port) (\(c.instance.name)'s port) is tagged \(tag) on \(pid.bridge), its network's local VLAN is \(expected)",
                relevance: place.relevance == .cause || !c.stops.isEmpty ? .cause : .contributing, location: place.location,
                headline: "\(c.instance.name)'s port \(pid.port) carries local VLAN \(tag) instead of \(expected) (\(how)): its frames reach no other port of the network",
                evidence: [c.ovsdbEvidence(pid, columns: ["tag", "other_config:tag", "other_config:segmentation_id"], note: how)],
                advice: Advice(summary: "put the port back on its network's local VLAN \(expected) (the agent does this on resync)",
                               confirm: [c.ovs(pid, "ovs-vsctl get Port \(pid.port) tag other_config")],
                               fix: [c.ovs(pid, "ovs-vsctl set Port \(pid.port) tag=\(expected)")]))
        }
    }
}

/// OVS_PATCH_BROKEN: a patch port names no peer, or a peer that does not exist (or does not
/// name it back): the bridges it should join are cut apart.
public struct OVSPatchBrokenCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ovsPatchBroken
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for sw in c.topology.switches where c.concerns(sw) {
            for p in sw.ports.values.sorted(by: { $0.id.port < $1.id.port }) where p.interface.type == "patch" {
                let peerName = p.interface.options["peer"]
                let peerPort = peerName.flatMap { name in sw.ports.values.first { $0.id.port == name } }
                let backwards = peerPort?.interface.options["peer"]
                guard peerPort == nil || peerPort?.interface.type != "patch" || backwards != p.id.port else { continue }
                let why = peerName == nil ? "has no options:peer" : peerPort == nil ? "names peer \(peerName!), which does not exist on \(sw.node)"
                    : "names peer \(peerName!), which names \(backwards ?? "nothing") back"
                var place = c.portPlace(p.id)
                if let s = c.stops.first(where: { $0.hop.summary.contains(p.id.port) || $0.result.verdict.reason.contains(p.id.port) }) {
                    place = (c.location(walk: s.walk, hop: s.hop), .cause)
                }
                out.append(Finding(
                    code: code, title: "patch port \(p.id.port) of \(p.id.bridge) on \(sw.node) \(why)", relevance: place.relevance, location: place.location,
                    headline: "\(p.id.bridge) on \(sw.node) is cut off: its patch port \(p.id.port) \(why)",
                    evidence: [c.ovsdbEvidence(p.id, columns: ["type", "options:peer", "ofport", "error"])],
                    advice: Advice(summary: "point the patch port at its peer again (the agent recreates patch ports when it restarts)",
                                   confirm: [c.ovs(p.id, "ovs-vsctl list Interface \(p.id.port)")],
                                   fix: [c.ovs(p.id, "ovs-vsctl set Interface \(p.id.port) options:peer=PEER_PORT")])))
            }
        }
        return out
    }
}

/// OVS_INTERFACE_ERROR: Open vSwitch reports an error on an interface (it could not open the
/// device: "No such device", a type it cannot create). On an instance's port or where a walk
/// stops it is the cause; elsewhere a contributing problem.
public struct OVSInterfaceErrorCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ovsInterfaceError
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for sw in c.topology.switches where c.concerns(sw) {
            for p in sw.ports.values.sorted(by: { $0.id.port < $1.id.port }) {
                guard let error = p.interface.error, p.interface.type != "patch" else { continue }
                // A port the walks do not cross, and not the instance's, does not concern it.
                let onWalk = c.walkResults.contains { $0.result.hops.contains { $0.device == p.id.port } }
                guard onWalk || c.instancePorts.contains(p.id) || p.tunnel != nil else { continue }
                var place = c.portPlace(p.id)
                let mine = c.instancePorts.contains(p.id)
                if mine && !c.stops.isEmpty { place.relevance = .cause }
                if !mine && place.location.device != p.id.port { place = (c.location(p.id), .contributing) }
                out.append(Finding(
                    code: code, title: "Open vSwitch on \(sw.node) cannot use \(p.id.port) on \(p.id.bridge)\(mine ? " (\(c.instance.name)'s port)" : ""): \(error)",
                    relevance: place.relevance, location: place.location,
                    headline: "Open vSwitch on \(sw.node) reports an error on \(mine ? "\(c.instance.name)'s port " : "")\(p.id.port): \(error)",
                    evidence: [c.ovsdbEvidence(p.id, columns: ["error", "ofport", "type", "external_ids:iface-id"])],
                    advice: Advice(summary: "recreate the device behind \(p.id.port) (for an instance: hard-reboot it, or have the agent replug the port)",
                                   confirm: [c.ovs(p.id, "ovs-vsctl get Interface \(p.id.port) error"),
                                             c.shell(sw.namespace, "ip link show \(p.id.port)")],
                                   fix: mine ? ["openstack server reboot --hard SERVER"] : [c.ovs(p.id, "ovs-vsctl del-port \(p.id.bridge) \(p.id.port)   # if the device is gone for good")])))
            }
        }
        return out
    }
}

/// TUNNEL_ENDPOINT_UNREACHABLE: a tunnel's remote_ip cannot be reached: no underlay route to
/// it, its neighbour entry fails, or (with several nodes in the snapshots) no node owns it.
public struct TunnelEndpointCheck: DiagnosisCheck {
    public let code = DiagnosisCode.tunnelEndpointUnreachable
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        // Walks that stop (or cannot go on) on the underlay after entering a tunnel.
        for s in c.stops where s.hop.role == "underlay" {
            guard let tunnelHop = s.result.hops.last(where: { $0.index < s.hop.index && $0.role.hasSuffix(" tunnel") }),
                  s.hop.summary.contains("no underlay route") || s.hop.summary.contains("neighbour") || s.hop.summary.contains("MAC of") else { continue }
            var remote = "?"
            if case .forward(let to) = tunnelHop.decision, let first = to.first { remote = first }
            out.append(finding(c, port: tunnelHop.device ?? "?", remote: remote, why: s.hop.summary, evidence: tunnelHop.evidence + s.hop.evidence,
                               location: c.location(walk: s.walk, hop: tunnelHop), relevance: .cause, ns: c.namespaceID(of: s.hop),
                               switchIndex: c.switchIndex(of: tunnelHop)))
        }
        // Tunnel ports whose remote no node of the snapshots owns, when the snapshots hold several nodes.
        guard c.topology.switches.count > 1 else { return out }
        for sw in c.topology.switches where c.concerns(sw) {
            for p in sw.ports.values.sorted(by: { $0.id.port < $1.id.port }) {
                guard let t = p.tunnel, let remote = t.remoteIP, t.remoteOwner == nil else { continue }
                let place = c.portPlace(p.id)
                out.append(finding(c, port: p.id.port, remote: remote.description,
                                   why: "no node of the snapshots has \(remote) (the other nodes' tunnel addresses: \(otherEndpoints(c, sw)))",
                                   evidence: [c.ovsdbEvidence(p.id, columns: ["type", "options:remote_ip", "options:local_ip"])],
                                   location: place.location, relevance: c.stops.isEmpty ? .contributing : .cause, ns: sw.namespace,
                                   switchIndex: sw.index))
            }
        }
        return out
    }

    func otherEndpoints(_ c: DiagnosisContext, _ sw: Topology.SwitchNode) -> String {
        let locals = c.topology.switches.filter { $0.index != sw.index }.flatMap { $0.ports.values.compactMap { $0.tunnel?.localIP?.description } }
        return Set(locals).sorted().joined(separator: ", ").isEmpty ? "none known" : Set(locals).sorted().joined(separator: ", ")
    }

    func finding(_ c: DiagnosisContext, port: String, remote: String, why: String, evidence: [Evidence], location: FindingLocation,
                 relevance: Relevance, ns: NamespaceID?, switchIndex: Int?) -> Finding {
        let ovs = { (command: String) in switchIndex.map { c.ovsCommand($0, command) } ?? command }
        return Finding(code: code, title: "tunnel \(port) on \(location.node) points at \(remote), which cannot be reached: \(why)",
                relevance: relevance, location: location,
                headline: "the tunnel \(port) on \(location.node) cannot reach its endpoint \(remote): \(why)",
                evidence: evidence,
                advice: Advice(summary: "check the tunnel's remote_ip against the other node's local_ip (agent configuration), and the underlay between them",
                               confirm: [c.shell(ns, "ip route get \(remote)"), c.shell(ns, "ping -c 3 \(remote)"),
                                         ovs("ovs-vsctl get Interface \(port) options")],
                               fix: [ovs("ovs-vsctl set Interface \(port) options:remote_ip=OTHER_NODE_TUNNEL_IP   # or fix local_ip in the agent's configuration and restart it")]))
    }
}
