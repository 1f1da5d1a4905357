/// The raw firewall state of one namespace as the evaluator takes it: the save texts (the
/// provenance; parsed on load with `FirewallRuleset.parse`), plus the facts netfilter needs from
/// outside iptables: whether bridged frames meet iptables, and the interface addresses.
///
/// A `Snapshot` does not store this value: it keeps the save texts (`NamespaceFirewall`) and the
/// inventory keeps addresses and sysctls; `Snapshot.firewallDumps(namespace:)` joins them.
/// `evaluator()` lives in the Netfilter module.
public struct FirewallDumps: Hashable, Sendable, Codable {
    /// `iptables-save -c` output; nil when the command is missing.
    public var iptablesSave: String?
    /// `ip6tables-save -c` output; nil when the command is missing.
    public var ip6tablesSave: String?
    /// `ipset save` output; nil when ipset is missing or the namespace has no sets.
    public var ipsetSave: String?
    /// `net.bridge.bridge-nf-call-iptables` / `-ip6tables`; nil when br_netfilter is not loaded.
    public var bridgeCallsIptables: Bool?
    public var bridgeCallsIp6tables: Bool?
    /// Interface addresses by interface name (every interface, an empty list for those without),
    /// for MASQUERADE, REDIRECT and `-m addrtype`.
    public var interfaceAddresses: [String: [IPPrefix]]

    public init(iptablesSave: String? = nil, ip6tablesSave: String? = nil, ipsetSave: String? = nil,
                bridgeCallsIptables: Bool? = nil, bridgeCallsIp6tables: Bool? = nil, interfaceAddresses: [String: [IPPrefix]] = [:]) {
        self.iptablesSave = iptablesSave
        self.ip6tablesSave = ip6tablesSave
        self.ipsetSave = ipsetSave
        self.bridgeCallsIptables = bridgeCallsIptables
        self.bridgeCallsIp6tables = bridgeCallsIp6tables
        self.interfaceAddresses = interfaceAddresses
    }

    /// The dumps of a namespace from its save texts and its inventory (addresses, br_netfilter sysctls).
    public init(rules: NamespaceFirewall, inventory: NamespaceInventory?) {
        self.init(iptablesSave: rules.iptablesSave, ip6tablesSave: rules.ip6tablesSave, ipsetSave: rules.ipsetSave)
        guard let inventory else { return }
        bridgeCallsIptables = inventory.sysctls.bridgeNFCallIptables
        bridgeCallsIp6tables = inventory.sysctls.bridgeNFCallIp6tables
        interfaceAddresses = inventory.addressesByInterface
    }
}

extension NamespaceInventory {
    /// Every interface's addresses (with prefix length) by interface name, in dump order;
    /// interfaces without an address map to an empty list.
    public var addressesByInterface: [String: [IPPrefix]] {
        var out: [String: [IPPrefix]] = [:]
        var names: [Int: String] = [:]
        for l in links {
            names[l.index] = l.name
            out[l.name] = []
        }
        for a in addresses {
            guard let name = a.interface ?? names[a.interfaceIndex] else { continue }
            out[name, default: []].append(a.prefix)
        }
        return out
    }
}
