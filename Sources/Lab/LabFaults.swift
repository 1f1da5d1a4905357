import Foundation
import HopscopeModel

/// A named way to break the lab, as it breaks in real clouds, with the way back.
///
/// Faults live in one table (`LabFaults.all`): name, one-line description, what it breaks
/// (dependencies; the checks that need them are expected to fail, and only those), how to
/// apply it and how to repair it. Add a fault by adding a row; the row builders below
/// (`link`, `ovsSetting`, `sysctl`, `missingRules`, `stoppedDaemon`) cover the common kinds.
///
/// A fault that concerns one instance (its tap, port, security group, DHCP entry) is aimed at a
/// default instance (vm1, or the probe instance) unless another is named (`--instance`): a tap
/// instance as well as a namespace instance, except for faults that act inside the instance's
/// own namespace (`target == .namespaceInstance`), which a tap instance does not have.
public struct LabFault: Sendable {
    /// What a fault can be aimed at.
    public enum Target: String, Sendable, Codable {
        /// The lab as a whole (a node, the tunnel, the router, a daemon): no instance.
        case lab
        /// Any instance, tap instances included.
        case anyInstance
        /// Namespace instances only: the fault changes something inside the instance.
        case namespaceInstance
    }

    public let name: String
    /// One line, in the operator's words, about the default instance: what is wrong, where.
    public var summary: String { summary(instance: nil) }
    public let target: Target
    /// `{instance}` in the summary stands for the instance the fault is aimed at.
    let template: String
    /// The instance a targeted fault concerns when none is named, and how the summary names it.
    let defaultInstance: @Sendable (LabPlan) -> any LabInstancePort
    let defaultInstanceLabel: String
    let dependencies: @Sendable (LabFaultScope) -> Set<LabDependency>
    let applyBody: @Sendable (LabRuntime, LabFaultScope) async throws -> Void
    let repairBody: @Sendable (LabRuntime, LabFaultScope) async throws -> Void

    init(name: String, summary: String, target: Target = .lab,
         defaultInstance: @escaping @Sendable (LabPlan) -> any LabInstancePort = { $0.floatingIPInstance },
         defaultInstanceLabel: String = "vm1",
         breaks: @escaping @Sendable (LabFaultScope) -> Set<LabDependency>,
         apply: @escaping @Sendable (LabRuntime, LabFaultScope) async throws -> Void,
         repair: @escaping @Sendable (LabRuntime, LabFaultScope) async throws -> Void) {
        self.name = name
        template = summary
        self.target = target
        self.defaultInstance = defaultInstance
        self.defaultInstanceLabel = defaultInstanceLabel
        dependencies = breaks
        applyBody = apply
        repairBody = repair
    }

    /// The summary for the fault aimed at `instance` (nil: the default one).
    public func summary(instance: String?) -> String {
        template.replacingOccurrences(of: "{instance}", with: instance ?? defaultInstanceLabel)
    }

    /// What stops working: the dependencies this fault breaks in `plan`, aimed at its default instance.
    public var breaks: @Sendable (LabPlan) -> Set<LabDependency> {
        { [self] plan in dependencies(LabFaultScope(plan: plan, instance: defaultInstance(plan))) }
    }

    /// The ids of the checks this fault is expected to make fail in `plan` (default instance).
    public func expectedFailures(in plan: LabPlan) -> Set<String> {
        LabChecks.expectedFailures(of: breaks(plan), in: plan)
    }

    /// The ids of the checks this fault, aimed at `instance`, is expected to make fail.
    /// Throws `LabError.faultTarget` when it cannot be aimed there.
    public func expectedFailures(in plan: LabPlan, instance: String?) throws -> Set<String> {
        LabChecks.expectedFailures(of: dependencies(try scope(in: plan, instance: instance)), in: plan)
    }

    /// The scope of this fault aimed at `instance` (nil: the default). Throws
    /// `LabError.faultTarget` for a lab-wide fault given an instance or a tap instance for a
    /// fault that needs the instance's namespace, `.unknownInstance` for a name the lab lacks.
    public func scope(in plan: LabPlan, instance: String?) throws -> LabFaultScope {
        guard let instance else { return LabFaultScope(plan: plan, instance: defaultInstance(plan)) }
        switch target {
        case .lab:
            throw LabError.faultTarget(fault: name, detail: "it concerns the lab, not one instance; run it without --instance")
        case .anyInstance, .namespaceInstance:
            guard let port = plan.instancePort(named: instance) else {
                throw LabError.unknownInstance(instance, known: plan.instancePorts.map(\.name))
            }
            if target == .namespaceInstance && !(port is LabInstance) {
                let names = plan.instances.map(\.name).joined(separator: ", ")
                throw LabError.faultTarget(fault: name, detail: "it changes something inside the instance's own namespace, "
                                           + "which the tap instance \(instance) does not have; aim it at \(names)")
            }
            return LabFaultScope(plan: plan, instance: port)
        }
    }
}

/// What one application of a fault works on: the plan and the instance it is aimed at (the
/// default instance for faults that concern none).
public struct LabFaultScope: Sendable {
    public let plan: LabPlan
    public let instance: any LabInstancePort

    /// The instance as a namespace instance (faults with target `.namespaceInstance` get one).
    var namespaceInstance: LabInstance {
        get throws {
            guard let vm = instance as? LabInstance else {
                throw LabError.faultTarget(fault: "", detail: "\(instance.name) has no namespace of its own")
            }
            return vm
        }
    }
}

/// One applied fault as `LabState.appliedFaults` records it: the fault's name, then `@INSTANCE`
/// when it was aimed at another instance than its default.
public struct LabAppliedFault: Hashable, Sendable, CustomStringConvertible {
    public var fault: String
    public var instance: String?

    public init(fault: String, instance: String?) {
        self.fault = fault
        self.instance = instance
    }

    /// Parses `NAME` or `NAME@INSTANCE`.
    public init(record: String) {
        let parts = record.split(separator: "@", maxSplits: 1)
        fault = String(parts.first ?? "")
        instance = parts.count == 2 ? String(parts[1]) : nil
    }

    public var description: String { instance.map { "\(fault)@\($0)" } ?? fault }
}

/// The fault table.
public enum LabFaults {
    /// Looks a fault up by name.
    public static func named(_ name: String) -> LabFault? { all.first { $0.name == name } }

    /// Every fault, in the order `hopscope lab faults` lists them.
    public static let all: [LabFault] = [
        // MARK: The 13 faults of issue 2
        link("tap-down", "{instance}'s tap device on the compute node is administratively down",
             target: .anyInstance, breaks: { [.instance($0.instance.name)] },
             namespace: { $0.plan.computeNode.namespace }, device: { $0.instance.tapDevice }),
        LabFault(
            name: "underlay-mtu",
            summary: "the underlay link between the nodes has MTU 1400: full-size tenant packets no longer fit in VXLAN",
            breaks: { _ in [.largeFrames] },
            apply: { r, _ in try await setUnderlayMTU(r, 1400) },
            repair: { r, _ in try await setUnderlayMTU(r, 1500) }),
        LabFault(
            name: "dead-vlan",
            summary: "{instance}'s qvo port is on the dead VLAN 4095 with the OVS agent's drop flow (port_dead)",
            target: .anyInstance,
            breaks: { [.instance($0.instance.name)] },
            apply: { r, s in
                let vm = s.instance, node = r.plan.computeNode
                try await r.ovs(node, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=4095"], step: "dead-vlan")
                try await r.ovs(node, "ovs-ofctl", ["add-flow", node.integrationBridge, r.configuration.deadPortFlow(for: vm)], step: "dead-vlan")
            },
            repair: { r, s in
                let vm = s.instance, node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["--strict", "del-flows", node.integrationBridge, "table=0,priority=2,in_port=\(vm.ovsPort)"], step: "dead-vlan")
                try await r.ovs(node, "ovs-vsctl", ["set", "Port", vm.ovsPort, "tag=\(vm.localVLAN)"], step: "dead-vlan")
            }),
        LabFault(
            name: "tunnel-flow-missing",
            summary: "compute1's br-tun lacks the table-4 flow mapping the network's tunnel id to its local VLAN",
            breaks: { _ in [.tunnel] },
            apply: { r, _ in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["--strict", "del-flows", node.tunnelBridge, r.configuration.tunnelIDFlowMatch(for: node)], step: "tunnel-flow-missing")
            },
            repair: { r, _ in
                let node = r.plan.computeNode
                try await r.ovs(node, "ovs-ofctl", ["add-flow", node.tunnelBridge, r.configuration.tunnelIDFlow(for: node)], step: "tunnel-flow-missing")
            }),
        stoppedDaemon("dnsmasq-stopped", "the DHCP agent's dnsmasq for the tenant network is not running",
                      breaks: { _ in [.dhcpServer] }, role: .dhcpServer),
        LabFault(
            name: "dhcp-host-missing",
            summary: "{instance}'s MAC address is missing from dnsmasq's DHCP hosts file",
            target: .anyInstance,
            breaks: { [.dhcpHost($0.instance.name)] },
            apply: { r, s in try await r.writeDHCPHosts(omitting: [s.instance.name], reload: true) },
            repair: { r, _ in try await r.writeDHCPHosts(omitting: [], reload: true) }),
        // The agent puts the DHCP and ICMP RETURN rules right after the RELATED,ESTABLISHED one.
        missingRules("sg-drops-dhcp", "{instance}'s security group chain lacks the rules admitting DHCP replies (they fall to sg-fallback DROP)",
                     target: .anyInstance, breaks: { [.dhcpIngress($0.instance.name)] },
                     namespace: { $0.plan.computeNode.namespace }, table: "filter", chain: { $0.instance.ingressChain },
                     rules: { c, s in c.dhcpIngressRules(s.instance) }, restoreAt: 2),
        missingRules("sg-drops-icmp", "{instance}'s security group chain lacks the ingress ICMP rule: pings to it from outside its group are dropped",
                     target: .anyInstance, breaks: { [.icmpIngress($0.instance.name)] },
                     namespace: { $0.plan.computeNode.namespace }, table: "filter", chain: { $0.instance.ingressChain },
                     rules: { c, _ in [c.icmpIngressRule] }, restoreAt: 2),
        LabFault(
            name: "router-no-default-route",
            summary: "the router namespace has no default route: only the external subnet itself is reachable",
            breaks: { _ in [.routerDefaultRoute] },
            apply: { r, _ in try await r.ip(r.plan.router.namespace, ["route", "del", "default"], step: "router-no-default-route") },
            repair: { r, _ in
                try await r.ip(r.plan.router.namespace, r.configuration.defaultRouteLine.split(separator: " ").map(String.init), step: "router-no-default-route")
            }),
        missingRules("router-no-snat", "the router's neutron-l3-agent-snat chain lacks the subnet's SNAT rules",
                     breaks: { _ in [.routerSNAT] },
                     namespace: { $0.plan.router.namespace }, table: "nat", chain: { _ in NeutronNames.routerChainPrefix + "snat" },
                     rules: { c, _ in c.subnetSNATRules }, restoreAt: nil, flushRouterConntrack: true),
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
             namespace: { $0.plan.router.namespace }, device: { $0.plan.router.internalPort.name }),
        missingRules("fip-dnat-missing", "the router lacks the floating IP's DNAT rule: connections to it end at the router itself",
                     breaks: { _ in [.floatingIPDNAT] },
                     namespace: { $0.plan.router.namespace }, table: "nat", chain: { _ in NeutronNames.routerChainPrefix + "PREROUTING" },
                     rules: { c, _ in [c.floatingIPDNATRule] }, restoreAt: nil, flushRouterConntrack: true),
        ovsSetting("tunnel-remote-ip-wrong", "compute1's VXLAN port points at a remote_ip (198.18.0.99) where no node lives",
                   breaks: { _ in [.tunnel] },
                   table: "Interface", record: { $0.plan.computeNode.vxlanPort }, column: "options:remote_ip",
                   broken: { _ in "198.18.0.99" }, healthy: { "\($0.plan.computeNode.vxlanRemote)" }),
        ovsSetting("ovs-tag-mismatch", "{instance}'s qvo port carries VLAN tag 3 on br-int instead of the network's local VLAN",
                   target: .anyInstance, breaks: { [.instance($0.instance.name)] },
                   table: "Port", record: { $0.instance.ovsPort }, column: "tag",
                   broken: { _ in "3" }, healthy: { "\($0.instance.localVLAN)" }),
        ovsSetting("patch-port-broken", "compute1's br-int patch port patch-tun names a peer that does not exist",
                   breaks: { _ in [.tunnel] },
                   table: "Interface", record: { $0.plan.computeNode.integrationPatchPort }, column: "options:peer",
                   broken: { _ in "patch-nowhere" }, healthy: { $0.plan.computeNode.tunnelPatchPort }),
        LabFault(
            name: "gateway-unresolved",
            summary: "the provider gateway no longer answers ARP: the router's neighbour entry for it stays unresolved",
            breaks: { _ in [.externalGateway] },
            apply: { r, _ in try await setGatewayAddress(r, "del") },
            repair: { r, _ in try await setGatewayAddress(r, "add") }),
        LabFault(
            name: "instance-no-default-route",
            summary: "{instance} has lost its default route",
            target: .namespaceInstance, defaultInstance: { $0.probeInstance },
            defaultInstanceLabel: "the probe instance (the last one)",
            breaks: { [.instanceDefaultRoute($0.instance.name)] },
            apply: { r, s in
                try await r.ip(try s.namespaceInstance.namespace, ["route", "del", "default"], step: "instance-no-default-route")
            },
            repair: { r, s in
                let vm = try s.namespaceInstance
                try await r.ip(vm.namespace, ["route", "replace", "default", "via", "\(r.plan.network.gateway)", "dev", vm.interface], step: "instance-no-default-route")
            }),
        link("port-not-in-bridge", "{instance}'s qvb veth is no longer a port of its qbr bridge",
             target: .anyInstance, breaks: { [.instance($0.instance.name)] },
             namespace: { $0.plan.computeNode.namespace }, device: { $0.instance.bridgeVeth },
             broken: { _ in ["nomaster"] }, healthy: { ["master", $0.instance.linuxBridge] }),
        LabFault(
            name: "instance-mac-changed",
            summary: "{instance}'s guest changed its MAC: port security drops its frames (security group IP/MAC rule, br-int table 25)",
            target: .namespaceInstance,
            breaks: { [.instance($0.instance.name)] },
            apply: { r, s in
                let vm = try s.namespaceInstance
                try await r.ip(vm.namespace, ["link", "set", vm.interface, "address", "fa:16:3e:00:00:99"], step: "instance-mac-changed")
            },
            repair: { r, s in
                let vm = try s.namespaceInstance
                try await r.ip(vm.namespace, ["link", "set", vm.interface, "address", "\(vm.mac)"], step: "instance-mac-changed")
                // Its neighbours learnt the wrong MAC meanwhile.
                try await r.ip(r.plan.router.namespace, ["neigh", "flush", "dev", r.plan.router.internalPort.name], step: "instance-mac-changed")
                for other in r.plan.instances where other.name != vm.name {
                    try await r.ip(other.namespace, ["neigh", "flush", "dev", other.interface], step: "instance-mac-changed")
                }
            }),
        LabFault(
            name: "qvo-missing",
            summary: "{instance}'s qvb/qvo veth pair is gone and br-int cannot reopen its qvo port (OVS interface error: No such device)",
            target: .anyInstance,
            breaks: { [.instance($0.instance.name)] },
            apply: { r, s in
                try await r.ip(r.plan.computeNode.namespace, ["link", "del", s.instance.ovsPort], step: "qvo-missing")
                // What an agent resync (or a reboot) then does: OVS tries to open the device again.
                try await r.replugInstancePort(s.instance, waitForSwitch: false)
            },
            repair: { r, s in try await r.plugInstanceVeth(s.instance) }),

        // MARK: Faults for the remaining diagnosis codes (issue 8)
        LabFault(
            name: "router-rp-filter",
            summary: "the router has strict rp_filter and a stray route sending the internet client (198.51.100.7) to the tenant side: its packets are dropped on qg-",
            breaks: { _ in [.routerReversePath] },
            apply: { r, _ in
                let router = r.plan.router
                try await r.ip(router.namespace, ["route", "add", "\(r.plan.external.internetClient)/32", "dev", router.internalPort.name], step: "router-rp-filter")
                for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.\(router.gatewayPort.name).rp_filter"] {
                    try await r.sysctl(router.namespace, key, "1")
                }
            },
            repair: { r, _ in
                let router = r.plan.router
                for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.\(router.gatewayPort.name).rp_filter"] {
                    try await r.sysctl(router.namespace, key, "0")
                }
                try await r.ip(router.namespace, ["route", "del", "\(r.plan.external.internetClient)/32", "dev", router.internalPort.name], step: "router-rp-filter")
            }),
        LabFault(
            name: "veth-peer-hidden",
            summary: "{instance}'s qvo (the other end of its qvb veth) was moved into a namespace no name or process holds: the qvb leads nowhere that can be followed",
            target: .anyInstance,
            breaks: { [.instance($0.instance.name)] },
            apply: { r, s in try await r.hideInstancePort(s.instance) },
            repair: { r, s in try await r.unhideInstancePort(s.instance) }),
        LabFault(
            name: "dns-server-down",
            summary: "the DHCP agent's dnsmasq runs with DNS disabled (--port=0): DHCP works, instances get no DNS server",
            breaks: { _ in [.localDNS] },
            apply: { r, _ in
                try await r.stopDaemon(.dhcpServer)
                try await r.startDHCPServer(extraArguments: ["--port=0"])
            },
            repair: { r, _ in
                try await r.stopDaemon(.dhcpServer)
                try await r.startDHCPServer()
            }),
    ]

    // MARK: Row builders

    typealias Scoped<T> = @Sendable (LabFaultScope) -> T

    /// One `ip link set DEVICE ...` change: by default the device set administratively down
    /// (repair: up); `broken` and `healthy` give other settings (`nomaster` / `master qbr…`).
    static func link(_ name: String, _ summary: String, target: LabFault.Target = .lab,
                     breaks: @escaping Scoped<Set<LabDependency>>,
                     namespace: @escaping Scoped<String>, device: @escaping Scoped<String>,
                     broken: @escaping Scoped<[String]> = { _ in ["down"] },
                     healthy: @escaping Scoped<[String]> = { _ in ["up"] }) -> LabFault {
        @Sendable func set(_ r: LabRuntime, _ s: LabFaultScope, _ settings: [String]) async throws {
            try await r.ip(namespace(s), ["link", "set", device(s)] + settings, step: name)
        }
        return LabFault(name: name, summary: summary, target: target, breaks: breaks,
                        apply: { r, s in try await set(r, s, broken(s)) }, repair: { r, s in try await set(r, s, healthy(s)) })
    }

    /// One column (or `column:key`) of one compute1 OVSDB record set to a broken value (repair:
    /// the healthy one), as `ovs-vsctl set TABLE RECORD COLUMN=VALUE`.
    static func ovsSetting(_ name: String, _ summary: String, target: LabFault.Target = .lab,
                           breaks: @escaping Scoped<Set<LabDependency>>,
                           table: String, record: @escaping Scoped<String>, column: String,
                           broken: @escaping Scoped<String>, healthy: @escaping Scoped<String>) -> LabFault {
        @Sendable func set(_ r: LabRuntime, _ s: LabFaultScope, _ value: String) async throws {
            try await r.ovs(r.plan.computeNode, "ovs-vsctl", ["set", table, record(s), "\(column)=\(value)"], step: name)
        }
        return LabFault(name: name, summary: summary, target: target, breaks: breaks,
                        apply: { r, s in try await set(r, s, broken(s)) }, repair: { r, s in try await set(r, s, healthy(s)) })
    }

    /// One of the lab's dnsmasq daemons stopped by its recorded PID (repair: started again with
    /// the same command line).
    static func stoppedDaemon(_ name: String, _ summary: String, breaks: @escaping Scoped<Set<LabDependency>>,
                              role: LabProcess.Role) -> LabFault {
        LabFault(name: name, summary: summary, breaks: breaks,
                 apply: { r, _ in try await r.stopDaemon(role) },
                 repair: { r, _ in
                     switch role {
                     case .dhcpServer: try await r.startDHCPServer()
                     case .upstreamDNS: try await r.startUpstreamDNS()
                     case .ovsdbServer, .ovsVswitchd, .tapGuest:
                         throw LabError.setupFailed(step: name, detail: "\(role.rawValue) is restarted only by lab up")
                     }
                 })
    }

    /// A `net.*` sysctl set to a broken value inside one namespace (repair: the healthy value).
    static func sysctl(_ name: String, _ summary: String, breaks: @escaping Scoped<Set<LabDependency>>,
                       namespace: @escaping @Sendable (LabPlan) -> String, key: String, broken: String, healthy: String) -> LabFault {
        LabFault(name: name, summary: summary, breaks: breaks,
                 apply: { r, _ in try await r.sysctl(namespace(r.plan), key, broken) },
                 repair: { r, _ in try await r.sysctl(namespace(r.plan), key, healthy) })
    }

    /// iptables rules the agent would have written, deleted from their chain (repair: inserted
    /// back at `restoreAt`, or appended when nil). NAT changes flush the router's conntrack
    /// table, as the L3 agent does, so existing entries do not hide (or outlive) the fault.
    static func missingRules(_ name: String, _ summary: String, target: LabFault.Target = .lab,
                             breaks: @escaping Scoped<Set<LabDependency>>,
                             namespace: @escaping Scoped<String>, table: String,
                             chain: @escaping Scoped<String>,
                             rules: @escaping @Sendable (LabConfiguration, LabFaultScope) -> [String], restoreAt: Int?,
                             flushRouterConntrack: Bool = false) -> LabFault {
        LabFault(
            name: name, summary: summary, target: target, breaks: breaks,
            apply: { r, s in
                for rule in rules(r.configuration, s) {
                    try await r.iptables(namespace(s), ["-t", table, "-D", chain(s)] + ruleArguments(rule), step: name)
                }
                if flushRouterConntrack { try await r.flushRouterConntrack() }
            },
            repair: { r, s in
                // Inserting each at the same position, last first, keeps their order.
                let ordered = restoreAt == nil ? rules(r.configuration, s) : rules(r.configuration, s).reversed()
                for rule in ordered {
                    let position = restoreAt.map { ["-I", chain(s), "\($0)"] } ?? ["-A", chain(s)]
                    try await r.iptables(namespace(s), ["-t", table] + position + ruleArguments(rule), step: name)
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
