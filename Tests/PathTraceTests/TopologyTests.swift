import Foundation
import HopscopeModel
import PathTrace
import Testing
import Topology

/// The graph built from the lab snapshots: links across namespaces and switches, tunnels resolved
/// to the other node, nodes, instances found by whatever the operator knows, several snapshots.
@Suite struct TopologyTests {
    let plan = Fixtures.plan

    @Test func vethPatchAndTunnelLinksAreResolved() throws {
        let t = Topology(snapshots: [try Fixtures.load("healthy")])
        let c = plan.computeNode, n = plan.networkNode
        let computeNS = NamespaceID(snapshot: 0, label: c.namespace)
        let vm = plan.instances[0]
        let tap = try #require(t.interface(named: vm.tapDevice, in: computeNS))
        #expect(tap.vethPeer.flatMap { t.interface($0) }?.name == vm.interface)
        #expect(tap.bridgeMaster.flatMap { t.interface($0) }?.name == vm.linuxBridge)
        let qvo = try #require(t.interface(named: vm.ovsPort, in: computeNS))
        #expect(qvo.ovsPort?.bridge == "br-int")
        let sw = try #require(t.switches.first { $0.namespace == computeNS })
        #expect(sw.ports[c.integrationPatchPort]?.patchPeer?.port == c.tunnelPatchPort)
        let tunnel = try #require(sw.ports[c.vxlanPort]?.tunnel)
        #expect(tunnel.remoteIP == .v4(n.underlayAddress))
        #expect(tunnel.remoteOwner?.namespace.label == n.namespace)
        #expect(tunnel.remotePort?.port == n.vxlanPort)
        #expect(sw.vlanTunnels.contains { $0.direction == .toTunnel && $0.vlan == Int(c.localVLAN) && $0.tunnelID == UInt64(plan.network.segmentationID) })
    }

    @Test func nodesRoutersAndDHCPServersAreRecognised() throws {
        let t = Topology(snapshots: [try Fixtures.load("healthy")])
        func node(_ label: String) -> String? { t.namespace(NamespaceID(snapshot: 0, label: label))?.node }
        #expect(node(plan.instances[0].namespace) == plan.computeNode.namespace)
        #expect(node(plan.router.namespace) == plan.networkNode.namespace)
        #expect(node(plan.dhcp.namespace) == plan.networkNode.namespace)
        #expect(node(plan.external.namespace) == plan.external.namespace, "the provider network is a host of its own, not part of a node")
        let r = try #require(t.namespace(NamespaceID(snapshot: 0, label: plan.router.namespace)))
        #expect(r.isRouter && r.neutronKind == "qrouter" && r.neutronID == plan.router.id)
        let d = try #require(t.dhcpServers.first { $0.namespace.label == plan.dhcp.namespace })
        #expect(d.interfaces == [plan.dhcp.interface])
        #expect(d.hosts.contains { $0.mac == plan.instances[0].mac && $0.address == .v4(plan.instances[0].address) })
        #expect(d.ranges.count == 1 && d.hostsFile == plan.dhcp.hostsFile)
    }

    @Test func anInstanceIsFoundByEverythingAnOperatorKnows() throws {
        let t = Topology(snapshots: [try Fixtures.load("healthy")])
        let vm = plan.instances[0]
        for query in [vm.name, vm.namespace, "\(vm.address)", "\(vm.mac)", vm.portID, String(vm.portID.prefix(8)), vm.tapDevice, vm.vmID] {
            let found = try t.findInstance(query)
            #expect(found.tap.namespace.label == plan.computeNode.namespace && t.interface(found.tap)?.name == vm.tapDevice, "query \(query)")
        }
        let found = try t.findInstance(vm.name)
        #expect(found.values(.ip) == ["\(vm.address)"])
        #expect(found.facts.contains { $0.field == .ip && $0.source.hasPrefix("DHCP hosts file") })
        #expect(found.facts.contains { $0.field == .ip && $0.source.hasPrefix("security group rule") })
        #expect(found.facts.contains { $0.field == .mac && $0.source.contains("attached-mac") })
        #expect(!found.isGuest && found.nic?.namespace.label == vm.namespace)
        #expect(throws: InstanceLookupError.self) { try t.findInstance("10.0.0.99") }
    }

    @Test func ambiguityListsTheCandidates() throws {
        let s = try Fixtures.load("healthy")
        var other = s
        other.hostname = "elsewhere"
        let t = Topology(snapshots: [s, other])
        do {
            _ = try t.findInstance("vm1")
            Issue.record("two snapshots hold vm1: the lookup must refuse to pick")
        } catch let e as InstanceLookupError {
            guard case .ambiguous(_, let candidates) = e else { Issue.record("\(e)"); return }
            #expect(candidates.count == 2)
            #expect("\(e)".contains("say which"))
        }
    }

    /// The lab's vm1 turned into what a real compute node shows: a tun/tap device in tap mode on
    /// the qbr, held by a hypervisor, with no namespace behind it.
    static func guestSnapshot() throws -> Snapshot {
        var s = try Fixtures.load("healthy")
        let plan = Fixtures.plan
        let vm = plan.instances[0]
        s.network.namespaces.removeAll { $0.namespace.label == vm.namespace }
        s.editLink(plan.computeNode.namespace, vm.tapDevice) { l in
            l.kind = .tun
            l.tunTap = TunTapInfo()
            l.tunTap?.mode = "tap"
            l.vethPeer = nil
            l.lowerIndex = nil
            l.lowerNamespaceID = nil
        }
        return s
    }

    @Test func aGuestBehindATapIsFoundFromWhatTheHostKnows() throws {
        let t = Topology(snapshots: [try Self.guestSnapshot()])
        let vm = plan.instances[0]
        let found = try t.findInstance(vm.tapDevice)
        #expect(found.isGuest)
        #expect(found.mac == vm.mac)
        #expect(found.ipv4 == .v4(vm.address))
        let ipSources = found.facts.filter { $0.field == .ip }.map(\.source)
        #expect(ipSources.contains { $0.hasPrefix("DHCP hosts file") })
        #expect(ipSources.contains { $0.hasPrefix("security group rule in \(plan.computeNode.namespace)") && $0.contains("--mac-source") })
        #expect(ipSources.contains { $0.hasPrefix("neighbour table of") })
        #expect(try t.findInstance("\(vm.address)").tap == found.tap)
        #expect(try t.findInstance(vm.portID).tap == found.tap)
    }

    @Test func walksWorkForAGuestAsForANamespaceInstance() throws {
        let s = try Self.guestSnapshot()
        let vm = plan.instances[0]
        let out = try Fixtures.walk(s, vm.tapDevice, to: "\(plan.external.gateway)")
        #expect(out.verdict.kind == .reachable, "\(out.verdict)")
        #expect(out.hops.first?.role == "instance NIC (guest)" && out.hops.first?.namespace == "(guest)")
        #expect(out.notes.contains { $0.contains("is a guest behind \(vm.tapDevice)") && $0.contains("DHCP router option") })
        #expect(out.hops.last?.role == "tap" && out.hops.last?.direction == .reply, "the reply is handed to the guest at its tap")
        let inbound = try Fixtures.walk(s, vm.tapDevice, from: "\(plan.external.internetClient)")
        #expect(inbound.verdict.kind == .reachable, "\(inbound.verdict)")
        #expect(inbound.hops.contains { $0.direction == .forward && $0.device == vm.tapDevice && $0.decision == .forward(to: [inbound.instance.name]) })
        let dhcp = try Fixtures.walk(s, vm.tapDevice, to: "\(plan.dhcp.address)", proto: .udp(67))
        #expect(dhcp.verdict.kind == .reachable, "\(dhcp.verdict)")
        let east = try Fixtures.walk(s, vm.tapDevice, to: plan.instances[1].name)
        #expect(east.verdict.kind == .reachable, "\(east.verdict)")
    }

    @Test func aNamespaceWithoutNeighbourEntryReachesAGuestByTheMACTheHostKnows() throws {
        var s = try Self.guestSnapshot()
        let vm = plan.instances[0], other = plan.instances[1]
        s.editNamespace(other.namespace) { $0.neighbors.removeAll { $0.address == .v4(vm.address) } }
        let r = try Fixtures.walk(s, vm.tapDevice, from: other.name)
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        let first = try #require(r.hops.first)
        #expect(first.evidence.contains { $0.note?.contains("guest \(r.instance.name) behind \(vm.tapDevice) has it, ARP would resolve to its MAC") == true },
                "\(first.evidence)")
        #expect(first.packet.ethDst == vm.mac)
    }

    @Test func twinLabsWithTheSameAddressesAreToldApartByTheirWiring() throws {
        // Two labs on one machine (or two snapshots of look-alike test beds) reuse the underlay,
        // router and gateway addresses; tunnels and next hops go to the owner wired to the sender.
        let s = try Fixtures.load("healthy")
        var twin = s
        twin.hostname = "twin"
        twin.network.namespaces.removeAll { ns in plan.instances.contains { $0.namespace == ns.namespace.label } }
        let t = Topology(snapshots: [s, twin])
        for sw in t.switches {
            let tunnel = try #require(sw.ports.values.first { $0.tunnel != nil }?.tunnel)
            #expect(tunnel.remoteOwner?.namespace.snapshot == sw.snapshot, "\(sw.node) of snapshot \(sw.snapshot)")
        }
        let r = try Fixtures.walk([s, twin], PathRequest(instance: plan.instances[0].name, direction: .to("\(plan.external.gateway)")))
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
    }

    /// The lab split as two machines would report it: the compute node with its instances, and
    /// the network node with the agents and the provider network.
    static func split() throws -> [Snapshot] {
        let s = try Fixtures.load("healthy")
        let plan = Fixtures.plan
        let computeSide = Set([plan.computeNode.namespace] + plan.instances.map(\.namespace))
        var compute = s, network = s
        compute.hostname = "compute-host"
        network.hostname = "network-host"
        compute.network.namespaces.removeAll { !computeSide.contains($0.namespace.label) }
        network.network.namespaces.removeAll { computeSide.contains($0.namespace.label) }
        compute.openVSwitch.removeAll { $0.namespaceLabel != plan.computeNode.namespace }
        network.openVSwitch.removeAll { $0.namespaceLabel == plan.computeNode.namespace }
        compute.firewalls.removeAll { !computeSide.contains($0.namespace) }
        network.firewalls.removeAll { computeSide.contains($0.namespace) }
        compute.dnsmasq = []
        return [compute, network]
    }

    @Test func tunnelsAndWalksCrossSnapshots() throws {
        let snapshots = try Self.split()
        let t = Topology(snapshots: snapshots)
        let sw = try #require(t.switches.first { $0.snapshot == 0 })
        let tunnel = try #require(sw.ports[plan.computeNode.vxlanPort]?.tunnel)
        #expect(tunnel.remoteOwner?.namespace == NamespaceID(snapshot: 1, label: plan.networkNode.namespace))
        #expect(tunnel.remotePort?.instance == t.switches.firstIndex { $0.snapshot == 1 })
        let r = try Fixtures.walk(snapshots, PathRequest(instance: "vm1", direction: .to("\(plan.external.gateway)")))
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        // The underlay wire between the machines is crossed by the destination MAC of the outer frame.
        #expect(r.hops.contains { $0.device == plan.computeNode.underlayInterface && $0.node == plan.computeNode.namespace && $0.role == "NIC" })
        #expect(r.hops.contains { $0.node == plan.networkNode.namespace && $0.role == "router qr-" })
    }
}
