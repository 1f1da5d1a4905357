import Foundation
import HopscopeModel
import Lab
import Namespaces
import Testing

/// The healthy lab, proved with real traffic and with the state the real tools report.
@Suite(.serialized) struct LabHealthyTests {
    @Test func everyHealthyBehaviourWorksWithRealTraffic() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let results = try await lab.check()
        #expect(results.count == LabChecks.all(for: plan).count)
        for r in results {
            #expect(r.passed, "\(r.id): \(r.summary) — observed: \(r.detail)")
        }
        // The DHCP lease carries the address, the MTU option and the router.
        let vm1 = try #require(results.first { $0.id == "dhcp:vm1" })
        #expect(vm1.detail.contains("ip=10.0.0.11") && vm1.detail.contains("mtu=1450") && vm1.detail.contains("router=10.0.0.1"))
        #expect(try #require(results.first { $0.id == "fip-ssh" }).detail.hasSuffix("connected"))
        #expect(try #require(results.first { $0.id == "sg-blocks" }).detail.contains("timed out"))
    }

    @Test func instancesBootedWithTheirLeaseApplied() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let leases = try String(contentsOfFile: plan.dhcp.leasesFile, encoding: .utf8)
        for vm in plan.instances {
            #expect(leases.contains("\(vm.mac) \(vm.address)"), "dnsmasq leased \(vm.address) to \(vm.mac)")
            let link = try await lab.run(["ip", "-o", "link", "show", "eth0"], in: vm.name).standardOutput
            #expect(link.contains("mtu 1450"), "the DHCP MTU option was applied in \(vm.name)")
            let route = try await lab.run(["ip", "-4", "route", "show", "default"], in: vm.name).standardOutput
            #expect(route.contains("default via 10.0.0.1 dev eth0"))
        }
        // dig with no server uses /etc/netns/<ns>/resolv.conf, written from the lease.
        let probe = plan.probeInstance
        let answer = try await lab.run(["dig", "+short", "+time=2", "+tries=2", plan.external.dnsRecords[2].name], in: probe.name)
        #expect(answer.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == plan.external.dnsRecords[2].address.description)
    }

    @Test func pingToTheGatewayIsSourceNATedByTheRouter() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let probe = plan.probeInstance
        try await lab.run(["ping", "-n", "-c", "1", "-W", "2", "\(plan.external.gateway)"], in: probe.name)
        let entries = try await lab.run(["conntrack", "-L", "-p", "icmp", "-s", "\(probe.address)", "-d", "\(plan.external.gateway)"],
                                        in: "qrouter").standardOutput
        // The reply direction is addressed to the router's external address: SNAT happened.
        #expect(entries.contains("src=\(plan.external.gateway) dst=\(plan.router.gatewayPort.address.address)"), "\(entries)")
    }

    @Test func hostsAreNeutronShapedInsideTheirOwnNamespaces() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let compute = plan.computeNode, network = plan.networkNode
        let vm = plan.instances[0]

        // Hybrid plug: tap and qvb in the qbr, qvo on br-int with its tag and Nova's external_ids.
        let bridged = try await lab.run(["ip", "-o", "link", "show", "master", vm.linuxBridge], in: compute.name).standardOutput
        #expect(bridged.contains(vm.tapDevice) && bridged.contains(vm.bridgeVeth))
        let tag = try await lab.ovs("ovs-vsctl", ["get", "Port", vm.ovsPort, "tag"], node: compute.name).standardOutput
        #expect(tag.trimmingCharacters(in: .whitespacesAndNewlines) == "\(vm.localVLAN)")
        let ids = try await lab.ovs("ovs-vsctl", ["get", "Interface", vm.ovsPort, "external_ids"], node: compute.name).standardOutput
        #expect(ids.contains("iface-id=\"\(vm.portID)\"") && ids.contains("vm-uuid=\"\(vm.vmID)\"")
                && ids.contains("attached-mac=\"\(vm.mac)\"") && ids.contains("iface-status=active"))
        let datapath = try await lab.ovs("ovs-vsctl", ["get", "Bridge", "br-int", "datapath_type"], node: compute.name).standardOutput
        #expect(datapath.contains("netdev"))

        // br-tun on each node maps the tunnel id to its own local VLAN.
        let computeTun = try await lab.ovs("ovs-ofctl", ["dump-flows", "br-tun", "table=4"], node: compute.name).standardOutput
        #expect(computeTun.contains("tun_id=0x3e9 actions=mod_vlan_vid:1,resubmit(,10)"))
        let networkTun = try await lab.ovs("ovs-ofctl", ["dump-flows", "br-tun", "table=22"], node: network.name).standardOutput
        #expect(networkTun.contains("dl_vlan=2 actions=strip_vlan,load:0x3e9->NXM_NX_TUN_ID[]"))
        // The oracle agrees: a frame from the tunnel reaches br-int with network1's local VLAN.
        let trace = try await lab.ovs("ovs-appctl", ["-t", "ovs-vswitchd", "ofproto/trace", "br-tun",
                                                     "in_port=\(network.vxlanOFPort),tun_id=0x3e9,dl_src=\(vm.mac),dl_dst=\(plan.dhcp.mac)"],
                                      node: network.name).standardOutput
        #expect(trace.contains("mod_vlan_vid:2") && trace.contains("output:\(network.tunnelPatchOFPort)"), "\(trace)")

        // Security groups: Neutron's chains and comments, br_netfilter on in the compute namespace.
        let rules = try await lab.run(["iptables-save", "-t", "filter"], in: compute.name).standardOutput
        #expect(rules.contains("-A neutron-openvswi-sg-chain -m physdev --physdev-out \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j \(vm.ingressChain)"))
        #expect(rules.contains("-A \(vm.ingressChain) -p tcp -m tcp --dport 22 -j RETURN"))
        #expect(try await sysctl("net.bridge.bridge-nf-call-iptables", in: compute.namespace) == "1")
        #expect(try await sysctl("net.ipv4.ip_forward", in: plan.router.namespace) == "1")

        // The router's NAT chains.
        let nat = try await lab.run(["iptables-save", "-t", "nat"], in: "qrouter").standardOutput
        #expect(nat.contains("-A neutron-l3-agent-PREROUTING -d 203.0.113.20/32 -j DNAT --to-destination 10.0.0.11"))
        #expect(nat.contains("-A neutron-l3-agent-snat -o \(plan.router.gatewayPort.name) -j SNAT --to-source 203.0.113.10"))

        // Each daemon lives in its node's namespace, with the command line the agents use.
        let status = try lab.status()
        #expect(status.complete)
        for p in status.processes {
            #expect(try namespaceInode(of: "/proc/\(p.pid)/ns/net") == namespaceInode(of: "/run/netns/\(p.namespace)"), "\(p.role)")
        }
        let dnsmasq = try #require(status.processes.first { $0.role == LabProcess.Role.dhcpServer.rawValue })
        let cmdline = try String(contentsOfFile: "/proc/\(dnsmasq.pid)/cmdline", encoding: .utf8).replacingOccurrences(of: "\0", with: " ")
        #expect(cmdline.contains("--server=198.51.100.53") && cmdline.contains("--dhcp-option-force=option:mtu,1450")
                && cmdline.contains("--dhcp-hostsfile=\(plan.dhcp.hostsFile)"))
    }

    @Test func statusReportsThePlanAsJSONOthersCanRead() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let data = try JSONEncoder().encode(try lab.status())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["phase"] as? String == "up")
        let decodedPlan = try JSONDecoder().decode(LabPlan.self, from: try JSONSerialization.data(withJSONObject: object["plan"]!))
        #expect(decodedPlan == plan)
    }
}

/// Reads a sysctl inside a namespace (through /proc/sys on a thread in the namespace).
func sysctl(_ key: String, in namespace: String) async throws -> String {
    try await withNetworkNamespace(.named(namespace)) {
        try String(contentsOfFile: "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The inode of an nsfs file, identifying a namespace.
func namespaceInode(of path: String) throws -> UInt64 {
    var st = stat()
    try #require(stat(path, &st) == 0, "cannot stat \(path)")
    return UInt64(st.st_ino)
}
