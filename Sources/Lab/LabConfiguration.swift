import Foundation
import HopscopeModel

/// The texts and argument vectors that build a lab from its plan: `ip -batch` input, the
/// `ovs-vsctl` transaction and flow files of each node, iptables-restore and ipset input, dnsmasq
/// files and command lines, and the instances' DHCP client script.
///
/// Pure functions of the plan, so the whole configuration is unit-tested without root and the
/// live lab is built by handing these texts to the real tools in a few batched calls.
public struct LabConfiguration: Sendable {
    public let plan: LabPlan
    public init(plan: LabPlan) { self.plan = plan }

    // MARK: Namespaces and links

    /// One `ip -batch` input, run in the caller's namespace, that creates every namespace and
    /// every veth pair and Linux bridge directly inside its namespace (nothing ever appears in
    /// the root namespace, so several labs never collide).
    public var namespaceAndLinkBatch: String {
        let p = plan
        let c = p.computeNode, n = p.networkNode
        let mtu = p.network.mtu
        var lines = p.namespaces.map { "netns add \($0)" }
        lines.append("link add \(c.underlayInterface) netns \(c.namespace) type veth peer name \(n.underlayInterface) netns \(n.namespace)")
        lines.append("link add \(n.externalInterface!) netns \(n.namespace) type veth peer name \(p.external.interface) netns \(p.external.namespace)")
        for vm in p.instances {
            lines.append("link add \(vm.tapDevice) netns \(c.namespace) address \(vm.tapMAC) mtu \(mtu) type veth peer name \(vm.interface) netns \(vm.namespace) address \(vm.mac)")
        }
        // Tap instances get their tap device from `ip tuntap` in the compute node's batch.
        for vm in p.instancePorts {
            lines.append("link add \(vm.linuxBridge) netns \(c.namespace) mtu \(mtu) type bridge forward_delay 0 stp_state 0")
            lines.append(instanceVethLine(vm))
        }
        let d = p.dhcp
        lines.append("link add \(d.bridgePort) netns \(n.namespace) mtu \(mtu) type veth peer name \(d.interface) netns \(d.namespace) address \(d.mac) mtu \(mtu)")
        let qr = p.router.internalPort, qg = p.router.gatewayPort
        lines.append("link add \(qr.bridgePort) netns \(n.namespace) mtu \(mtu) type veth peer name \(qr.name) netns \(p.router.namespace) address \(qr.mac) mtu \(mtu)")
        lines.append("link add \(qg.bridgePort) netns \(n.namespace) type veth peer name \(qg.name) netns \(p.router.namespace) address \(qg.mac)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `ip -batch` input, run inside the compute node right after `namespaceAndLinkBatch`, that
    /// creates the tap instances' tap devices: persistent taps, as libvirt creates one for a
    /// guest, which the guest processes attach to later. (`ip tuntap` has no `netns` argument,
    /// so this cannot be part of the first batch.) Empty without tap instances.
    public var tapDeviceBatch: String {
        plan.tapInstances.map {
            "tuntap add dev \($0.tapDevice) mode tap\nlink set \($0.tapDevice) address \($0.tapMAC) mtu \(plan.network.mtu)\n"
        }.joined()
    }

    /// The `ip -batch` line that creates an instance's qvb/qvo veth pair on the compute node.
    func instanceVethLine(_ vm: some LabInstancePort) -> String {
        let c = plan.computeNode.namespace, mtu = plan.network.mtu
        return "link add \(vm.bridgeVeth) netns \(c) mtu \(mtu) type veth peer name \(vm.ovsPort) netns \(c) mtu \(mtu)"
    }

    /// Per-namespace `ip -batch` input applied before Open vSwitch starts: links up, bridge
    /// membership, addresses and routes. Keyed by namespace.
    public var interfaceBatches: [(namespace: String, batch: String)] {
        let p = plan
        let c = p.computeNode, n = p.networkNode
        var compute = ["link set lo up", "link set \(c.underlayInterface) up"]
        for vm in p.instancePorts {
            compute += [
                "link set \(vm.linuxBridge) up",
                "link set \(vm.tapDevice) master \(vm.linuxBridge)",
                "link set \(vm.bridgeVeth) master \(vm.linuxBridge)",
                "link set \(vm.tapDevice) up",
                "link set \(vm.bridgeVeth) up",
                "link set \(vm.ovsPort) up",
            ]
        }
        let network = ["link set lo up", "link set \(n.underlayInterface) up", "link set \(n.externalInterface!) up",
                       "link set \(p.dhcp.bridgePort) up", "link set \(p.router.internalPort.bridgePort) up",
                       "link set \(p.router.gatewayPort.bridgePort) up"]
        var result: [(String, String)] = [(c.namespace, compute.joined(separator: "\n")), (n.namespace, network.joined(separator: "\n"))]
        for vm in p.instances {
            // No address: the instance asks for one by DHCP once the lab is wired.
            result.append((vm.namespace, "link set lo up\nlink set \(vm.interface) up"))
        }
        let d = p.dhcp
        result.append((d.namespace, [
            "link set lo up", "link set \(d.interface) up",
            "addr add \(d.address)/\(p.network.cidr.length) dev \(d.interface)",
            // The DHCP agent gives the namespace a default route via the subnet gateway, which
            // is how dnsmasq reaches its upstream server.
            "route add default via \(p.network.gateway) dev \(d.interface)",
        ].joined(separator: "\n")))
        let r = p.router
        result.append((r.namespace, [
            "link set lo up", "link set \(r.internalPort.name) up", "link set \(r.gatewayPort.name) up",
            "addr add \(r.internalPort.address) dev \(r.internalPort.name)",
            "addr add \(r.gatewayPort.address) dev \(r.gatewayPort.name)",
            // The legacy L3 agent puts each floating IP on qg- as a /32 so the router answers ARP for it.
            "addr add \(r.floatingIP.address)/32 dev \(r.gatewayPort.name)",
            defaultRouteLine,
        ].joined(separator: "\n")))
        let e = p.external
        result.append((e.namespace, [
            "link set lo up", "link set \(e.interface) up",
            "addr add \(e.gateway)/\(e.cidr.length) dev \(e.interface)",
            "addr add \(e.dnsServer)/32 dev lo",
            "addr add \(e.internetClient)/32 dev lo",
        ].joined(separator: "\n")))
        return result
    }

    /// The router's default route, as an `ip route` command without the leading `route`.
    var defaultRouteLine: String {
        "route replace default via \(plan.router.defaultGateway) dev \(plan.router.gatewayPort.name)"
    }

    /// Per-node `ip -batch` input applied once ovs-vswitchd has created `br-phy`: the tunnel
    /// endpoint address.
    public func underlayBatch(for node: LabNode) -> String {
        "addr add \(node.underlayAddress)/\(plan.underlay.length) dev \(node.underlayBridge)\nlink set \(node.underlayBridge) up\n"
    }

    /// Every veth end of the lab, by namespace: each gets `ethtool -K IF tx off`, because frames
    /// crossing the OVS userspace datapath keep unfinished checksums otherwise (LAB-NOTES).
    public var checksumOffloadInterfaces: [(namespace: String, interfaces: [String])] {
        let p = plan
        let c = p.computeNode, n = p.networkNode
        var result: [(String, [String])] = [
            (c.namespace, [c.underlayInterface] + p.instancePorts.flatMap { [$0.tapDevice, $0.bridgeVeth, $0.ovsPort] }),
            (n.namespace, [n.underlayInterface, n.externalInterface!, p.dhcp.bridgePort,
                           p.router.internalPort.bridgePort, p.router.gatewayPort.bridgePort]),
        ]
        result += p.instances.map { ($0.namespace, [$0.interface]) }
        result.append((p.dhcp.namespace, [p.dhcp.interface]))
        result.append((p.router.namespace, [p.router.internalPort.name, p.router.gatewayPort.name]))
        result.append((p.external.namespace, [p.external.interface]))
        return result
    }

    /// Kernel settings by namespace (`net.x.y` keys): br_netfilter on the compute node, so the
    /// hybrid firewall sees bridged frames, and forwarding in the router.
    public var sysctls: [(namespace: String, key: String, value: String)] {
        [
            (plan.computeNode.namespace, "net.bridge.bridge-nf-call-iptables", "1"),
            (plan.computeNode.namespace, "net.bridge.bridge-nf-call-ip6tables", "1"),
            (plan.router.namespace, "net.ipv4.ip_forward", "1"),
        ]
    }

    // MARK: Open vSwitch

    /// The single `ovs-vsctl --no-wait` transaction (commands joined by `--`) that creates a
    /// node's bridges and ports before ovs-vswitchd starts, as the OVS agent, os-vif and the
    /// DHCP/L3 agents would have left them.
    public func vsctlArguments(for node: LabNode) -> [String] {
        let p = plan
        let protocols = "protocols=OpenFlow10,OpenFlow13,OpenFlow14"
        var cmds: [[String]] = [
            ["init"],
            ["set", "Open_vSwitch", ".", "external_ids:system-id=\(node.name)", "external_ids:hostname=\(node.name)"],
            ["add-br", node.integrationBridge],
            ["set", "Bridge", node.integrationBridge, "datapath_type=netdev", "fail_mode=secure", protocols,
             "other_config:mac-table-size=50000"],
            ["add-port", node.integrationBridge, node.integrationPatchPort],
            ["set", "Interface", node.integrationPatchPort, "type=patch", "options:peer=\(node.tunnelPatchPort)",
             "ofport_request=\(node.integrationPatchOFPort)"],
            ["add-br", node.tunnelBridge],
            ["set", "Bridge", node.tunnelBridge, "datapath_type=netdev", "fail_mode=secure", protocols],
            ["add-port", node.tunnelBridge, node.tunnelPatchPort],
            ["set", "Interface", node.tunnelPatchPort, "type=patch", "options:peer=\(node.integrationPatchPort)",
             "ofport_request=\(node.tunnelPatchOFPort)"],
            ["add-port", node.tunnelBridge, node.vxlanPort],
            ["set", "Interface", node.vxlanPort, "type=vxlan", "ofport_request=\(node.vxlanOFPort)",
             "options:remote_ip=\(node.vxlanRemote)", "options:local_ip=\(node.underlayAddress)",
             "options:in_key=flow", "options:out_key=flow", "options:df_default=true",
             "options:egress_pkt_mark=0", "options:dst_port=4789"],
            ["add-br", node.underlayBridge],
            ["set", "Bridge", node.underlayBridge, "datapath_type=netdev"],
            ["add-port", node.underlayBridge, node.underlayInterface],
        ]
        switch node.role {
        case .compute:
            for vm in p.instancePorts { cmds += instancePortCommands(vm) }
        case .network:
            cmds += agentPortCommands(p.dhcp.bridgePort, node: node, portID: p.dhcp.portID, mac: p.dhcp.mac,
                                      tag: p.dhcp.localVLAN, vmID: nil)
            let qr = p.router.internalPort
            cmds += agentPortCommands(qr.bridgePort, node: node, portID: qr.portID, mac: qr.mac,
                                      tag: qr.localVLAN ?? node.localVLAN, vmID: nil)
            let ex = node.externalBridge!
            let qg = p.router.gatewayPort
            cmds += [
                ["add-br", ex],
                ["set", "Bridge", ex, "datapath_type=netdev"],
                ["add-port", ex, node.externalInterface!],
                ["add-port", ex, qg.bridgePort],
                ["set", "Interface", qg.bridgePort, "external_ids:iface-id=\(qg.portID)", "external_ids:iface-status=active",
                 "external_ids:attached-mac=\"\(qg.mac)\""],
            ]
        }
        return ["--no-wait"] + LabConfiguration.joinedCommands(cmds)
    }

    /// Joins ovs-vsctl commands into one transaction's arguments (`--` between commands).
    static func joinedCommands(_ commands: [[String]]) -> [String] {
        var argv: [String] = []
        for (i, c) in commands.enumerated() {
            if i > 0 { argv.append("--") }
            argv += c
        }
        return argv
    }

    /// The ovs-vsctl commands that plug an instance's qvo into br-int, as os-vif and the OVS
    /// agent leave it: local VLAN tag, the agent's Port other_config, Nova's Interface external_ids.
    public func instancePortCommands(_ vm: some LabInstancePort) -> [[String]] {
        agentPortCommands(vm.ovsPort, node: plan.computeNode, portID: vm.portID, mac: vm.mac, tag: vm.localVLAN, vmID: vm.vmID)
    }

    private func agentPortCommands(_ name: String, node: LabNode, portID: String, mac: MACAddress, tag: UInt16,
                                   vmID: String?) -> [[String]] {
        let n = plan.network
        var ids = ["external_ids:iface-id=\(portID)", "external_ids:iface-status=active", "external_ids:attached-mac=\"\(mac)\""]
        if let vmID { ids.append("external_ids:vm-uuid=\(vmID)") }
        return [
            ["add-port", node.integrationBridge, name, "tag=\(tag)"],
            ["set", "Port", name, "other_config:net_uuid=\(n.id)", "other_config:network_type=vxlan",
             "other_config:physical_network=None", "other_config:segmentation_id=\(n.segmentationID)", "other_config:tag=\(tag)"],
            ["set", "Interface", name] + ids,
        ]
    }

    /// br-int flows as the OVS agent (openflow native) installs them with the hybrid firewall:
    /// dead-VLAN drop, ARP/ND/MAC anti-spoofing for instance ports (tables 24, 25), canary table
    /// 23, and NORMAL switching in table 60.
    public func integrationFlows(for node: LabNode) -> String {
        let ck = cookie(node.agentCookie)
        var flows = ["\(ck),table=0,priority=65535,vlan_tci=0x0fff/0x1fff,actions=drop"]
        if node.role == .compute {
            for vm in plan.instancePorts {
                let ll = NeutronNames.linkLocalIPv6(for: vm.mac)
                flows += [
                    "\(ck),table=0,priority=10,icmp6,in_port=\(vm.ovsPort),icmp_type=136,actions=resubmit(,24)",
                    "\(ck),table=0,priority=10,arp,in_port=\(vm.ovsPort),actions=resubmit(,24)",
                    "\(ck),table=0,priority=9,in_port=\(vm.ovsPort),actions=resubmit(,25)",
                    "\(ck),table=24,priority=2,icmp6,in_port=\(vm.ovsPort),icmp_type=136,nd_target=\(ll),actions=resubmit(,60)",
                    "\(ck),table=24,priority=2,arp,in_port=\(vm.ovsPort),arp_spa=\(vm.address),actions=resubmit(,25)",
                    "\(ck),table=25,priority=2,in_port=\(vm.ovsPort),dl_src=\(vm.mac),actions=resubmit(,60)",
                ]
            }
        }
        flows += [
            "\(ck),table=0,priority=0,actions=resubmit(,60)",
            "\(ck),table=23,priority=0,actions=drop",
            "\(ck),table=24,priority=0,actions=drop",
            "\(ck),table=60,priority=3,actions=NORMAL",
        ]
        return flows.joined(separator: "\n") + "\n"
    }

    /// br-tun flows as the OVS agent installs them without l2population: table 0 classifies by
    /// in_port, 2 splits unicast/flood, 4 maps tunnel id to local VLAN, 10 learns the way back
    /// into table 20, 20 unicasts (learned), 22 floods to every tunnel with the tunnel id set.
    public func tunnelFlows(for node: LabNode) -> String {
        let ck = cookie(node.tunnelCookie)
        let flows = [
            "\(ck),table=0,priority=1,in_port=\(node.tunnelPatchOFPort),actions=resubmit(,2)",
            "\(ck),table=0,priority=1,in_port=\(node.vxlanOFPort),actions=resubmit(,4)",
            "\(ck),table=0,priority=0,actions=drop",
            "\(ck),table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
            "\(ck),table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
            "\(ck),table=3,priority=0,actions=drop",
            tunnelIDFlow(for: node),
            "\(ck),table=4,priority=0,actions=drop",
            "\(ck),table=6,priority=0,actions=drop",
            "\(ck),table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,\(ck),NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:\(node.tunnelPatchOFPort)",
            "\(ck),table=20,priority=0,actions=resubmit(,22)",
            "\(ck),table=22,priority=1,dl_vlan=\(node.localVLAN),actions=strip_vlan,load:\(hex(plan.network.segmentationID))->NXM_NX_TUN_ID[],output:\(node.vxlanOFPort)",
            "\(ck),table=22,priority=0,actions=drop",
        ]
        return flows.joined(separator: "\n") + "\n"
    }

    /// The table-4 flow that maps the network's tunnel id to the node's local VLAN.
    public func tunnelIDFlow(for node: LabNode) -> String {
        "\(cookie(node.tunnelCookie)),table=4,priority=1,tun_id=\(hex(plan.network.segmentationID)),actions=mod_vlan_vid:\(node.localVLAN),resubmit(,10)"
    }

    /// The match of `tunnelIDFlow` (for `ovs-ofctl --strict del-flows`).
    public func tunnelIDFlowMatch(for node: LabNode) -> String {
        "table=4,priority=1,tun_id=\(hex(plan.network.segmentationID))"
    }

    /// The drop flow the OVS agent adds when it puts a port on the dead VLAN (`port_dead`).
    public func deadPortFlow(for vm: some LabInstancePort) -> String {
        "\(cookie(plan.computeNode.agentCookie)),table=0,priority=2,in_port=\(vm.ovsPort),actions=drop"
    }

    private func cookie(_ c: UInt64) -> String { "cookie=\(hex(c))" }
    private func hex<T: BinaryInteger>(_ v: T) -> String { "0x" + String(v, radix: 16) }

    // MARK: Security groups (compute node)

    /// ipset input for the default security group's member set (remote-group rule).
    public var securityGroupIPSet: String {
        let set = plan.network.securityGroupIPSet
        var lines = ["create \(set) hash:net family inet hashsize 1024 maxelem 65536"]
        lines += plan.instancePorts.map { "add \(set) \($0.address)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// iptables-restore input (raw and filter tables) with the hybrid firewall's chains exactly
    /// as Neutron names and comments them, for the default security group plus SSH and ICMP.
    public var computeIptables: String {
        let sg = NeutronNames.securityGroupChainPrefix
        var raw = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                   ":\(sg)OUTPUT - [0:0]", ":\(sg)PREROUTING - [0:0]",
                   "-A PREROUTING -j \(sg)PREROUTING", "-A OUTPUT -j \(sg)OUTPUT"]
        for vm in plan.instancePorts {
            // The agent's comment names the port by its id minus the first four characters.
            let comment = "\"Set zone for \(vm.portID.dropFirst(4))\""
            let zone = plan.network.conntrackZone
            raw += [
                "-A \(sg)PREROUTING -m physdev --physdev-in \(vm.bridgeVeth) -m comment --comment \(comment) -j CT --zone \(zone)",
                "-A \(sg)PREROUTING -i \(vm.bridgeVeth) -m comment --comment \(comment) -j CT --zone \(zone)",
                "-A \(sg)PREROUTING -m physdev --physdev-in \(vm.tapDevice) -m comment --comment \(comment) -j CT --zone \(zone)",
            ]
        }
        raw.append("COMMIT")

        var filter = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                      ":neutron-filter-top - [0:0]", ":\(sg)FORWARD - [0:0]", ":\(sg)INPUT - [0:0]",
                      ":\(sg)OUTPUT - [0:0]", ":\(sg)local - [0:0]", ":\(sg)sg-chain - [0:0]", ":\(sg)sg-fallback - [0:0]"]
        for vm in plan.instancePorts {
            filter += [":\(vm.ingressChain) - [0:0]", ":\(vm.egressChain) - [0:0]", ":\(vm.spoofChain) - [0:0]"]
        }
        filter += ["-A INPUT -j \(sg)INPUT", "-A FORWARD -j neutron-filter-top", "-A FORWARD -j \(sg)FORWARD",
                   "-A OUTPUT -j neutron-filter-top", "-A OUTPUT -j \(sg)OUTPUT", "-A neutron-filter-top -j \(sg)local"]
        let toSG = "-m comment --comment \"Direct traffic from the VM interface to the security group chain.\" -j \(sg)sg-chain"
        for vm in plan.instancePorts {
            filter += [
                "-A \(sg)FORWARD -m physdev --physdev-out \(vm.tapDevice) --physdev-is-bridged \(toSG)",
                "-A \(sg)FORWARD -m physdev --physdev-in \(vm.tapDevice) --physdev-is-bridged \(toSG)",
            ]
        }
        for vm in plan.instancePorts {
            filter.append("-A \(sg)INPUT -m physdev --physdev-in \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Direct incoming traffic from VM to the security group chain.\" -j \(vm.egressChain)")
        }
        let established = "-m state --state RELATED,ESTABLISHED -m comment --comment \"Direct packets associated with a known session to the RETURN chain.\" -j RETURN"
        let invalid = "-m state --state INVALID -m comment --comment \"Drop packets that appear related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in conntrack.\" -j DROP"
        let fallback = "-m comment --comment \"Send unmatched traffic to the fallback chain.\" -j \(sg)sg-fallback"
        for vm in plan.instancePorts {
            let i = vm.ingressChain, o = vm.egressChain, s = vm.spoofChain
            filter.append("-A \(i) \(established)")
            filter += dhcpIngressRules(vm).map { "-A \(i) \($0)" }
            filter.append("-A \(i) -m set --match-set \(plan.network.securityGroupIPSet) src -j RETURN")
            filter.append("-A \(i) \(icmpIngressRule)")
            filter.append("-A \(i) -p tcp -m tcp --dport 22 -j RETURN")
            filter += ["-A \(i) \(invalid)", "-A \(i) \(fallback)"]
            filter += [
                "-A \(o) -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -m comment --comment \"Allow DHCP client traffic.\" -j RETURN",
                "-A \(o) -j \(s)",
                "-A \(o) -p udp -m udp --sport 68 --dport 67 -m comment --comment \"Allow DHCP client traffic.\" -j RETURN",
                "-A \(o) -p udp -m udp --sport 67 --dport 68 -m comment --comment \"Prevent DHCP Spoofing by VM.\" -j DROP",
                "-A \(o) \(established)",
                "-A \(o) -j RETURN",
                "-A \(o) \(invalid)",
                "-A \(o) \(fallback)",
                "-A \(s) -s \(vm.address)/32 -m mac --mac-source \(vm.mac.description.uppercased()) -m comment --comment \"Allow traffic from defined IP/MAC pairs.\" -j RETURN",
                "-A \(s) -m comment --comment \"Drop traffic without an IP/MAC allow rule.\" -j DROP",
            ]
        }
        for vm in plan.instancePorts {
            filter += [
                "-A \(sg)sg-chain -m physdev --physdev-out \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j \(vm.ingressChain)",
                "-A \(sg)sg-chain -m physdev --physdev-in \(vm.tapDevice) --physdev-is-bridged -m comment --comment \"Jump to the VM specific chain.\" -j \(vm.egressChain)",
            ]
        }
        filter += ["-A \(sg)sg-chain -j ACCEPT",
                   "-A \(sg)sg-fallback -m comment --comment \"Default drop rule for unmatched traffic.\" -j DROP",
                   "COMMIT"]
        return (raw + filter).joined(separator: "\n") + "\n"
    }

    /// The ingress rules that let DHCP replies reach `vm` (rule specs without `-A CHAIN`).
    public func dhcpIngressRules(_ vm: some LabInstancePort) -> [String] {
        ["-d \(vm.address)/32 -p udp -m udp --sport 67 --dport 68 -j RETURN",
         "-d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 -j RETURN"]
    }

    /// The ingress rule of the group's "allow ICMP from anywhere" rule.
    public let icmpIngressRule = "-p icmp -j RETURN"

    // MARK: Router (L3 agent, legacy)

    /// iptables-restore input for the router namespace: the L3 agent's raw, nat, mangle and
    /// filter chains with the subnet's SNAT and the floating IP's DNAT/SNAT.
    public var routerIptables: String {
        let l3 = NeutronNames.routerChainPrefix
        let r = plan.router
        let qg = r.gatewayPort.name, qr = r.internalPort.name
        let fip = r.floatingIP
        let raw = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":\(l3)OUTPUT - [0:0]", ":\(l3)PREROUTING - [0:0]",
                   "-A PREROUTING -j \(l3)PREROUTING", "-A OUTPUT -j \(l3)OUTPUT", "COMMIT"]
        var nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
                   ":\(l3)OUTPUT - [0:0]", ":\(l3)POSTROUTING - [0:0]", ":\(l3)PREROUTING - [0:0]", ":\(l3)float-snat - [0:0]",
                   ":\(l3)snat - [0:0]", ":neutron-postrouting-bottom - [0:0]",
                   "-A PREROUTING -j \(l3)PREROUTING", "-A OUTPUT -j \(l3)OUTPUT", "-A POSTROUTING -j \(l3)POSTROUTING",
                   "-A POSTROUTING -j neutron-postrouting-bottom",
                   "-A \(l3)OUTPUT -d \(fip.address)/32 -j DNAT --to-destination \(fip.fixedAddress)",
                   "-A \(l3)POSTROUTING ! -i \(qg) ! -o \(qg) -m conntrack ! --ctstate DNAT -j ACCEPT",
                   "-A \(l3)PREROUTING \(floatingIPDNATRule)",
                   "-A \(l3)float-snat -s \(fip.fixedAddress)/32 -j SNAT --to-source \(fip.address) --random-fully",
                   "-A \(l3)snat -j \(l3)float-snat"]
        nat += subnetSNATRules.map { "-A \(l3)snat \($0)" }
        nat += ["-A neutron-postrouting-bottom -m comment --comment \"Perform source NAT on outgoing traffic.\" -j \(l3)snat", "COMMIT"]
        let mangle = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                      ":POSTROUTING ACCEPT [0:0]", ":\(l3)FORWARD - [0:0]", ":\(l3)INPUT - [0:0]", ":\(l3)OUTPUT - [0:0]",
                      ":\(l3)POSTROUTING - [0:0]", ":\(l3)PREROUTING - [0:0]", ":\(l3)float-snat - [0:0]",
                      ":\(l3)floatingip - [0:0]", ":\(l3)mark - [0:0]", ":\(l3)scope - [0:0]",
                      "-A PREROUTING -j \(l3)PREROUTING", "-A INPUT -j \(l3)INPUT", "-A FORWARD -j \(l3)FORWARD",
                      "-A OUTPUT -j \(l3)OUTPUT", "-A POSTROUTING -j \(l3)POSTROUTING",
                      "-A \(l3)POSTROUTING -o \(qg) -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000",
                      "-A \(l3)PREROUTING -j \(l3)mark", "-A \(l3)PREROUTING -j \(l3)scope",
                      "-A \(l3)PREROUTING -m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark --nfmask 0xffff0000 --ctmask 0xffff0000",
                      "-A \(l3)PREROUTING -j \(l3)floatingip",
                      "-A \(l3)float-snat -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000",
                      "-A \(l3)mark -i \(qg) -j MARK --set-xmark 0x2/0xffff",
                      "-A \(l3)scope -i \(qr) -j MARK --set-xmark 0x4000000/0xffff0000",
                      "-A \(l3)scope -i \(qg) -j MARK --set-xmark 0x4000000/0xffff0000",
                      "COMMIT"]
        let filter = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                      ":neutron-filter-top - [0:0]", ":\(l3)FORWARD - [0:0]", ":\(l3)INPUT - [0:0]", ":\(l3)OUTPUT - [0:0]",
                      ":\(l3)local - [0:0]", ":\(l3)scope - [0:0]",
                      "-A INPUT -j \(l3)INPUT", "-A FORWARD -j neutron-filter-top", "-A FORWARD -j \(l3)FORWARD",
                      "-A OUTPUT -j neutron-filter-top", "-A OUTPUT -j \(l3)OUTPUT", "-A neutron-filter-top -j \(l3)local",
                      "-A \(l3)FORWARD -j \(l3)scope",
                      "-A \(l3)INPUT -m mark --mark 0x1/0xffff -j ACCEPT",
                      "-A \(l3)INPUT -p tcp -m tcp --dport 9697 -j DROP",
                      "-A \(l3)scope -o \(qr) -m mark ! --mark 0x4000000/0xffff0000 -j DROP",
                      "COMMIT"]
        return (raw + nat + mangle + filter).joined(separator: "\n") + "\n"
    }

    /// The floating IP's DNAT rule in `neutron-l3-agent-PREROUTING` (without `-A CHAIN`).
    public var floatingIPDNATRule: String {
        "-d \(plan.router.floatingIP.address)/32 -j DNAT --to-destination \(plan.router.floatingIP.fixedAddress)"
    }

    /// The subnet's SNAT rules in `neutron-l3-agent-snat` (without `-A CHAIN`).
    public var subnetSNATRules: [String] {
        let qg = plan.router.gatewayPort.name
        let ext = plan.router.gatewayPort.address.address
        return ["-o \(qg) -j SNAT --to-source \(ext) --random-fully",
                "-m mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT -j SNAT --to-source \(ext) --random-fully"]
    }

    // MARK: dnsmasq (DHCP agent) and the upstream DNS server

    /// dnsmasq's `--dhcp-hostsfile` as the DHCP agent writes it: one line per port with an
    /// address, optionally leaving out instances (a fault).
    public func dhcpHostsFile(omitting omitted: Set<String> = []) -> String {
        let domain = plan.network.dnsDomain
        var lines: [String] = []
        for vm in plan.instancePorts where !omitted.contains(vm.name) {
            lines.append("\(vm.mac),\(NeutronNames.hostName(for: vm.address)).\(domain),\(vm.address)")
        }
        lines.append("\(plan.dhcp.mac),\(NeutronNames.hostName(for: plan.dhcp.address)).\(domain),\(plan.dhcp.address)")
        let qr = plan.router.internalPort
        lines.append("\(qr.mac),\(NeutronNames.hostName(for: plan.network.gateway)).\(domain),\(plan.network.gateway)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// dnsmasq's `--addn-hosts`: the DNS names of every port.
    public var dhcpAdditionalHostsFile: String {
        let domain = plan.network.dnsDomain
        let addresses = plan.instancePorts.map(\.address) + [plan.dhcp.address, plan.network.gateway]
        return addresses.map { a in
            let h = NeutronNames.hostName(for: a)
            return "\(a)\t\(h).\(domain) \(h)"
        }.joined(separator: "\n") + "\n"
    }

    /// dnsmasq's `--dhcp-optsfile`: the router option for the subnet.
    public var dhcpOptionsFile: String {
        "tag:subnet-\(plan.network.subnetID),option:router,\(plan.network.gateway)\n"
    }

    /// The DHCP agent's dnsmasq command line (run inside the qdhcp namespace).
    public var dhcpServerArguments: [String] {
        let d = plan.dhcp
        let n = plan.network
        return ["dnsmasq", "--no-hosts", "--no-resolv", "--pid-file=\(d.pidFile)", "--dhcp-hostsfile=\(d.hostsFile)",
                "--addn-hosts=\(d.additionalHostsFile)", "--dhcp-optsfile=\(d.optionsFile)",
                "--dhcp-leasefile=\(d.leasesFile)", "--dhcp-match=set:ipxe,175", "--dhcp-userclass=set:ipxe6,iPXE",
                "--local-service", "--bind-dynamic", "--interface=\(d.interface)", "--except-interface=lo",
                "--dhcp-range=set:subnet-\(n.subnetID),\(n.cidr.network),static,\(netmask(n.cidr.length)),86400s",
                "--dhcp-option-force=option:mtu,\(n.mtu)", "--dhcp-lease-max=256", "--conf-file=/dev/null",
                "--server=\(d.upstreamServer)", "--domain=\(n.dnsDomain)"]
    }

    /// The upstream server's directory, hosts file and pid file.
    public var upstreamDNSDirectory: String { "\(plan.stateDirectory)/upstream-dns" }
    public var upstreamDNSHostsFile: String { "\(upstreamDNSDirectory)/hosts" }
    public var upstreamDNSPIDFile: String { plan.external.dnsPIDFile(stateDirectory: plan.stateDirectory) }

    /// The upstream server's hosts file: the names it answers.
    public var upstreamDNSHosts: String {
        plan.external.dnsRecords.map { "\($0.address)\t\($0.name)" }.joined(separator: "\n") + "\n"
    }

    /// The upstream DNS server: a dnsmasq on the "internet" address of the external namespace,
    /// authoritative for example.org (unknown names there get NXDOMAIN).
    public var upstreamDNSArguments: [String] {
        ["dnsmasq", "--no-hosts", "--no-resolv", "--conf-file=/dev/null", "--pid-file=\(upstreamDNSPIDFile)",
         "--addn-hosts=\(upstreamDNSHostsFile)", "--listen-address=\(plan.external.dnsServer)", "--bind-interfaces",
         "--local=/example.org/"]
    }

    private func netmask(_ length: Int) -> IPv4Address {
        IPv4Address(value: length == 0 ? 0 : ~(UInt32.max >> UInt32(length)))
    }

    // MARK: Instances

    /// The `/etc/netns/<namespace>/resolv.conf` of an instance (bind-mounted by `ip netns exec`).
    public func resolvConf(for vm: LabInstance) -> String { "/etc/netns/\(vm.namespace)/resolv.conf" }

    /// What a tap instance's guest process starts from. It may ping only the lab's own
    /// addresses: the tenant and external subnets and the "internet" addresses of the external
    /// namespace (upstream DNS, the client, the names it serves).
    public func tapGuestConfiguration(_ vm: LabTapInstance) -> TapGuestConfiguration {
        let e = plan.external
        let hosts = [e.dnsServer, e.internetClient] + e.dnsRecords.map(\.address)
        let allowed = [plan.network.cidr, e.cidr] + hosts.map { IPPrefix(address: .v4($0), length: 32) }
        return TapGuestConfiguration(name: vm.name, tapDevice: vm.tapDevice,
                                     identity: TapGuestStack.Identity(mac: vm.mac, hostName: vm.hostName),
                                     allowedTargets: allowed, directory: vm.directory)
    }

    /// Where the instances' DHCP client scripts live.
    public var dhcpClientScript: String { "\(plan.stateDirectory)/udhcpc-configure.sh" }
    public var dhcpProbeScript: String { "\(plan.stateDirectory)/udhcpc-probe.sh" }

    /// busybox udhcpc event script that applies a lease the way a cloud image's DHCP client
    /// does: MTU (option 26), address, default route and resolv.conf. Prints the lease.
    public static let dhcpClientScriptText = """
        #!/bin/sh
        # udhcpc event script of the hopscope lab's instances (written by `hopscope lab up`):
        # applies a lease like a cloud image's DHCP client. HOPSCOPE_RESOLV_CONF names the
        # instance's /etc/netns/<namespace>/resolv.conf, which `ip netns exec` bind-mounts.
        case "$1" in
          deconfig)
            ip -4 addr flush dev "$interface"
            ip link set dev "$interface" up
            ;;
          bound|renew)
            [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
            ip -4 addr flush dev "$interface"
            ip -4 addr add "$ip/$mask" dev "$interface"
            for r in $router; do ip -4 route replace default via "$r" dev "$interface"; break; done
            if [ -n "$HOPSCOPE_RESOLV_CONF" ]; then
              { [ -n "$domain" ] && echo "search $domain"; for d in $dns; do echo "nameserver $d"; done; } > "$HOPSCOPE_RESOLV_CONF"
            fi
            echo "lease ip=$ip mask=$mask router=$router dns=$dns mtu=$mtu domain=$domain server=$serverid"
            ;;
        esac
        exit 0

        """

    /// busybox udhcpc event script for probes: prints the lease and changes nothing.
    public static let dhcpProbeScriptText = """
        #!/bin/sh
        # udhcpc event script of `hopscope lab check`: reports the lease, changes nothing.
        [ "$1" = bound ] && echo "lease ip=$ip mask=$mask router=$router dns=$dns mtu=$mtu domain=$domain server=$serverid"
        exit 0

        """
}
