import Foundation
import HopscopeModel
import PathTrace
import SnapshotTestSupport
import Testing
import Topology

/// Walks on the healthy lab snapshots: every path reaches its destination and comes back, hop by
/// hop in the order the lab is wired, with NAT where the router applies it.
@Suite struct HealthyPathTests {
    let plan = Fixtures.plan

    @Test func instanceToExternalGatewayCrossesEveryLayerAndComesBack() throws {
        let r = try Fixtures.walk(try Fixtures.load("healthy"), "vm1", to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        #expect(r.reply?.kind == .reachable)
        let vm = plan.floatingIPInstance
        let c = plan.computeNode.namespace, n = plan.networkNode.namespace, q = plan.router.namespace
        let forward = r.hops.filter { $0.direction == .forward }.map { "\($0.device ?? "-")@\($0.namespace)" }
        #expect(forward == [
            "eth0@\(vm.namespace)", "\(vm.tapDevice)@\(c)", "\(vm.linuxBridge)@\(c)", "\(vm.bridgeVeth)@\(c)", "\(vm.ovsPort)@\(c)",
            "br-int@\(c)", "patch-tun@\(c)", "br-tun@\(c)", "\(plan.computeNode.vxlanPort)@\(c)",
            "br-phy@\(c)", "br-phy@\(c)", "eth1@\(c)", "eth1@\(n)", "br-phy@\(n)", "br-phy@\(n)",
            "\(plan.networkNode.vxlanPort)@\(n)", "br-tun@\(n)", "patch-int@\(n)", "br-int@\(n)",
            "\(plan.router.internalPort.bridgePort)@\(n)", "\(plan.router.internalPort.name)@\(q)", "\(plan.router.gatewayPort.name)@\(q)",
            "\(plan.router.gatewayPort.bridgePort)@\(n)", "br-ex@\(n)", "eth2@\(n)", "eth0@\(plan.external.namespace)",
        ])
        let roles = r.hops.filter { $0.direction == .forward }.map(\.role)
        for role in ["instance NIC", "tap", "Linux bridge qbr", "veth qvb", "veth qvo", "OVS bridge br-int", "patch", "OVS bridge br-tun",
                     "VXLAN tunnel", "underlay", "router qr-", "router qg-", "OVS bridge br-ex", "NIC", "destination"] {
            #expect(roles.contains(role), "role \(role) missing from \(roles)")
        }
        // The packet as it is at each place: VLAN on br-int, tunnel id in the tunnel, SNAT after the router.
        let tunnel = try #require(r.hops.first { $0.role == "VXLAN tunnel" })
        #expect(tunnel.packet.tunnelID == UInt64(plan.network.segmentationID))
        let qg = try #require(r.hops.first { $0.device == plan.router.gatewayPort.name && $0.direction == .forward })
        #expect(qg.packet.ipSrc == .v4(plan.router.floatingIP.address), "vm1 leaves with its floating IP (SNAT)")
        #expect(r.hops.contains { $0.notes.contains { $0.hasPrefix("SNAT at POSTROUTING: \(vm.address) -> \(plan.router.floatingIP.address)") } })
        // The reply is translated back and ends at the instance.
        let last = try #require(r.hops.last)
        #expect(last.direction == .reply && last.namespace == vm.namespace && last.role == "instance NIC")
        #expect(last.packet.ipDst == .v4(vm.address))
        #expect(r.hops.map(\.index) == Array(1...r.hops.count))
    }

    @Test func externalClientReachesTheFloatingIPThroughDNAT() throws {
        let r = try Fixtures.walk(try Fixtures.load("healthy"), "vm1", from: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        #expect(r.packet.ipDst == .v4(plan.router.floatingIP.address), "from outside the subnet the walk aims at the floating IP")
        #expect(r.notes.contains { $0.contains("floating IP \(plan.router.floatingIP.address)") })
        let destination = try #require(r.hops.first { $0.role == "destination" })
        #expect(destination.namespace == plan.floatingIPInstance.namespace && destination.packet.ipDst == .v4(plan.floatingIPInstance.address))
        #expect(r.hops.contains { $0.notes.contains { $0.contains("DNAT at PREROUTING: \(plan.router.floatingIP.address) -> \(plan.floatingIPInstance.address)") } })
        #expect(r.hops.first?.role == "source" && r.hops.first?.namespace == plan.external.namespace)
        #expect(r.hops.last?.namespace == plan.external.namespace && r.hops.last?.packet.ipSrc == .v4(plan.router.floatingIP.address))
    }

    @Test func instanceToInstanceStaysOnTheComputeNode() throws {
        let r = try Fixtures.walk(try Fixtures.load("healthy"), "vm1", to: "vm2")
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        #expect(!r.hops.contains { $0.role == "VXLAN tunnel" })
        let vm2 = plan.instances[1]
        let destination = try #require(r.hops.first { $0.role == "destination" })
        #expect(destination.namespace == vm2.namespace)
        // Two security groups crossed: vm1's egress on its qbr, vm2's ingress on its qbr.
        #expect(r.hops.filter { $0.role == "Linux bridge qbr" && $0.direction == .forward }.map(\.device) == [plan.instances[0].linuxBridge, vm2.linuxBridge])
        let sg = r.hops.first { $0.device == vm2.linuxBridge && $0.direction == .forward }
        #expect(sg?.evidence.contains { $0.kind == .firewallRule } == true, "the bridged frame met iptables")
    }

    @Test func instanceToTheDHCPServerOverUDP() throws {
        let r = try Fixtures.walk(try Fixtures.load("healthy"), "vm2", to: "\(plan.dhcp.address)", proto: .udp(67))
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        let destination = try #require(r.hops.first { $0.role == "destination" })
        #expect(destination.namespace == plan.dhcp.namespace && destination.device == plan.dhcp.interface)
        #expect(r.packet.dstPort == 67 && r.packet.ipProto == 17)
    }

    @Test func floodsAreFollowedAndTheArrivingCopyIsReported() throws {
        // Nothing learned: no MAC tables, no br-tun flows learned into table 20, no Linux bridge FDB.
        var s = try Fixtures.load("healthy")
        for node in plan.nodes {
            s.editSwitch(node.namespace) { o in for i in o.openFlow.indices { o.openFlow[i].fdb = [] } }
            s.removeFlows(node.namespace, bridge: "br-tun", containing: [" table=20,", "priority=1,"])
        }
        s.editNamespace(plan.computeNode.namespace) { $0.fdb.removeAll { !$0.state.contains(.permanent) } }
        let r = try Fixtures.walk(s, "vm1", to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        #expect(!r.otherBranches.isEmpty, "nothing learned yet: the switches flood")
        #expect(r.otherBranches.contains { $0.contains(plan.dhcp.interface) }, "a flooded copy reached the DHCP port and was not for it")
    }

    @Test func sourceOutsideTheSnapshotsEntersWhereTheRouteBackLeaves() throws {
        // 192.0.2.99 is nowhere in these snapshots (nor is the provider gateway's namespace): it
        // enters at the router's gateway port, where the route back to it leaves.
        var s = try Fixtures.load("healthy")
        s.network.namespaces.removeAll { $0.namespace.label == plan.external.namespace }
        let r = try Fixtures.walk(s, "vm1", from: "192.0.2.99")
        #expect(r.hops.first?.node == "(outside)")
        #expect(r.hops.dropFirst().first?.device == plan.router.gatewayPort.name)
        #expect(r.forward.kind == .reachable, "\(r.forward)")
        // The reply leaves the router towards the gateway and the snapshots end there.
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
    }

    @Test func destinationOutsideEverySnapshotEndsWhereThePacketLeaves() throws {
        var s = try Fixtures.load("healthy")
        // The external namespace is not part of this snapshot: the router's uplink is the edge.
        s.network.namespaces.removeAll { $0.namespace.label == plan.external.namespace }
        let r = try Fixtures.walk(s, "vm2", to: "\(plan.external.internetClient)")
        #expect(r.forward.kind == .reachable, "\(r.forward)")
        #expect(r.notes.contains { $0.contains("outside the snapshots") && $0.contains("eth2") })
        let edge = try #require(r.hops.last { $0.direction == .forward })
        #expect(edge.device == "eth2" && edge.role == "NIC")
    }
}
