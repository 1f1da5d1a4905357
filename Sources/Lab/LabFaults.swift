import Foundation
import HopscopeModel

/// A named way to break the lab, as it breaks in real clouds, with the way back.
///
/// Faults live in one table (`LabFaults.all`): name, one-line description, what it breaks
/// (dependencies; the checks that need them are expected to fail, and only those), how to
/// apply it and how to repair it. Add a fault by adding a row.
public struct LabFault: Sendable {
    public let name: String
    /// One line, in the operator's words: what is wrong, where.
    public let summary: String
    /// What stops working: the dependencies this fault breaks in `plan`.
    public let breaks: @Sendable (LabPlan) -> Set<LabDependency>
    let apply: @Sendable (LabRuntime) async throws -> Void
    let repair: @Sendable (LabRuntime) async throws -> Void

    /// The ids of the checks this fault is expected to make fail in `plan`.
    public func expectedFailures(in plan: LabPlan) -> Set<String> {
        LabChecks.expectedFailures(of: breaks(plan), in: plan)
    }
}

/// The fault table.
public enum LabFaults {
    /// Looks a fault up by name.
    public static func named(_ name: String) -> LabFault? { all.first { $0.name == name } }

    /// Every fault, in the order `hopscope lab faults` lists them.
    public static let all: [LabFault] = [
        // MARK: The 13 faults of issue 2
        LabFault(
            name: "tap-down",
            summary: "vm1's tap device on the compute node is administratively down",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in try await r.ip(r.plan.computeNode.namespace, ["link", "set", r.plan.floatingIPInstance.tapDevice, "down"], step: "tap-down") },
            repair: { r in try await r.ip(r.plan.computeNode.namespace, ["link", "set", r.plan.floatingIPInstance.tapDevice, "up"], step: "tap-down") }),
        LabFault(
            name: "underlay-mtu",
            summary: "the underlay link between the nodes has MTU 1400: full-size tenant packets no longer fit in VXLAN",
            breaks: { _ in [.largeFrames] },
            apply: { r in try await LabFaults.setUnderlayMTU(r, 1400) },
            repair: { r in try await LabFaults.setUnderlayMTU(r, 1500) }),
        LabFault(
            name: "dead-vlan",
            summary: "vm1's qvo port is on the dead VLAN 4095 with the OVS agent's drop flow (port_dead)",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance, node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=4095"], step: "dead-vlan")
                try await r.ovs(node, "ovs-ofctl", ["add-flow", node.integrationBridge, r.configuration.deadPortFlow(for: vm)], step: "dead-vlan")
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance, node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["--strict", "del-flows", node.integrationBridge, "table=0,priority=2,in_port=\(vm.ovsPort)"], step: "dead-vlan")
                try await r.ovs(node, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=\(vm.localVLAN)"], step: "dead-vlan")
            }),
        LabFault(
            name: "tunnel-flow-missing",
            summary: "compute1's br-tun lacks the table-4 flow mapping the network's tunnel id to its local VLAN",
            breaks: { _ in [.tunnel] },
            apply: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["--strict", "del-flows", node.tunnelBridge, r.configuration.tunnelIDFlowMatch(for: node)], step: "tunnel-flow-missing")
            },
            repair: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["add-flow", node.tunnelBridge, r.configuration.tunnelIDFlow(for: node)], step: "tunnel-flow-missing")
            }),
        LabFault(
            name: "dnsmasq-stopped",
            summary: "the DHCP agent's dnsmasq for the tenant network is not running",
            breaks: { _ in [.dhcpServer] },
            apply: { r in try await r.stopDaemon(.dhcpServer) },
            repair: { r in try await r.startDHCPServer() }),
        LabFault(
            name: "dhcp-host-missing",
            summary: "vm1's MAC address is missing from dnsmasq's DHCP hosts file",
            breaks: { [.dhcpHost($0.floatingIPInstance.name)] },
            apply: { r in try await r.writeDHCPHosts(omitting: [r.plan.floatingIPInstance.name], reload: true) },
            repair: { r in try await r.writeDHCPHosts(omitting: [], reload: true) }),
        LabFault(
            name: "sg-drops-dhcp",
            summary: "vm1's security group chain lacks the rules admitting DHCP replies (they fall to sg-fallback DROP)",
            breaks: { [.dhcpIngress($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                for rule in r.configuration.dhcpIngressRules(vm) {
                    try await r.iptables(r.plan.computeNode.namespace, ["-D", vm.ingressChain] + LabFaults.ruleArguments(rule), step: "sg-drops-dhcp")
                }
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance
                // Inserted right after the RELATED,ESTABLISHED rule, where the agent puts them.
                for rule in r.configuration.dhcpIngressRules(vm).reversed() {
                    try await r.iptables(r.plan.computeNode.namespace, ["-I", vm.ingressChain, "2"] + LabFaults.ruleArguments(rule), step: "sg-drops-dhcp")
                }
            }),
        LabFault(
            name: "sg-drops-icmp",
            summary: "vm1's security group chain lacks the ingress ICMP rule: pings to its floating IP are dropped",
            breaks: { [.icmpIngress($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                try await r.iptables(r.plan.computeNode.namespace, ["-D", vm.ingressChain] + LabFaults.ruleArguments(r.configuration.icmpIngressRule), step: "sg-drops-icmp")
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance
                try await r.iptables(r.plan.computeNode.namespace, ["-I", vm.ingressChain, "2"] + LabFaults.ruleArguments(r.configuration.icmpIngressRule), step: "sg-drops-icmp")
            }),
        LabFault(
            name: "router-no-default-route",
            summary: "the router namespace has no default route: only the external subnet itself is reachable",
            breaks: { _ in [.routerDefaultRoute] },
            apply: { r in try await r.ip(r.plan.router.namespace, ["route", "del", "default"], step: "router-no-default-route") },
            repair: { r in
                try await r.ip(r.plan.router.namespace, r.configuration.defaultRouteLine.split(separator: " ").map(String.init), step: "router-no-default-route")
            }),
        LabFault(
            name: "router-no-snat",
            summary: "the router's neutron-l3-agent-snat chain lacks the subnet's SNAT rules",
            breaks: { _ in [.routerSNAT] },
            apply: { r in
                for rule in r.configuration.subnetSNATRules {
                    try await r.iptables(r.plan.router.namespace, ["-t", "nat", "-D", NeutronNames.routerChainPrefix + "snat"] + LabFaults.ruleArguments(rule), step: "router-no-snat")
                }
                try await r.flushRouterConntrack()
            },
            repair: { r in
                for rule in r.configuration.subnetSNATRules {
                    try await r.iptables(r.plan.router.namespace, ["-t", "nat", "-A", NeutronNames.routerChainPrefix + "snat"] + LabFaults.ruleArguments(rule), step: "router-no-snat")
                }
                try await r.flushRouterConntrack()
            }),
        LabFault(
            name: "router-ip-forward-off",
            summary: "IP forwarding is off in the router namespace (net.ipv4.ip_forward=0)",
            breaks: { _ in [.routerForwarding] },
            apply: { r in try await r.sysctl(r.plan.router.namespace, "net.ipv4.ip_forward", "0") },
            repair: { r in try await r.sysctl(r.plan.router.namespace, "net.ipv4.ip_forward", "1") }),
        LabFault(
            name: "upstream-dns-down",
            summary: "the upstream DNS server dnsmasq forwards to is not running",
            breaks: { _ in [.upstreamDNS] },
            apply: { r in try await r.stopDaemon(.upstreamDNS) },
            repair: { r in try await r.startUpstreamDNS() }),
        LabFault(
            name: "br-netfilter-off",
            summary: "bridged traffic bypasses iptables on compute1 (bridge-nf-call-iptables=0): security groups are silently not applied",
            breaks: { _ in [.securityGroupEnforcement] },
            apply: { r in try await r.sysctl(r.plan.computeNode.namespace, "net.bridge.bridge-nf-call-iptables", "0") },
            repair: { r in try await r.sysctl(r.plan.computeNode.namespace, "net.bridge.bridge-nf-call-iptables", "1") }),

        // MARK: More faults, for more diagnosis codes
        LabFault(
            name: "qr-link-down",
            summary: "the router's qr- interface on the tenant subnet is down",
            breaks: { _ in [.routerInterface] },
            apply: { r in try await r.ip(r.plan.router.namespace, ["link", "set", r.plan.router.internalPort.name, "down"], step: "qr-link-down") },
            repair: { r in try await r.ip(r.plan.router.namespace, ["link", "set", r.plan.router.internalPort.name, "up"], step: "qr-link-down") }),
        LabFault(
            name: "fip-dnat-missing",
            summary: "the router lacks the floating IP's DNAT rule: connections to it end at the router itself",
            breaks: { _ in [.floatingIPDNAT] },
            apply: { r in
                try await r.iptables(r.plan.router.namespace, ["-t", "nat", "-D", NeutronNames.routerChainPrefix + "PREROUTING"] + LabFaults.ruleArguments(r.configuration.floatingIPDNATRule), step: "fip-dnat-missing")
                try await r.flushRouterConntrack()
            },
            repair: { r in
                try await r.iptables(r.plan.router.namespace, ["-t", "nat", "-A", NeutronNames.routerChainPrefix + "PREROUTING"] + LabFaults.ruleArguments(r.configuration.floatingIPDNATRule), step: "fip-dnat-missing")
                try await r.flushRouterConntrack()
            }),
        LabFault(
            name: "tunnel-remote-ip-wrong",
            summary: "compute1's VXLAN port points at a remote_ip (198.18.0.99) where no node lives",
            breaks: { _ in [.tunnel] },
            apply: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Interface", node.vxlanPort, "options:remote_ip=198.18.0.99"], step: "tunnel-remote-ip-wrong")
            },
            repair: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Interface", node.vxlanPort, "options:remote_ip=\(node.vxlanRemote)"], step: "tunnel-remote-ip-wrong")
            }),
        LabFault(
            name: "ovs-tag-mismatch",
            summary: "vm1's qvo port carries VLAN tag 3 on br-int instead of the network's local VLAN",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ovs(r.plan.computeNode, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=3"], step: "ovs-tag-mismatch")
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ovs(r.plan.computeNode, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=\(vm.localVLAN)"], step: "ovs-tag-mismatch")
            }),
        LabFault(
            name: "patch-port-broken",
            summary: "compute1's br-int patch port patch-tun names a peer that does not exist",
            breaks: { _ in [.tunnel] },
            apply: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Interface", node.integrationPatchPort, "options:peer=patch-nowhere"], step: "patch-port-broken")
            },
            repair: { r in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Interface", node.integrationPatchPort, "options:peer=\(node.tunnelPatchPort)"], step: "patch-port-broken")
            }),
        LabFault(
            name: "gateway-unresolved",
            summary: "the provider gateway no longer answers ARP: the router's neighbour entry for it stays unresolved",
            breaks: { _ in [.externalGateway] },
            apply: { r in
                let e = r.plan.external
                try await r.ip(e.namespace, ["addr", "del", "\(e.gateway)/\(e.cidr.length)", "dev", e.interface], step: "gateway-unresolved")
                try await r.ip(r.plan.router.namespace, ["neigh", "flush", "dev", r.plan.router.gatewayPort.name], step: "gateway-unresolved")
            },
            repair: { r in
                let e = r.plan.external
                try await r.ip(e.namespace, ["addr", "add", "\(e.gateway)/\(e.cidr.length)", "dev", e.interface], step: "gateway-unresolved")
                try await r.ip(r.plan.router.namespace, ["neigh", "flush", "dev", r.plan.router.gatewayPort.name], step: "gateway-unresolved")
            }),
        LabFault(
            name: "instance-no-default-route",
            summary: "the probe instance (the last one) has lost its default route",
            breaks: { [.instanceDefaultRoute($0.probeInstance.name)] },
            apply: { r in try await r.ip(r.plan.probeInstance.namespace, ["route", "del", "default"], step: "instance-no-default-route") },
            repair: { r in
                let vm = r.plan.probeInstance
                try await r.ip(vm.namespace, ["route", "replace", "default", "via", "\(r.plan.network.gateway)", "dev", vm.interface], step: "instance-no-default-route")
            }),
        LabFault(
            name: "port-not-in-bridge",
            summary: "vm1's qvb veth is no longer a port of its qbr bridge",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ip(r.plan.computeNode.namespace, ["link", "set", vm.bridgeVeth, "nomaster"], step: "port-not-in-bridge")
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ip(r.plan.computeNode.namespace, ["link", "set", vm.bridgeVeth, "master", vm.linuxBridge], step: "port-not-in-bridge")
            }),
        LabFault(
            name: "qvo-missing",
            summary: "vm1's qvb/qvo veth pair is gone while br-int still lists qvo (OVS interface error: No such device)",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                try await r.ip(r.plan.computeNode.namespace, ["link", "del", r.plan.floatingIPInstance.ovsPort], step: "qvo-missing")
            },
            repair: { r in try await r.plugInstanceVeth(r.plan.floatingIPInstance) }),
    ]

    /// Splits a rule spec into iptables arguments, keeping double-quoted comments whole.
    static func ruleArguments(_ rule: String) -> [String] {
        var args: [String] = []
        var current = ""
        var quoted = false
        for ch in rule {
            if ch == "\"" { quoted.toggle(); continue }
            if ch == " " && !quoted {
                if !current.isEmpty { args.append(current); current = "" }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { args.append(current) }
        return args
    }

    static func setUnderlayMTU(_ r: LabRuntime, _ mtu: Int) async throws {
        for node in r.plan.nodes {
            try await r.ip(node.namespace, ["link", "set", node.underlayInterface, "mtu", "\(mtu)"], step: "setting the underlay MTU")
        }
    }
}
