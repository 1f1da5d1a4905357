import Foundation
import HopscopeModel
import Testing
@testable import Lab

@Suite struct LabConfigurationTests {
    let plan: LabPlan
    let config: LabConfiguration

    init() throws {
        plan = try LabPlan(prefix: "hst", instances: 2)
        config = LabConfiguration(plan: plan)
    }

    @Test func oneBatchCreatesEveryNamespaceAndEveryLinkInsideItsNamespace() {
        let lines = config.namespaceAndLinkBatch.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("netns add ") }.map { String($0.dropFirst(10)) } == plan.namespaces)
        for line in lines where line.hasPrefix("link add ") {
            // Every device is created with an explicit target namespace: nothing lands in the root one.
            let words = line.split(separator: " ")
            #expect(words[3] == "netns", "\(line)")
            if let peer = words.firstIndex(of: "peer") {
                #expect(words[(peer + 1)...].contains("netns"), "\(line)")
            }
        }
        let vm = plan.instances[0]
        #expect(lines.contains { $0.contains("link add \(vm.tapDevice) netns hst-compute1 address \(vm.tapMAC)") && $0.contains("peer name eth0 netns hst-vm1 address \(vm.mac)") })
        #expect(lines.contains("link add \(vm.linuxBridge) netns hst-compute1 mtu 1450 type bridge forward_delay 0 stp_state 0"))
        #expect(lines.contains { $0.hasPrefix("link add eth1 netns hst-compute1 type veth peer name eth1 netns hst-network1") })
    }

    @Test func interfaceBatchesPlugTheHybridBridgeAndAddressEveryAgent() {
        let batches = Dictionary(uniqueKeysWithValues: config.interfaceBatches.map { ($0.namespace, $0.batch) })
        let vm = plan.instances[1]
        let compute = batches["hst-compute1"]!
        #expect(compute.contains("link set \(vm.tapDevice) master \(vm.linuxBridge)"))
        #expect(compute.contains("link set \(vm.bridgeVeth) master \(vm.linuxBridge)"))
        let router = batches[plan.router.namespace]!
        #expect(router.contains("addr add 10.0.0.1/24 dev \(plan.router.internalPort.name)"))
        #expect(router.contains("addr add 203.0.113.20/32 dev \(plan.router.gatewayPort.name)"))
        #expect(router.contains("route replace default via 203.0.113.1 dev \(plan.router.gatewayPort.name)"))
        #expect(batches[plan.dhcp.namespace]!.contains("route add default via 10.0.0.1"))
        #expect(batches["hst-external"]!.contains("addr add 198.51.100.53/32 dev lo"))
        #expect(batches["hst-vm1"] == "link set lo up\nlink set eth0 up", "instances get their address by DHCP, not statically")
    }

    @Test func everyVethEndLosesTxChecksumOffload() {
        let all = config.checksumOffloadInterfaces.flatMap { entry in entry.interfaces.map { "\(entry.namespace)/\($0)" } }
        let vm = plan.instances[0]
        for name in ["hst-compute1/\(vm.tapDevice)", "hst-compute1/\(vm.bridgeVeth)", "hst-compute1/\(vm.ovsPort)",
                     "hst-vm1/eth0", "hst-compute1/eth1", "hst-network1/eth1", "hst-network1/eth2",
                     "\(plan.dhcp.namespace)/\(plan.dhcp.interface)", "\(plan.router.namespace)/\(plan.router.internalPort.name)",
                     "hst-external/eth0"] {
            #expect(all.contains(name), "\(name)")
        }
    }

    @Test func vsctlTransactionBuildsNeutronsBridgesAndPorts() {
        let argv = config.vsctlArguments(for: plan.computeNode)
        #expect(argv.first == "--no-wait")
        let commands = argv.dropFirst().split(separator: "--").map(Array.init)
        #expect(commands.first == ["init"])
        #expect(commands.contains(["add-br", "br-int"]))
        #expect(commands.contains { $0.starts(with: ["set", "Bridge", "br-int"]) && $0.contains("datapath_type=netdev") && $0.contains("fail_mode=secure") })
        #expect(commands.contains { $0.starts(with: ["set", "Interface", "vxlan-c6120002"]) && $0.contains("options:remote_ip=198.18.0.2") && $0.contains("options:local_ip=198.18.0.1") && $0.contains("options:in_key=flow") })
        #expect(commands.contains(["add-port", "br-phy", "eth1"]))
        let vm = plan.instances[0]
        #expect(commands.contains(["add-port", "br-int", vm.ovsPort, "tag=1"]))
        #expect(commands.contains(["set", "Interface", vm.ovsPort, "external_ids:iface-id=\(vm.portID)", "external_ids:iface-status=active",
                                   "external_ids:attached-mac=\"\(vm.mac)\"", "external_ids:vm-uuid=\(vm.vmID)"]))
        let network = config.vsctlArguments(for: plan.networkNode).split(separator: "--").map(Array.init)
        #expect(network.contains(["add-port", "br-int", plan.dhcp.bridgePort, "tag=2"]))
        #expect(network.contains(["add-port", "br-ex", plan.router.gatewayPort.bridgePort]))
        #expect(network.contains(["add-port", "br-ex", "eth2"]))
    }

    @Test func tunnelFlowsTranslateBetweenTunnelIDAndEachNodesLocalVLAN() {
        let compute = config.tunnelFlows(for: plan.computeNode)
        let network = config.tunnelFlows(for: plan.networkNode)
        #expect(compute.contains("table=4,priority=1,tun_id=0x3e9,actions=mod_vlan_vid:1,resubmit(,10)"))
        #expect(network.contains("table=4,priority=1,tun_id=0x3e9,actions=mod_vlan_vid:2,resubmit(,10)"))
        #expect(compute.contains("table=22,priority=1,dl_vlan=1,actions=strip_vlan,load:0x3e9->NXM_NX_TUN_ID[],output:2"))
        #expect(compute.contains("table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,"))
        for table in [0, 2, 3, 4, 6, 10, 20, 22] { #expect(compute.contains("table=\(table),"), "table \(table)") }
        #expect(compute.hasPrefix("cookie=0x"))
        #expect(compute.contains(config.tunnelIDFlow(for: plan.computeNode)))
    }

    @Test func integrationFlowsDropTheDeadVLANAndProtectInstancePorts() {
        let flows = config.integrationFlows(for: plan.computeNode)
        #expect(flows.contains("table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop"))
        #expect(flows.contains("table=60,priority=3,actions=NORMAL"))
        let vm = plan.instances[0]
        #expect(flows.contains("table=24,priority=2,arp,in_port=\(vm.ovsPort),arp_spa=\(vm.address),actions=resubmit(,25)"))
        #expect(flows.contains("table=25,priority=2,in_port=\(vm.ovsPort),dl_src=\(vm.mac),actions=resubmit(,60)"))
        #expect(!config.integrationFlows(for: plan.networkNode).contains("table=25,priority=2"))
    }

    @Test func securityGroupRulesDeclareEveryChainTheyUse() {
        for ruleset in [config.computeIptables, config.routerIptables] {
            var declared = Set(["ACCEPT", "DROP", "RETURN", "CT", "DNAT", "SNAT", "MARK", "CONNMARK", "REDIRECT"])
            for line in ruleset.split(separator: "\n") where line.hasPrefix(":") {
                declared.insert(String(line.dropFirst().split(separator: " ")[0]))
            }
            for line in ruleset.split(separator: "\n") where line.hasPrefix("-A ") {
                let words = line.split(separator: " ").map(String.init)
                #expect(declared.contains(words[1]), "chain \(words[1]) used before it is declared")
                if let j = words.firstIndex(of: "-j") { #expect(declared.contains(words[j + 1]), "target \(words[j + 1])") }
                #expect(words[1].count < 29)
            }
            let lines = ruleset.split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("*") }.count == lines.filter { $0 == "COMMIT" }.count)
        }
    }

    @Test func securityGroupRulesCarryNeutronsComments() {
        let r = config.computeIptables
        let vm = plan.instances[0]
        #expect(r.contains("-A neutron-openvswi-FORWARD -m physdev --physdev-out \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Direct traffic from the VM interface to the security group chain.\" -j neutron-openvswi-sg-chain"))
        #expect(r.contains("-A neutron-openvswi-sg-chain -m physdev --physdev-in \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j \(vm.egressChain)"))
        #expect(r.contains("-A \(vm.ingressChain) -p tcp -m tcp --dport 22 -j RETURN"))
        #expect(r.contains("-A \(vm.ingressChain) -m set --match-set \(plan.network.securityGroupIPSet) src -j RETURN"))
        #expect(r.contains("-A \(vm.spoofChain) -s 10.0.0.11/32 -m mac --mac-source \(vm.mac.description.uppercased()) -m comment --comment \"Allow traffic from defined IP/MAC pairs.\" -j RETURN"))
        #expect(r.contains("-A neutron-openvswi-sg-fallback -m comment --comment \"Default drop rule for unmatched traffic.\" -j DROP"))
        #expect(r.contains("-j CT --zone 4097"))
        for rule in config.dhcpIngressRules(vm) { #expect(r.contains("-A \(vm.ingressChain) \(rule)")) }
        #expect(r.contains("-A \(vm.ingressChain) \(config.icmpIngressRule)"))
        #expect(config.securityGroupIPSet.contains("add \(plan.network.securityGroupIPSet) 10.0.0.12"))
    }

    @Test func routerHasSNATAndTheFloatingIPsNAT() {
        let r = config.routerIptables
        let qg = plan.router.gatewayPort.name
        #expect(r.contains("-A neutron-l3-agent-PREROUTING -d 203.0.113.20/32 -j DNAT --to-destination 10.0.0.11"))
        #expect(r.contains("-A neutron-l3-agent-float-snat -s 10.0.0.11/32 -j SNAT --to-source 203.0.113.20 --random-fully"))
        #expect(r.contains("-A neutron-l3-agent-snat -o \(qg) -j SNAT --to-source 203.0.113.10 --random-fully"))
        #expect(r.contains("-A neutron-postrouting-bottom -m comment --comment \"Perform source NAT on outgoing traffic.\" -j neutron-l3-agent-snat"))
        for rule in config.subnetSNATRules { #expect(r.contains("-A neutron-l3-agent-snat \(rule)")) }
        #expect(r.contains("-A neutron-l3-agent-PREROUTING \(config.floatingIPDNATRule)"))
    }

    @Test func dnsmasqLooksLikeTheDHCPAgents() {
        let argv = config.dhcpServerArguments
        #expect(argv.first == "dnsmasq")
        for option in ["--no-hosts", "--no-resolv", "--bind-dynamic", "--interface=\(plan.dhcp.interface)",
                       "--dhcp-hostsfile=\(plan.dhcp.directory)/host", "--dhcp-leasefile=\(plan.dhcp.directory)/leases",
                       "--dhcp-optsfile=\(plan.dhcp.directory)/opts", "--dhcp-option-force=option:mtu,1450",
                       "--server=198.51.100.53", "--domain=openstacklocal",
                       "--dhcp-range=set:subnet-\(plan.network.subnetID),10.0.0.0,static,255.255.255.0,86400s"] {
            #expect(argv.contains(option), "\(option)")
        }
        let hosts = config.dhcpHostsFile()
        for vm in plan.instances { #expect(hosts.contains("\(vm.mac),host-\(vm.address.description.replacingOccurrences(of: ".", with: "-")).openstacklocal,\(vm.address)")) }
        #expect(!config.dhcpHostsFile(omitting: ["vm1"]).contains(plan.instances[0].mac.description))
        #expect(config.dhcpHostsFile(omitting: ["vm1"]).contains(plan.instances[1].mac.description))
        #expect(config.dhcpOptionsFile == "tag:subnet-\(plan.network.subnetID),option:router,10.0.0.1\n")
        #expect(config.upstreamDNSHosts.contains("198.51.100.80\tmirror.example.org"))
        #expect(config.upstreamDNSArguments.contains("--listen-address=198.51.100.53"))
    }
}

@Suite struct LabFaultTableTests {
    @Test func theIssuesFaultsAreAllThere() {
        let names = Set(LabFaults.all.map(\.name))
        #expect(names.count == LabFaults.all.count, "fault names are unique")
        for required in ["tap-down", "underlay-mtu", "dead-vlan", "tunnel-flow-missing", "dnsmasq-stopped", "dhcp-host-missing",
                         "sg-drops-dhcp", "sg-drops-icmp", "router-no-default-route", "router-no-snat", "router-ip-forward-off",
                         "upstream-dns-down", "br-netfilter-off"] {
            #expect(names.contains(required), "\(required)")
        }
    }

    @Test(arguments: LabFaults.all.map(\.name))
    func everyFaultBreaksSomethingButNotEverything(name: String) throws {
        let plan = try LabPlan(prefix: "hst")
        let fault = try #require(LabFaults.named(name))
        let expected = fault.expectedFailures(in: plan)
        #expect(!expected.isEmpty)
        #expect(expected.count < LabChecks.all(for: plan).count)
        #expect(!fault.summary.isEmpty && !fault.summary.contains("\n"))
    }

    @Test func expectationsFollowWhatEachCheckNeeds() throws {
        let plan = try LabPlan(prefix: "hst")
        #expect(LabFaults.named("br-netfilter-off")!.expectedFailures(in: plan) == ["sg-blocks"])
        #expect(LabFaults.named("underlay-mtu")!.expectedFailures(in: plan) == ["mtu"])
        #expect(LabFaults.named("dhcp-host-missing")!.expectedFailures(in: plan) == ["dhcp:vm1"])
        #expect(LabFaults.named("router-no-snat")!.expectedFailures(in: plan) == ["snat", "dns-upstream", "snat:tapvm1"])
        #expect(LabFaults.named("tap-down")!.expectedFailures(in: plan) == ["dhcp:vm1", "east-west", "fip-egress", "fip-ping", "fip-ssh"])
        // With one instance it carries the floating IP, so its egress does not need the subnet SNAT.
        let single = try LabPlan(prefix: "hst", instances: 1)
        #expect(LabFaults.named("router-no-snat")!.expectedFailures(in: single) == ["dns-upstream", "snat:tapvm1"])
        #expect(!LabChecks.all(for: single).contains { $0.id == "east-west" })
    }

    @Test func tapInstancesArePluggedLikeTheOthersWithARealTap() throws {
        let plan = try LabPlan(prefix: "hst", instances: 2)
        let config = LabConfiguration(plan: plan)
        let vm = try #require(plan.tapInstances.first)
        let links = config.namespaceAndLinkBatch
        #expect(!links.contains("link add \(vm.tapDevice) "), "the tap is not a veth: ip tuntap creates it in compute1")
        #expect(links.contains("link add \(vm.linuxBridge) netns hst-compute1 mtu 1450 type bridge"))
        #expect(links.contains("link add \(vm.bridgeVeth) netns hst-compute1 mtu 1450 type veth peer name \(vm.ovsPort) netns hst-compute1"))
        // Created before the interface batches (which plug it, and run next to the offload changes).
        #expect(config.tapDeviceBatch == "tuntap add dev \(vm.tapDevice) mode tap\nlink set \(vm.tapDevice) address \(vm.tapMAC) mtu 1450\n")
        let compute = try #require(config.interfaceBatches.first { $0.namespace == "hst-compute1" }).batch
        #expect(compute.contains("link set \(vm.tapDevice) master \(vm.linuxBridge)") && !compute.contains("tuntap"))
        #expect(config.checksumOffloadInterfaces.contains { $0.namespace == "hst-compute1" && $0.interfaces.contains(vm.bridgeVeth) })

        let commands = config.vsctlArguments(for: plan.computeNode).split(separator: "--").map(Array.init)
        #expect(commands.contains(["add-port", "br-int", vm.ovsPort, "tag=1"]))
        #expect(commands.contains(["set", "Interface", vm.ovsPort, "external_ids:iface-id=\(vm.portID)", "external_ids:iface-status=active",
                                   "external_ids:attached-mac=\"\(vm.mac)\"", "external_ids:vm-uuid=\(vm.vmID)"]))
        #expect(config.integrationFlows(for: plan.computeNode).contains("arp,in_port=\(vm.ovsPort),arp_spa=\(vm.address),actions=resubmit(,25)"))
        let rules = config.computeIptables
        #expect(rules.contains("-A \(vm.spoofChain) -s \(vm.address)/32 -m mac --mac-source \(vm.mac.description.uppercased())"))
        #expect(rules.contains("--physdev-out \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j \(vm.ingressChain)"))
        #expect(rules.contains("-A neutron-openvswi-PREROUTING -m physdev --physdev-in \(vm.tapDevice)"))
        #expect(config.securityGroupIPSet.contains("add \(plan.network.securityGroupIPSet) \(vm.address)"))
        #expect(config.dhcpHostsFile().contains("\(vm.mac),host-10-0-0-31.openstacklocal,10.0.0.31"))
        #expect(!config.dhcpHostsFile(omitting: [vm.name]).contains("\(vm.mac)"))
        #expect(config.dhcpAdditionalHostsFile.contains("10.0.0.31\thost-10-0-0-31.openstacklocal"))

        let guest = config.tapGuestConfiguration(vm)
        #expect(guest.tapDevice == vm.tapDevice && guest.identity.mac == vm.mac && guest.directory == vm.directory)
        for allowed in ["10.0.0.1", "203.0.113.1", "198.51.100.53", "198.51.100.80"] {
            #expect(guest.allowedTargets.contains { $0.contains(IPAddress(allowed)!) }, "\(allowed)")
        }
        #expect(!guest.allowedTargets.contains { $0.contains(IPAddress("8.8.8.8")!) || $0.contains(IPAddress("198.51.100.99")!) })
    }

    @Test func tapInstanceChecksAndWhatBreaksThem() throws {
        let plan = try LabPlan(prefix: "hst", instances: 2)
        let ids = LabChecks.all(for: plan).map(\.id)
        for id in ["dhcp:tapvm1", "ping:tapvm1", "snat:tapvm1"] { #expect(ids.contains(id)) }
        let tapDown = try #require(LabFaults.named("tap-down"))
        #expect(try tapDown.expectedFailures(in: plan, instance: "tapvm1") == ["dhcp:tapvm1", "ping:tapvm1", "snat:tapvm1"])
        #expect(try LabFaults.named("sg-drops-icmp")!.expectedFailures(in: plan, instance: "tapvm1") == ["ping:tapvm1"])
        #expect(try LabFaults.named("dhcp-host-missing")!.expectedFailures(in: plan, instance: "tapvm1") == ["dhcp:tapvm1"])
        #expect(try LabFaults.named("sg-drops-dhcp")!.expectedFailures(in: plan, instance: "vm2") == ["dhcp:vm2"])
        #expect(try tapDown.expectedFailures(in: plan, instance: nil) == tapDown.expectedFailures(in: plan))
        #expect(tapDown.summary(instance: "tapvm1") == "tapvm1's tap device on the compute node is administratively down")
        #expect(tapDown.summary.hasPrefix("vm1's"))
        // Lab-wide faults take no instance, namespace-only faults no tap instance, and names must exist.
        #expect(throws: LabError.self) { try LabFaults.named("router-no-snat")!.scope(in: plan, instance: "tapvm1") }
        #expect(throws: LabError.self) { try LabFaults.named("instance-no-default-route")!.scope(in: plan, instance: "tapvm1") }
        #expect(throws: LabError.unknownInstance("vm9", known: ["vm1", "vm2", "tapvm1"])) { try tapDown.scope(in: plan, instance: "vm9") }
        #expect(try LabFaults.named("instance-no-default-route")!.scope(in: plan, instance: nil).instance.name == "vm2")
        // Applications aimed elsewhere than the default are recorded NAME@INSTANCE.
        #expect(Lab.record(tapDown, try tapDown.scope(in: plan, instance: "tapvm1")).description == "tap-down@tapvm1")
        #expect(Lab.record(tapDown, try tapDown.scope(in: plan, instance: "vm1")).description == "tap-down")
        #expect(LabAppliedFault(record: "tap-down@tapvm1") == LabAppliedFault(fault: "tap-down", instance: "tapvm1"))
        #expect(LabAppliedFault(record: "dead-vlan") == LabAppliedFault(fault: "dead-vlan", instance: nil))
    }

    @Test func ruleSpecsSplitIntoArgumentsKeepingComments() {
        #expect(LabFaults.ruleArguments("-p udp -m comment --comment \"Allow DHCP client traffic.\" -j RETURN")
                == ["-p", "udp", "-m", "comment", "--comment", "Allow DHCP client traffic.", "-j", "RETURN"])
    }
}
