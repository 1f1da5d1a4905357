import Diagnosis
import Foundation
import HopscopeModel
import Lab
import PathTrace
import SnapshotTestSupport
import Testing

/// Every check on recorded lab snapshots and edited copies: the fault's code comes first, at the
/// hop (or place) where the fault is, with evidence and advice; the healthy lab gives nothing.
@Suite struct CheckTests {
    typealias F = DiagnosisFixtures
    let plan = DiagnosisFixtures.plan

    func expectFirst(_ run: DiagnosisRun, _ code: DiagnosisCode, namespace: String, device: String?,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> Finding {
        let f = try F.first(run, sourceLocation: sourceLocation)
        #expect(f.code == code, "\(F.describe(run))", sourceLocation: sourceLocation)
        #expect(f.location.namespace == namespace, "\(f.location)", sourceLocation: sourceLocation)
        if let device { #expect(f.location.device == device, "\(f.location)", sourceLocation: sourceLocation) }
        #expect(!f.evidence.isEmpty && !f.advice.summary.isEmpty && !(f.advice.confirm + f.advice.fix).isEmpty, sourceLocation: sourceLocation)
        #expect(run.verdict.status == .problem && run.verdict.exitCode == 1, "\(run.verdict.line)", sourceLocation: sourceLocation)
        return f
    }

    // MARK: Healthy

    @Test func healthyLabGivesNoFindingForAnyInstanceOrPath() throws {
        let s = try F.healthy()
        for vm in plan.instances {
            let run = try F.diagnose(s, vm)
            #expect(run.findings.isEmpty, "\(vm.name): \(F.describe(run))")
            #expect(run.verdict.status == .healthy && run.verdict.exitCode == 0 && run.verdict.line.hasPrefix("healthy:"))
            #expect(run.walks.map(\.purpose) == [.gateway, .externalGateway, .dhcp, .dns, .dnsUpstream])
        }
        for run in [try F.diagnose(s, F.vm1, from: F.client), try F.diagnose(s, F.vm2, to: F.client),
                    try F.diagnose(s, F.vm1, from: F.client, proto: .tcp(22)), try F.diagnose(s, F.vm1, to: "\(F.vm2.address)")] {
            #expect(run.findings.isEmpty && run.verdict.status == .healthy, "\(run.request): \(F.describe(run))")
        }
    }

    @Test func staleFailedNeighbourEntryOfAnInstanceThatIsUpIsNoFinding() throws {
        // An earlier fault left the DHCP server's entry for vm1 FAILED; vm1 is up again on the same
        // layer 2, so the next packet re-resolves it: nothing is wrong.
        var s = try F.healthy()
        s.editNamespace(plan.dhcp.namespace) { inv in
            let i = inv.neighbors.firstIndex { $0.address == .v4(F.vm1.address) }!
            inv.neighbors[i].state = .failed
            inv.neighbors[i].mac = nil
        }
        let run = try F.diagnose(s)
        #expect(run.findings.isEmpty && run.verdict.status == .healthy, "\(F.describe(run))")
        let dhcp = try #require(run.walks.first { $0.purpose == .dhcp }?.result)
        #expect(dhcp.hops.contains { $0.evidence.contains { $0.note?.contains("the FAILED entry is from an earlier exchange") == true } })
        // With vm1's NIC gone from the layer 2 (its tap down), the entry is a stop again.
        s.editLink(F.compute, F.vm1.tapDevice) { $0.flags.remove(.up); $0.flags.remove(.lowerUp); $0.operState = .down }
        #expect(try F.diagnose(s).findings.first?.code == .linkDown)
    }

    @Test func staleUnderlayEntryWithAnOldMACIsReprobedNotAStop() throws {
        // Right after Open vSwitch changes br-phy's MAC, the other node's kernel entry for the
        // tunnel address still holds the old one; the kernel re-probes a STALE entry on use.
        var s = try F.healthy()
        s.editNamespace(F.compute) { inv in
            let i = inv.neighbors.firstIndex { $0.address == .v4(plan.networkNode.underlayAddress) && $0.interface == plan.computeNode.underlayBridge }!
            inv.neighbors[i].state = .stale
            inv.neighbors[i].mac = MACAddress("f6:c2:bf:e0:eb:72")
        }
        let run = try F.diagnose(s)
        #expect(run.findings.isEmpty && run.verdict.status == .healthy, "\(run.verdict.line)")
    }

    // MARK: Devices and links

    @Test func tapDownIsLinkDownAtTheTap() throws {
        let run = try F.diagnose(try F.load("tap-down"))
        let f = try expectFirst(run, .linkDown, namespace: F.compute, device: F.vm1.tapDevice)
        #expect(f.location.hop == 2 && f.relevance == .cause)
        #expect(f.advice.fix == ["ip netns exec \(F.compute) ip link set \(F.vm1.tapDevice) up"])
    }

    @Test func routerInterfaceDownIsLinkDownInTheRouter() throws {
        var s = try F.healthy()
        s.editLink(F.router, plan.router.internalPort.name) { $0.flags.remove(.up); $0.operState = .down }
        _ = try expectFirst(try F.diagnose(s), .linkDown, namespace: F.router, device: plan.router.internalPort.name)
        // With the instance's neighbour entry for the gateway gone, the walk cannot resolve the
        // gateway at all: its owner being down is still the cause.
        s.editNamespace(F.vm1.namespace) { $0.neighbors.removeAll { $0.address == .v4(plan.network.gateway) } }
        let run = try F.diagnose(s)
        let f = try expectFirst(run, .linkDown, namespace: F.router, device: plan.router.internalPort.name)
        #expect(f.evidence.contains { $0.kind == .neighbor }, "\(f.evidence)")
    }

    @Test func vethWhosePeerCannotBeFollowedIsVethPeerMissing() throws {
        var s = try F.healthy()
        // The qvo moved to a namespace the snapshot does not hold: the qvb names no peer.
        s.editNamespace(F.compute) { $0.links.removeAll { $0.name == F.vm1.ovsPort } }
        s.editLink(F.compute, F.vm1.bridgeVeth) { $0.vethPeer = nil; $0.lowerNamespaceID = 3; $0.flags.remove(.lowerUp); $0.operState = .down }
        let run = try F.diagnose(s)
        let f = try expectFirst(run, .vethPeerMissing, namespace: F.compute, device: F.vm1.bridgeVeth)
        #expect(f.relevance == .cause && f.location.hop != nil && f.title.contains("link-netnsid 3"))
        #expect(!run.findings.contains { $0.code == .linkDown }, "no carrier is the missing peer's doing: \(F.describe(run))")
    }

    @Test func qvbOutOfItsBridgeIsNotInBridge() throws {
        var s = try F.healthy()
        s.editLink(F.compute, F.vm1.bridgeVeth) { $0.masterIndex = nil; $0.master = nil; $0.portKind = nil; $0.bridgePort = nil }
        let f = try expectFirst(try F.diagnose(s), .notInBridge, namespace: F.compute, device: F.vm1.linuxBridge)
        #expect(f.title.contains(F.vm1.bridgeVeth))
        #expect(f.advice.fix == ["ip netns exec \(F.compute) ip link set \(F.vm1.bridgeVeth) master \(F.vm1.linuxBridge)"])
    }

    @Test func smallUnderlayMTUIsAWarningAndACauseForFullSizePackets() throws {
        var s = try F.healthy()
        for node in plan.nodes {
            for dev in [node.underlayBridge, node.underlayInterface] { s.editLink(node.namespace, dev) { $0.mtu = 1400 } }
        }
        let warning = try expectFirst(try F.diagnose(s), .mtuMismatch, namespace: F.compute, device: nil)
        #expect(warning.severity == .warning && warning.relevance == .contributing && warning.title.contains("inner MTU 1450"))
        let full = try expectFirst(try F.diagnose(s, to: "\(plan.dhcp.address)", size: 1450), .mtuMismatch, namespace: F.compute, device: nil)
        #expect(full.severity == .error && full.relevance == .cause)
    }

    @Test func instanceNICLargerThanTheNetworkMTUIsAWarning() throws {
        var s = try F.healthy()
        s.editLink(F.vm1.namespace, F.vm1.interface) { $0.mtu = 1500 }
        let f = try expectFirst(try F.diagnose(s), .mtuMismatch, namespace: F.vm1.namespace, device: F.vm1.interface)
        #expect(f.severity == .warning && f.title.contains("1500") && f.title.contains("1450"))
    }

    @Test func problemsOffTheWalkedPathsDoNotConcernTheInstance() throws {
        // An error on a port no walk crosses (another instance's) is not vm1's problem.
        var s = try F.healthy()
        s.editInterface(F.compute, F.vm2.ovsPort) { $0.error = "could not open network device \(F.vm2.ovsPort) (No such device)" }
        #expect(try F.diagnose(s, F.vm1, to: "\(plan.network.gateway)").findings.isEmpty)
        #expect(try F.diagnose(s, F.vm2).findings.first?.code == .ovsInterfaceError)
    }

    // MARK: Open vSwitch

    @Test func deadVLANComesBeforeTheDropFlowItCauses() throws {
        let run = try F.diagnose(try F.load("dead-vlan"))
        let f = try expectFirst(run, .ovsDeadVLAN, namespace: F.compute, device: F.vm1.ovsPort)
        #expect(f.evidence.first?.text.contains("tag=4095") == true)
        #expect(run.findings.contains { $0.code == .ovsFlowDrop && $0.relevance == .mechanism })
    }

    @Test func wrongTagIsOVSTagMismatch() throws {
        var s = try F.healthy()
        s.editPort(F.compute, F.vm1.ovsPort) { $0.tag = 3 }
        let f = try expectFirst(try F.diagnose(s), .ovsTagMismatch, namespace: F.compute, device: F.vm1.ovsPort)
        #expect(f.title.contains("tagged 3") && f.advice.fix.first?.hasSuffix("ovs-vsctl set Port \(F.vm1.ovsPort) tag=\(F.vm1.localVLAN)") == true)
    }

    @Test func missingTunnelFlowIsOVSFlowDropInBrTun() throws {
        let run = try F.diagnose(try F.load("tunnel-flow-missing"))
        let f = try expectFirst(run, .ovsFlowDrop, namespace: F.compute, device: "br-tun")
        #expect(f.evidence.last?.source == "br-tun table 4" && f.evidence.last?.text.contains("actions=drop") == true)
        #expect(f.advice.confirm.contains { $0.contains("ovs-ofctl dump-flows br-tun table=4") && $0.hasPrefix("OVS_RUNDIR=") })
    }

    @Test func patchWithoutPeerIsOVSPatchBroken() throws {
        var s = try F.healthy()
        s.editInterface(F.compute, plan.computeNode.integrationPatchPort) { $0.options["peer"] = "patch-nowhere" }
        let f = try expectFirst(try F.diagnose(s), .ovsPatchBroken, namespace: F.compute, device: nil)
        #expect(f.title.contains(plan.computeNode.integrationPatchPort) && f.title.contains("patch-nowhere"))
    }

    @Test func interfaceErrorOnTheInstancePortIsOVSInterfaceError() throws {
        var s = try F.healthy()
        s.editInterface(F.compute, F.vm1.ovsPort) { $0.error = "could not open network device \(F.vm1.ovsPort) (No such device)"; $0.ofport = -1 }
        let f = try expectFirst(try F.diagnose(s), .ovsInterfaceError, namespace: F.compute, device: F.vm1.ovsPort)
        #expect(f.relevance == .cause && f.evidence.first?.text.contains("No such device") == true)
    }

    @Test func tunnelToNowhereIsTunnelEndpointUnreachable() throws {
        var s = try F.healthy()
        s.editInterface(F.compute, plan.computeNode.vxlanPort) { $0.options["remote_ip"] = "198.18.0.99" }
        let f = try expectFirst(try F.diagnose(s), .tunnelEndpointUnreachable, namespace: F.compute, device: plan.computeNode.vxlanPort)
        #expect(f.title.contains("198.18.0.99"))
    }

    // MARK: Firewall

    @Test func securityGroupWithoutICMPIsFirewallDropWithChainAndComment() throws {
        let run = try F.diagnose(try F.load("sg-drops-icmp"), from: F.client)
        let f = try expectFirst(run, .firewallDrop, namespace: F.compute, device: F.vm1.linuxBridge)
        let rule = try #require(f.evidence.first)
        #expect(rule.kind == .firewallRule && rule.source.contains("sg-fallback") && rule.text.contains("-j DROP") && rule.note != nil)
        #expect(run.verdict.line.hasPrefix("unreachable: the packet is dropped on \(plan.computeNode.namespace) by security-group rule"))
        #expect(f.advice.summary.contains("allow ICMP") && f.advice.summary.contains("SSH"))
        #expect(f.advice.fix == ["openstack security group rule create --ingress --protocol icmp SECURITY_GROUP"])
        // The instance's own basic connectivity does not need ingress ICMP.
        #expect(try F.diagnose(try F.load("sg-drops-icmp")).findings.isEmpty)
    }

    @Test func bridgeNetfilterOffIsFirewallNotEnforced() throws {
        let f = try expectFirst(try F.diagnose(try F.load("br-netfilter-off")), .firewallNotEnforced, namespace: F.compute, device: F.vm1.linuxBridge)
        #expect(f.severity == .warning && f.evidence.contains { $0.kind == .sysctl && $0.text == "0" })
    }

    // MARK: Routing and NAT

    @Test func routerWithoutDefaultRouteIsNoRoute() throws {
        let s = try F.load("router-no-default-route")
        _ = try expectFirst(try F.diagnose(s, F.vm2, to: F.client), .noRoute, namespace: F.router, device: plan.router.internalPort.name)
        // Basic connectivity cannot walk to the external gateway: the router itself is named.
        #expect(try F.diagnose(s).findings.first?.code == .noRoute)
    }

    @Test func instanceWithoutDefaultRouteIsNoRouteAtItsNIC() throws {
        var s = try F.healthy()
        s.editNamespace(F.vm2.namespace) { $0.routes.removeAll { $0.isDefault } }
        let f = try expectFirst(try F.diagnose(s, F.vm2, to: F.client), .noRoute, namespace: F.vm2.namespace, device: nil)
        #expect(f.location.hop == 1)
    }

    @Test func routerForwardingOffIsIPForwardingDisabled() throws {
        let f = try expectFirst(try F.diagnose(try F.load("router-ip-forward-off")), .ipForwardingDisabled, namespace: F.router, device: plan.router.internalPort.name)
        #expect(f.evidence.first?.text == "0" && f.advice.fix.first?.hasSuffix("sysctl -w net.ipv4.ip_forward=1") == true)
    }

    @Test func routerWithoutSNATIsNATMissingBeforeTheMissingRouteBack() throws {
        let run = try F.diagnose(try F.load("router-no-snat"), F.vm2, to: F.client)
        _ = try expectFirst(run, .natMissing, namespace: F.router, device: plan.router.gatewayPort.name)
        #expect(run.findings.contains { $0.code == .noRoute && $0.location.namespace == plan.external.namespace })
    }

    @Test func floatingIPWithoutDNATIsNATMissing() throws {
        var s = try F.healthy()
        #expect(s.removeIptablesLines(F.router, containing: ["-A neutron-l3-agent-PREROUTING", "-j DNAT"]) == 1)
        let f = try expectFirst(try F.diagnose(s, from: F.client), .natMissing, namespace: F.router, device: nil)
        #expect(f.title.contains("no DNAT"))
    }

    @Test func unansweredGatewayIsNeighborUnresolved() throws {
        let f = try expectFirst(try F.diagnose(try F.load("gateway-unresolved"), F.vm2, to: F.client), .neighborUnresolved,
                                namespace: F.router, device: plan.router.gatewayPort.name)
        #expect(f.evidence.first?.kind == .neighbor && f.title.contains("\(plan.router.defaultGateway)"))
    }

    @Test func strictRPFilterWithAStrayRouteIsRPFilterDrop() throws {
        var s = try F.healthy()
        s.editNamespace(F.router) { inv in
            inv.sysctls.rpFilterAll = 1
            var stray = inv.routes.first { $0.outputInterface == plan.router.internalPort.name && !$0.isDefault && $0.table == 254 }!
            stray.destination = IPPrefix(address: .v4(plan.external.internetClient), length: 32)
            stray.preferredSource = nil
            inv.routes.append(stray)
        }
        let f = try expectFirst(try F.diagnose(s, from: F.client), .rpFilterDrop, namespace: F.router, device: plan.router.gatewayPort.name)
        #expect(f.evidence.first?.kind == .sysctl && f.evidence.first?.text == "1")
    }

    // MARK: DHCP and DNS

    @Test func noDnsmasqIsDHCPServerDown() throws {
        var s = try F.healthy()
        s.dnsmasq.removeAll { $0.namespace == plan.dhcp.namespace }
        s.editNamespace(plan.dhcp.namespace) { $0.namespace.processes.removeAll { $0.command.contains("dnsmasq") } }
        let run = try F.diagnose(s)
        _ = try expectFirst(run, .dhcpServerDown, namespace: plan.dhcp.namespace, device: nil)
        #expect(run.verdict.line.hasPrefix("DHCP fails:"))
    }

    @Test func missingHostsEntryIsDHCPNoHostEntry() throws {
        let f = try expectFirst(try F.diagnose(try F.load("dhcp-host-missing")), .dhcpNoHostEntry, namespace: plan.dhcp.namespace, device: nil)
        #expect(f.title.contains("\(F.vm1.mac)"))
        #expect(try F.diagnose(try F.load("dhcp-host-missing"), F.vm2).findings.isEmpty, "vm2 keeps its entry")
    }

    @Test func securityGroupWithoutDHCPRulesIsDHCPReplyBlocked() throws {
        var s = try F.healthy()
        #expect(s.removeIptablesLines(F.compute, containing: ["-A \(F.vm1.ingressChain) ", "--sport 67"]) == 2)
        let run = try F.diagnose(s)
        let f = try expectFirst(run, .dhcpReplyBlocked, namespace: F.compute, device: F.vm1.linuxBridge)
        #expect(f.evidence.first?.kind == .firewallRule && run.verdict.line.hasPrefix("DHCP fails:"))
        #expect(run.findings.contains { $0.code == .firewallDrop }, "the deciding rule is also a FIREWALL_DROP, ranked after")
    }

    @Test func dnsmasqWithDNSDisabledIsDNSServerDown() throws {
        var s = try F.healthy()
        let i = s.dnsmasq.firstIndex { $0.namespace == plan.dhcp.namespace }!
        s.dnsmasq[i].arguments.append("--port=0")
        let f = try expectFirst(try F.diagnose(s), .dnsServerDown, namespace: plan.dhcp.namespace, device: nil)
        #expect(f.evidence.first?.text.contains("--port=0") == true)
    }

    @Test func stoppedUpstreamIsDNSUpstreamUnreachable() throws {
        var s = try F.healthy()
        s.dnsmasq.removeAll { $0.namespace == plan.external.namespace }
        s.editNamespace(plan.external.namespace) { $0.namespace.processes.removeAll { $0.command.contains("dnsmasq") } }
        let f = try expectFirst(try F.diagnose(s), .dnsUpstreamUnreachable, namespace: plan.external.namespace, device: nil)
        #expect(f.title.contains("\(plan.external.dnsServer)"))
    }

    @Test func upstreamBehindABrokenRouterIsReportedOnTheUpstreamWalk() throws {
        let run = try F.diagnose(try F.load("router-ip-forward-off"))
        #expect(run.findings.contains { $0.code == .dnsUpstreamUnreachable && $0.location.walk.map { run.walks[$0].purpose } == .dnsUpstream })
    }

    // MARK: Captures

    @Test func probeSeenUpToAHopAndNotAfterIsPacketLostAt() throws {
        let diagnoser = Diagnoser(snapshots: [try F.load("tunnel-flow-missing")])
        var run = try diagnoser.walk(DiagnosisRequest(instance: F.vm1.namespace, target: .from(F.client)))
        let hops = try #require(run.walks[0].result?.hops)
        let tunnel = try #require(hops.first { $0.role.hasSuffix("tunnel") && $0.namespace == F.compute })
        let qvo = try #require(hops.first { $0.index > tunnel.index })
        run.observations = [ProbeObservation(walk: 0, probe: "3 ICMP echo requests from \(F.client)", answered: false, sightings: [
            .init(hop: tunnel.index, seen: true, evidence: [Evidence(kind: .capture, source: tunnel.device ?? "?", text: "3 packets")]),
            .init(hop: qvo.index, seen: false, evidence: [Evidence(kind: .capture, source: qvo.device ?? "?", text: "0 packets")]),
        ])]
        diagnoser.evaluate(&run)
        let lost = try #require(run.findings.first { $0.code == .packetLostAt })
        #expect(lost.location.hop == qvo.index && lost.relevance == .cause, "\(lost.location) \(lost.relevance)")
        #expect(lost.evidence.map(\.text) == ["3 packets", "0 packets"])
        // An answered probe says nothing.
        run.observations[0].answered = true
        diagnoser.evaluate(&run)
        #expect(!run.findings.contains { $0.code == .packetLostAt })
    }
}
