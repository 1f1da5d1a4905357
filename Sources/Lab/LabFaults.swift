import Foundation
import HopscopeModel

/// A named way to break the lab, as it breaks in real clouds, with the way back.
///
/// Faults live in one table (`LabFaults.all`): name, one-line description, what it breaks
/// (dependencies; the checks that need them are expected to fail, and only those), how to
/// apply it and how to repair it. Add a fault by adding a row; the row builders below
/// (`link`, `ovsSetting`, `sysctl`, `missingRules`, `stoppedDaemon`) cover the common kinds.
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
        link("tap-down", "vm1's tap device on the compute node is administratively down",
             breaks: { [.instance($0.floatingIPInstance.name)] },
             namespace: { $0.computeNode.namespace }, device: { $0.floatingIPInstance.tapDevice }),
        LabFault(
            name: "underlay-mtu",
            summary: "the underlay link between the nodes has MTU 1400: full-size tenant packets no longer fit in VXLAN",
            breaks: { _ in [.largeFrames] },
            apply: { r in try await setUnderlayMTU(r, 1400) },
            repair: { r in try await setUnderlayMTU(r, 1500) }),
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
        stoppedDaemon("dnsmasq-stopped", "the DHCP agent's dnsmasq for the tenant network is not running",
                      breaks: { _ in [.dhcpServer] }, role: .dhcpServer),
        LabFault(
            name: "dhcp-host-missing",
            summary: "vm1's MAC address is missing from dnsmasq's DHCP hosts file",
            breaks: { [.dhcpHost($0.floatingIPInstance.name)] },
            apply: { r in try await r.writeDHCPHosts(omitting: [r.plan.floatingIPInstance.name], reload: true) },
            repair: { r in try await r.writeDHCPHosts(omitting: [], reload: true) }),
        // The agent puts the DHCP and ICMP RETURN rules right after the RELATED,ESTABLISHED one.
        missingRules("sg-drops-dhcp", "vm1's security group chain lacks the rules admitting DHCP replies (they fall to sg-fallback DROP)",
                     breaks: { [.dhcpIngress($0.floatingIPInstance.name)] },
                     namespace: { $0.computeNode.namespace }, table: "filter", chain: { $0.floatingIPInstance.ingressChain },
                     rules: { $0.dhcpIngressRules($0.plan.floatingIPInstance) }, restoreAt: 2),
        missingRules("sg-drops-icmp", "vm1's security group chain lacks the ingress ICMP rule: pings to its floating IP are dropped",
                     breaks: { [.icmpIngress($0.floatingIPInstance.name)] },
                     namespace: { $0.computeNode.namespace }, table: "filter", chain: { $0.floatingIPInstance.ingressChain },
                     rules: { [$0.icmpIngressRule] }, restoreAt: 2),
        LabFault(
            name: "router-no-default-route",
            summary: "the router namespace has no default route: only the external subnet itself is reachable",
            breaks: { _ in [.routerDefaultRoute] },
            apply: { r in try await r.ip(r.plan.router.namespace, ["route", "del", "default"], step: "router-no-default-route") },
            repair: { r in
                try await r.ip(r.plan.router.namespace, r.configuration.defaultRouteLine.split(separator: " ").map(String.init), step: "router-no-default-route")
            }),
        missingRules("router-no-snat", "the router's neutron-l3-agent-snat chain lacks the subnet's SNAT rules",
                     breaks: { _ in [.routerSNAT] },
                     namespace: { $0.router.namespace }, table: "nat", chain: { _ in NeutronNames.routerChainPrefix + "snat" },
                     rules: { $0.subnetSNATRules }, restoreAt: nil, flushRouterConntrack: true),
        sysctl("router-ip-forward-off", "IP forwarding is off in the router namespace (net.ipv4.ip_forward=0)",
               breaks: { _ in [.routerForwarding] },
               namespace: { $0.router.namespace }, key: "net.ipv4.ip_forward", broken: "0", healthy: "1"),
        stoppedDaemon("upstream-dns-down", "the upstream DNS server dnsmasq forwards to is not running",
                      breaks: { _ in [.upstreamDNS] }, role: .upstreamDNS),
        sysctl("br-netfilter-off", "bridged traffic bypasses iptables on compute1 (bridge-nf-call-iptables=0): security groups are silently not applied",
               breaks: { _ in [.securityGroupEnforcement] },
               namespace: { $0.computeNode.namespace }, key: "net.bridge.bridge-nf-call-iptables", broken: "0", healthy: "1"),

        // MARK: More faults, for more diagnosis codes
        link("qr-link-down", "the router's qr- interface on the tenant subnet is down",
             breaks: { _ in [.routerInterface] },
             namespace: { $0.router.namespace }, device: { $0.router.internalPort.name }),
        missingRules("fip-dnat-missing", "the router lacks the floating IP's DNAT rule: connections to it end at the router itself",
                     breaks: { _ in [.floatingIPDNAT] },
                     namespace: { $0.router.namespace }, table: "nat", chain: { _ in NeutronNames.routerChainPrefix + "PREROUTING" },
                     rules: { [$0.floatingIPDNATRule] }, restoreAt: nil, flushRouterConntrack: true),
        ovsSetting("tunnel-remote-ip-wrong", "compute1's VXLAN port points at a remote_ip (198.18.0.99) where no node lives",
                   breaks: { _ in [.tunnel] },
                   table: "Interface", record: { $0.computeNode.vxlanPort }, column: "options:remote_ip",
                   broken: { _ in "198.18.0.99" }, healthy: { "\($0.computeNode.vxlanRemote)" }),
        ovsSetting("ovs-tag-mismatch", "vm1's qvo port carries VLAN tag 3 on br-int instead of the network's local VLAN",
                   breaks: { [.instance($0.floatingIPInstance.name)] },
                   table: "Port", record: { $0.floatingIPInstance.ovsPort }, column: "tag",
                   broken: { _ in "3" }, healthy: { "\($0.floatingIPInstance.localVLAN)" }),
        ovsSetting("patch-port-broken", "compute1's br-int patch port patch-tun names a peer that does not exist",
                   breaks: { _ in [.tunnel] },
                   table: "Interface", record: { $0.computeNode.integrationPatchPort }, column: "options:peer",
                   broken: { _ in "patch-nowhere" }, healthy: { $0.computeNode.tunnelPatchPort }),
        LabFault(
            name: "gateway-unresolved",
            summary: "the provider gateway no longer answers ARP: the router's neighbour entry for it stays unresolved",
            breaks: { _ in [.externalGateway] },
            apply: { r in try await setGatewayAddress(r, "del") },
            repair: { r in try await setGatewayAddress(r, "add") }),
        LabFault(
            name: "instance-no-default-route",
            summary: "the probe instance (the last one) has lost its default route",
            breaks: { [.instanceDefaultRoute($0.probeInstance.name)] },
            apply: { r in try await r.ip(r.plan.probeInstance.namespace, ["route", "del", "default"], step: "instance-no-default-route") },
            repair: { r in
                let vm = r.plan.probeInstance
                try await r.ip(vm.namespace, ["route", "replace", "default", "via", "\(r.plan.network.gateway)", "dev", vm.interface], step: "instance-no-default-route")
            }),
        link("port-not-in-bridge", "vm1's qvb veth is no longer a port of its qbr bridge",
             breaks: { [.instance($0.floatingIPInstance.name)] },
             namespace: { $0.computeNode.namespace }, device: { $0.floatingIPInstance.bridgeVeth },
             broken: { _ in ["nomaster"] }, healthy: { ["master", $0.floatingIPInstance.linuxBridge] }),
        LabFault(
            name: "instance-mac-changed",
            summary: "vm1's guest changed its MAC: port security drops its frames (security group IP/MAC rule, br-int table 25)",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ip(vm.namespace, ["link", "set", vm.interface, "address", "fa:16:3e:00:00:99"], step: "instance-mac-changed")
            },
            repair: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ip(vm.namespace, ["link", "set", vm.interface, "address", "\(vm.mac)"], step: "instance-mac-changed")
                // Its neighbours learnt the wrong MAC meanwhile.
                try await r.ip(r.plan.router.namespace, ["neigh", "flush", "dev", r.plan.router.internalPort.name], step: "instance-mac-changed")
                for other in r.plan.instances where other.name != vm.name {
                    try await r.ip(other.namespace, ["neigh", "flush", "dev", other.interface], step: "instance-mac-changed")
                }
            }),
        LabFault(
            name: "qvo-missing",
            summary: "vm1's qvb/qvo veth pair is gone and br-int cannot reopen its qvo port (OVS interface error: No such device)",
            breaks: { [.instance($0.floatingIPInstance.name)] },
            apply: { r in
                let vm = r.plan.floatingIPInstance
                try await r.ip(r.plan.computeNode.namespace, ["link", "del", vm.ovsPort], step: "qvo-missing")
                // What an agent resync (or a reboot) then does: OVS tries to open the device again.
                try await r.replugInstancePort(vm, waitForSwitch: false)
            },
            repair: { r in try await r.plugInstanceVeth(r.plan.floatingIPInstance) }),
    ]

    // MARK: Row builders

    /// One `ip link set DEVICE ...` change: by default the device set administratively down
    /// (repair: up); `broken` and `healthy` give other settings (`nomaster` / `master qbr…`).
    static func link(_ name: String, _ summary: String, breaks: @escaping @Sendable (LabPlan) -> Set<LabDependency>,
                     namespace: @escaping @Sendable (LabPlan) -> String, device: @escaping @Sendable (LabPlan) -> String,
                     broken: @escaping @Sendable (LabPlan) -> [String] = { _ in ["down"] },
                     healthy: @escaping @Sendable (LabPlan) -> [String] = { _ in ["up"] }) -> LabFault {
        @Sendable func set(_ r: LabRuntime, _ settings: [String]) async throws {
            try await r.ip(namespace(r.plan), ["link", "set", device(r.plan)] + settings, step: name)
        }
        return LabFault(name: name, summary: summary, breaks: breaks,
                        apply: { r in try await set(r, broken(r.plan)) }, repair: { r in try await set(r, healthy(r.plan)) })
    }

    /// One column (or `column:key`) of one compute1 OVSDB record set to a broken value (repair:
    /// the healthy one), as `ovs-vsctl set TABLE RECORD COLUMN=VALUE`.
    static func ovsSetting(_ name: String, _ summary: String, breaks: @escaping @Sendable (LabPlan) -> Set<LabDependency>,
                           table: String, record: @escaping @Sendable (LabPlan) -> String, column: String,
                           broken: @escaping @Sendable (LabPlan) -> String, healthy: @escaping @Sendable (LabPlan) -> String) -> LabFault {
        @Sendable func set(_ r: LabRuntime, _ value: String) async throws {
            try await r.ovs(r.plan.computeNode, "ovs-vsctl", ["set", table, record(r.plan), "\(column)=\(value)"], step: name)
        }
        return LabFault(name: name, summary: summary, breaks: breaks,
                        apply: { r in try await set(r, broken(r.plan)) }, repair: { r in try await set(r, healthy(r.plan)) })
    }

    /// One of the lab's dnsmasq daemons stopped by its recorded PID (repair: started again with
    /// the same command line).
    static func stoppedDaemon(_ name: String, _ summary: String, breaks: @escaping @Sendable (LabPlan) -> Set<LabDependency>,
                              role: LabProcess.Role) -> LabFault {
        LabFault(name: name, summary: summary, breaks: breaks,
                 apply: { r in try await r.stopDaemon(role) },
                 repair: { r in
                     switch role {
                     case .dhcpServer: try await r.startDHCPServer()
                     case .upstreamDNS: try await r.startUpstreamDNS()
                     case .ovsdbServer, .ovsVswitchd:
                         throw LabError.setupFailed(step: name, detail: "\(role.rawValue) is restarted only by lab up")
                     }
                 })
    }

    /// A `net.*` sysctl set to a broken value inside one namespace (repair: the healthy value).
    static func sysctl(_ name: String, _ summary: String, breaks: @escaping @Sendable (LabPlan) -> Set<LabDependency>,
                       namespace: @escaping @Sendable (LabPlan) -> String, key: String, broken: String, healthy: String) -> LabFault {
        LabFault(name: name, summary: summary, breaks: breaks,
                 apply: { r in try await r.sysctl(namespace(r.plan), key, broken) },
                 repair: { r in try await r.sysctl(namespace(r.plan), key, healthy) })
    }

    /// iptables rules the agent would have written, deleted from their chain (repair: inserted
    /// back at `restoreAt`, or appended when nil). NAT changes flush the router's conntrack
    /// table, as the L3 agent does, so existing entries do not hide (or outlive) the fault.
    static func missingRules(_ name: String, _ summary: String, breaks: @escaping @Sendable (LabPlan) -> Set<LabDependency>,
                             namespace: @escaping @Sendable (LabPlan) -> String, table: String,
                             chain: @escaping @Sendable (LabPlan) -> String,
                             rules: @escaping @Sendable (LabConfiguration) -> [String], restoreAt: Int?,
                             flushRouterConntrack: Bool = false) -> LabFault {
        LabFault(
            name: name, summary: summary, breaks: breaks,
            apply: { r in
                for rule in rules(r.configuration) {
                    try await r.iptables(namespace(r.plan), ["-t", table, "-D", chain(r.plan)] + ruleArguments(rule), step: name)
                }
                if flushRouterConntrack { try await r.flushRouterConntrack() }
            },
            repair: { r in
                // Inserting each at the same position, last first, keeps their order.
                let ordered = restoreAt == nil ? rules(r.configuration) : rules(r.configuration).reversed()
                for rule in ordered {
                    let position = restoreAt.map { ["-I", chain(r.plan), "\($0)"] } ?? ["-A", chain(r.plan)]
                    try await r.iptables(namespace(r.plan), ["-t", table] + position + ruleArguments(rule), step: name)
                }
                if flushRouterConntrack { try await r.flushRouterConntrack() }
            })
    }

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

    /// Removes (`del`) or restores (`add`) the provider gateway's address, then forgets the
    /// router's neighbour entries on qg- so the next packet has to resolve the gateway again.
    static func setGatewayAddress(_ r: LabRuntime, _ operation: String) async throws {
        let e = r.plan.external
        try await r.ip(e.namespace, ["addr", operation, "\(e.gateway)/\(e.cidr.length)", "dev", e.interface], step: "gateway-unresolved")
        try await r.ip(r.plan.router.namespace, ["neigh", "flush", "dev", r.plan.router.gatewayPort.name], step: "gateway-unresolved")
    }
}
