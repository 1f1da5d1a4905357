import Foundation
import HopscopeModel
import PathTrace
import SnapshotTestSupport
import Testing
import Topology

/// Walks on copies of the healthy snapshot edited the way the lab's faults break the live lab:
/// each stops at the hop the fault is at, with the evidence that shows it. Where the same fault
/// was also recorded live, the edited copy and the recording must agree.
@Suite struct FaultPathTests {
    let plan = Fixtures.plan
    var vm1: String { plan.instances[0].name }
    var vm2: String { plan.instances[1].name }
    var compute: String { plan.computeNode.namespace }
    var router: String { plan.router.namespace }

    func healthy() throws -> Snapshot { try Fixtures.load("healthy") }

    /// A recorded fault from the demo snapshots (captures/snapshots, same lab as the fixtures).
    func demo(_ name: String) throws -> Snapshot {
        let url = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("captures/snapshots/\(name).json")
        return try Snapshot.decode(Data(contentsOf: url))
    }

    /// The edited copy and the live recording stop at the same hop for the same reason.
    func expectSameStop(_ edited: PathResult, _ recorded: PathResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(edited.verdict.kind == recorded.verdict.kind, "\(edited.verdict) vs \(recorded.verdict)", sourceLocation: sourceLocation)
        #expect(edited.verdict.device == recorded.verdict.device && edited.verdict.namespace == recorded.verdict.namespace,
                "\(edited.verdict) vs \(recorded.verdict)", sourceLocation: sourceLocation)
        #expect(edited.verdict.hop == recorded.verdict.hop, "\(edited.verdict) vs \(recorded.verdict)", sourceLocation: sourceLocation)
    }

    @Test func tapDownStopsAtTheTapWithItsLinkState() throws {
        var s = try healthy()
        let vm = plan.floatingIPInstance
        s.editLink(compute, vm.tapDevice) { $0.flags.remove(.up); $0.flags.remove(.lowerUp); $0.operState = .down }
        s.editLink(vm.namespace, vm.interface) { $0.flags.remove(.lowerUp); $0.operState = .lowerLayerDown }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .stopped)
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == vm.tapDevice && hop.role == "tap" && hop.decision == .drop)
        #expect(hop.state?.adminUp == false)
        #expect(hop.evidence.contains { $0.kind == .link && $0.text.contains("state DOWN") })
        expectSameStop(r, try Fixtures.walk(try Fixtures.load("tap-down"), vm1, to: "\(plan.external.gateway)"))
        // From outside, the packet crosses everything else and stops at the same tap.
        let inbound = try Fixtures.walk(s, vm1, from: "\(plan.external.internetClient)")
        #expect(try Fixtures.stopHop(inbound).device == vm.tapDevice)
    }

    @Test func securityGroupWithoutICMPDropsPingsToTheFloatingIPAtTheQbr() throws {
        var s = try healthy()
        let vm = plan.floatingIPInstance
        #expect(s.removeIptablesLines(compute, containing: ["-A \(vm.ingressChain) ", "-p icmp -j RETURN"]) == 1)
        let r = try Fixtures.walk(s, vm1, from: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .stopped)
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == vm.linuxBridge && hop.namespace == compute && hop.decision == .drop)
        let rule = try #require(hop.evidence.first { $0.kind == .firewallRule })
        #expect(rule.source.contains("sg-fallback") && rule.text.contains("-j DROP"), "\(rule)")
        expectSameStop(r, try Fixtures.walk(try demo("sg-drops-icmp"), vm1, from: "\(plan.external.internetClient)"))
        // TCP 22 is still allowed by the group.
        let ssh = try Fixtures.walk([s], PathRequest(instance: vm1, direction: .from("\(plan.external.internetClient)"), proto: .tcp(22)))
        #expect(ssh.verdict.kind == .reachable, "\(ssh.verdict)")
    }

    @Test func securityGroupsAreBypassedWhenBridgeNetfilterIsOff() throws {
        var s = try healthy()
        s.removeIptablesLines(compute, containing: ["-A \(plan.floatingIPInstance.ingressChain) ", "-p icmp -j RETURN"])
        s.editNamespace(compute) { $0.sysctls.bridgeNFCallIptables = false }
        let r = try Fixtures.walk(s, vm1, from: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .reachable, "without br_netfilter the bridged frame never meets the DROP")
        #expect(r.hops.contains { $0.notes.contains { $0.contains("br_netfilter is off") } })
    }

    @Test func deadVLANStopsInTheSwitchesOfTheComputeNode() throws {
        var s = try healthy()
        let vm = plan.floatingIPInstance
        s.editSwitch(plan.computeNode.namespace) { o in
            let i = o.database!.ports.firstIndex { $0.name == vm.ovsPort }!
            o.database!.ports[i].tag = 4095
        }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .stopped, "\(r.verdict)")
        let hop = try Fixtures.stopHop(r)
        #expect(hop.namespace == compute && hop.role.hasPrefix("OVS bridge"))
        #expect(r.hops.contains { $0.device == vm.ovsPort && $0.state?.ovs?.contains("tag 4095") == true }, "the qvo's state shows the dead VLAN")
        expectSameStop(r, try Fixtures.walk(try demo("dead-vlan"), vm1, to: "\(plan.external.gateway)"))
    }

    @Test func missingTunnelFlowStopsInComputeBrTunWithTheFlowThatDrops() throws {
        var s = try healthy()
        #expect(s.removeFlows(plan.computeNode.namespace, bridge: "br-tun", containing: ["table=4", "tun_id=0x3e9"]) == 1)
        let r = try Fixtures.walk(s, vm1, from: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .stopped)
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == "br-tun" && hop.namespace == compute)
        let flow = try #require(hop.evidence.last { $0.kind == .flow })
        #expect(flow.source == "br-tun table 4" && flow.text.contains("actions=drop"), "\(flow)")
        expectSameStop(r, try Fixtures.walk(try Fixtures.load("tunnel-flow-missing"), vm1, from: "\(plan.external.internetClient)"))
        // The instance's own ping goes out, and its reply is what cannot come back.
        let out = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        #expect(out.forward.kind == .reachable && out.reply?.kind == .stopped)
    }

    @Test func routerWithoutDefaultRouteStopsAtTheRouter() throws {
        var s = try healthy()
        s.editNamespace(router) { $0.routes.removeAll { $0.isDefault && $0.table == 254 } }
        let r = try Fixtures.walk(s, vm2, to: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .stopped)
        let hop = try Fixtures.stopHop(r)
        #expect(hop.namespace == router && hop.device == plan.router.internalPort.name)
        #expect(r.verdict.reason.contains("no route to \(plan.external.internetClient)"))
        expectSameStop(r, try Fixtures.walk(try demo("router-no-default-route"), vm2, to: "\(plan.external.internetClient)"))
        // The external subnet itself is still on-link.
        #expect(try Fixtures.walk(s, vm2, to: "\(plan.external.gateway)").verdict.kind == .reachable)
    }

    @Test func routerWithoutSNATLetsThePacketOutButTheReplyHasNoWayBack() throws {
        var s = try healthy()
        #expect(s.removeIptablesLines(router, containing: ["-A neutron-l3-agent-snat", "-j SNAT"]) == 2)
        let r = try Fixtures.walk(s, vm2, to: "\(plan.external.internetClient)")
        #expect(r.forward.kind == .reachable && r.reply?.kind == .stopped, "\(r.forward) / \(String(describing: r.reply))")
        let arrival = try #require(r.hops.first { $0.role == "destination" })
        #expect(arrival.packet.ipSrc == .v4(plan.instances[1].address), "no SNAT: the tenant address reaches the outside")
        #expect(r.verdict.namespace == plan.external.namespace && r.verdict.reason.contains("no route to \(plan.instances[1].address)"))
        expectSameStop(r, try Fixtures.walk(try demo("router-no-snat"), vm2, to: "\(plan.external.internetClient)"))
    }

    @Test func routerWithIPForwardingOffStopsAtItsInternalPort() throws {
        var s = try healthy()
        s.editNamespace(router) { $0.sysctls.ipv4Forwarding = false }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == plan.router.internalPort.name && hop.namespace == router)
        #expect(hop.evidence.contains { $0.kind == .sysctl && $0.source.hasSuffix("net.ipv4.ip_forward") && $0.text == "0" })
        expectSameStop(r, try Fixtures.walk(try demo("router-ip-forward-off"), vm1, to: "\(plan.external.gateway)"))
    }

    @Test func missingFloatingIPDNATEndsAtTheRouterItself() throws {
        var s = try healthy()
        #expect(s.removeIptablesLines(router, containing: ["-A neutron-l3-agent-PREROUTING", "-j DNAT"]) == 1)
        let r = try Fixtures.walk(s, vm1, from: "\(plan.external.internetClient)")
        #expect(r.verdict.kind == .stopped)
        #expect(r.verdict.namespace == router && r.verdict.reason.contains("delivered to \(router) itself"), "\(r.verdict)")
    }

    @Test func gatewayWithoutARPAnswerStopsAtTheRouterUplink() throws {
        let r = try Fixtures.walk(try Fixtures.load("gateway-unresolved"), vm2, to: "\(plan.external.internetClient)")
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == plan.router.gatewayPort.name && hop.namespace == router)
        #expect(hop.evidence.contains { $0.kind == .neighbor && $0.text.hasPrefix("\(plan.router.defaultGateway) dev \(plan.router.gatewayPort.name)") })
    }

    @Test func aFailedNeighbourWhoseOwnerIsUpIsAskedAgain() throws {
        // Left FAILED by an earlier outage (say the tap was down); the gateway is up again, so
        // the kernel's next ARP is answered. Only an address nobody owns stays a stop.
        var s = try healthy()
        let vm = plan.instances[0]
        s.editNamespace(vm.namespace) { ns in
            for i in ns.neighbors.indices where ns.neighbors[i].address == .v4(plan.network.gateway) {
                ns.neighbors[i].state = .failed
                ns.neighbors[i].mac = nil
            }
        }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .reachable, "\(r.verdict)")
        let first = try #require(r.hops.first)
        #expect(first.evidence.contains { $0.kind == .neighbor && $0.note?.contains("the next packet asks again") == true }, "\(first.evidence)")
    }

    @Test func brokenPatchPortIsNamed() throws {
        var s = try healthy()
        s.editSwitch(plan.computeNode.namespace) { o in
            let i = o.database!.interfaces.firstIndex { $0.name == plan.computeNode.integrationPatchPort }!
            o.database!.interfaces[i].options["peer"] = "patch-nowhere"
        }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.dhcp.address)")
        #expect(r.verdict.kind == .stopped)
        #expect(r.verdict.device == "br-int" && r.verdict.reason.contains("patch port \(plan.computeNode.integrationPatchPort) has no peer"), "\(r.verdict)")
    }

    @Test func qvbOutOfItsBridgeLeavesTheFrameNowhereToGo() throws {
        var s = try healthy()
        let vm = plan.floatingIPInstance
        s.editLink(compute, vm.bridgeVeth) { $0.masterIndex = nil; $0.master = nil; $0.portKind = nil; $0.bridgePort = nil }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.dhcp.address)")
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == vm.linuxBridge && r.verdict.reason.contains("no other port"))
    }

    @Test func instanceWithoutDefaultRouteStopsAtItsNIC() throws {
        var s = try healthy()
        s.editNamespace(plan.instances[1].namespace) { $0.routes.removeAll { $0.isDefault } }
        let r = try Fixtures.walk(s, vm2, to: "\(plan.external.internetClient)")
        #expect(r.verdict.hop == 1 && r.verdict.namespace == plan.instances[1].namespace)
        // Its own subnet is still reachable.
        #expect(try Fixtures.walk(s, vm2, to: "\(plan.dhcp.address)").verdict.kind == .reachable)
    }

    @Test func underlayMTUTooSmallDropsFullSizePacketsAndSaysSoForSmallOnes() throws {
        var s = try healthy()
        for node in plan.nodes {
            for dev in [node.underlayBridge, node.underlayInterface] { s.editLink(node.namespace, dev) { $0.mtu = 1400 } }
        }
        let small = try Fixtures.walk(s, vm1, to: "\(plan.dhcp.address)")
        #expect(small.verdict.kind == .reachable)
        #expect(small.hops.contains { $0.role == "underlay" && $0.notes.contains { $0.contains("full-size packets do not fit: inner MTU 1450") } })
        let full = try Fixtures.walk(s, vm1, to: "\(plan.dhcp.address)", size: 1450)
        let hop = try Fixtures.stopHop(full)
        #expect(hop.role == "underlay" && hop.namespace == compute && full.verdict.reason.contains("MTU 1400"))
        // The healthy underlay carries full-size packets.
        #expect(try Fixtures.walk(try healthy(), vm1, to: "\(plan.dhcp.address)", size: 1450).verdict.kind == .reachable)
    }

    @Test func interfaceDownOnTheRouterStopsThere() throws {
        var s = try healthy()
        s.editLink(router, plan.router.internalPort.name) { $0.flags.remove(.up); $0.operState = .down }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        let hop = try Fixtures.stopHop(r)
        #expect(hop.device == plan.router.internalPort.name && hop.role == "router qr-" && hop.decision == .drop)
    }

    @Test func ruleFirewallStateMissingIsUnknownNotAGuess() throws {
        var s = try healthy()
        s.firewalls.removeAll { $0.namespace == router }
        let r = try Fixtures.walk(s, vm1, to: "\(plan.external.gateway)")
        #expect(r.verdict.kind == .unknown)
        #expect(r.verdict.namespace == router && r.verdict.reason.contains("no iptables state"), "\(r.verdict)")
    }
}
