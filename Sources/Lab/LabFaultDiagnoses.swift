import HopscopeModel

/// What `hopscope diagnose` must report for each fault of `LabFaults.all`: the command to run
/// (instance and options), the code of the first finding and where it is (namespace, and the
/// device when it matters). The lab test of the diagnosis and `scripts/fault-table` both read
/// this table, so the README's table and the test prove the same thing.
public struct LabFaultDiagnosis: Sendable {
    public let fault: String
    /// The finding code the first finding must have (`FIREWALL_DROP`, ...).
    public let code: String
    /// The instance's namespace in `plan`.
    public let instance: @Sendable (LabPlan) -> String
    /// `--to DEST` / `--from SRC` / nothing (basic connectivity).
    public let options: @Sendable (LabPlan) -> [String]
    /// Where the first finding must be: its namespace, and its device unless nil.
    public let place: @Sendable (LabPlan) -> (namespace: String, device: String?)

    /// `hopscope diagnose vm1 --from 198.51.100.7` with the lab's short names (for tables).
    public func command(in plan: LabPlan) -> String {
        let vm = instance(plan)
        let short = plan.prefix.isEmpty ? vm : String(vm.dropFirst(plan.prefix.count + 1))
        return (["hopscope diagnose", short] + options(plan)).joined(separator: " ")
    }
}

public enum LabFaultDiagnoses {
    public static func named(_ fault: String) -> LabFaultDiagnosis? { all.first { $0.fault == fault } }

    typealias Place = @Sendable (LabPlan) -> (namespace: String, device: String?)

    static func row(_ fault: String, _ code: String, vm: @escaping @Sendable (LabPlan) -> LabInstance = { $0.floatingIPInstance },
                    options: @escaping @Sendable (LabPlan) -> [String] = { _ in [] }, place: @escaping Place) -> LabFaultDiagnosis {
        LabFaultDiagnosis(fault: fault, code: code, instance: { vm($0).namespace }, options: options, place: place)
    }

    static let fromInternet: @Sendable (LabPlan) -> [String] = { ["--from", "\($0.external.internetClient)"] }
    static let toInternet: @Sendable (LabPlan) -> [String] = { ["--to", "\($0.external.internetClient)"] }
    static let probe: @Sendable (LabPlan) -> LabInstance = { $0.probeInstance }

    /// One row per fault, in the order of `LabFaults.all`.
    public static let all: [LabFaultDiagnosis] = [
        row("tap-down", "LINK_DOWN") { ($0.computeNode.namespace, $0.floatingIPInstance.tapDevice) },
        row("underlay-mtu", "MTU_MISMATCH") { ($0.computeNode.namespace, nil) },
        row("dead-vlan", "OVS_DEAD_VLAN") { ($0.computeNode.namespace, $0.floatingIPInstance.ovsPort) },
        row("tunnel-flow-missing", "OVS_FLOW_DROP") { ($0.computeNode.namespace, $0.computeNode.tunnelBridge) },
        row("dnsmasq-stopped", "DHCP_SERVER_DOWN") { ($0.dhcp.namespace, nil) },
        row("dhcp-host-missing", "DHCP_NO_HOST_ENTRY") { ($0.dhcp.namespace, nil) },
        row("sg-drops-dhcp", "DHCP_REPLY_BLOCKED") { ($0.computeNode.namespace, $0.floatingIPInstance.linuxBridge) },
        row("sg-drops-icmp", "FIREWALL_DROP", options: fromInternet) { ($0.computeNode.namespace, $0.floatingIPInstance.linuxBridge) },
        row("router-no-default-route", "NO_ROUTE", vm: probe, options: toInternet) { ($0.router.namespace, $0.router.internalPort.name) },
        row("router-no-snat", "NAT_MISSING", vm: probe, options: toInternet) { ($0.router.namespace, $0.router.gatewayPort.name) },
        row("router-ip-forward-off", "IP_FORWARDING_DISABLED") { ($0.router.namespace, $0.router.internalPort.name) },
        row("upstream-dns-down", "DNS_UPSTREAM_UNREACHABLE") { ($0.external.namespace, nil) },
        row("br-netfilter-off", "FIREWALL_NOT_ENFORCED") { ($0.computeNode.namespace, $0.floatingIPInstance.linuxBridge) },
        row("qr-link-down", "LINK_DOWN") { ($0.router.namespace, $0.router.internalPort.name) },
        row("fip-dnat-missing", "NAT_MISSING", options: fromInternet) { ($0.router.namespace, nil) },
        row("tunnel-remote-ip-wrong", "TUNNEL_ENDPOINT_UNREACHABLE") { ($0.computeNode.namespace, $0.computeNode.vxlanPort) },
        row("ovs-tag-mismatch", "OVS_TAG_MISMATCH") { ($0.computeNode.namespace, $0.floatingIPInstance.ovsPort) },
        row("patch-port-broken", "OVS_PATCH_BROKEN") { ($0.computeNode.namespace, nil) },
        row("gateway-unresolved", "NEIGHBOR_UNRESOLVED", vm: probe, options: toInternet) { ($0.router.namespace, $0.router.gatewayPort.name) },
        row("instance-no-default-route", "NO_ROUTE", vm: probe, options: toInternet) { ($0.probeInstance.namespace, nil) },
        row("port-not-in-bridge", "NOT_IN_BRIDGE") { ($0.computeNode.namespace, $0.floatingIPInstance.linuxBridge) },
        row("instance-mac-changed", "FIREWALL_DROP") { ($0.computeNode.namespace, $0.floatingIPInstance.linuxBridge) },
        row("qvo-missing", "OVS_INTERFACE_ERROR") { ($0.computeNode.namespace, $0.floatingIPInstance.ovsPort) },
        row("router-rp-filter", "RP_FILTER_DROP", options: fromInternet) { ($0.router.namespace, $0.router.gatewayPort.name) },
        row("veth-peer-hidden", "VETH_PEER_MISSING") { ($0.computeNode.namespace, $0.floatingIPInstance.bridgeVeth) },
        row("dns-server-down", "DNS_SERVER_DOWN") { ($0.dhcp.namespace, nil) },
    ]
}
