import HopscopeModel
import Topology

/// What an instance's network gives it, read from the snapshots: its subnet, the DHCP
/// namespaces and dnsmasq processes serving it, the DHCP options they hand out (router, DNS
/// server, MTU) and the DNS server it resolves with, with that server's upstreams.
///
/// Pure; built once per diagnosis and shared by the planner and the checks.
public struct InstanceServices: Sendable {
    /// One DHCP option as dnsmasq is told it (`--dhcp-option=…`, a line of `--dhcp-optsfile`).
    public struct DHCPOption: Sendable, Hashable {
        public var tags: [String]
        /// `router`, `dns-server`, `mtu`, ... (numbers given as numbers are named: 3, 6, 26).
        public var name: String
        public var values: [String]
        /// Where it was read, as evidence text: the option as written.
        public var raw: String
        public var source: String
    }

    public let subnet: IPPrefix?
    /// DHCP namespaces on the instance's subnet (`qdhcp-…`, or any namespace running dnsmasq on it).
    public let dhcpNamespaces: [NamespaceID]
    /// The dnsmasq processes of those namespaces.
    public let dhcpServers: [DHCPServer]
    /// The options those servers give the instance's subnet.
    public let options: [DHCPOption]

    public init(topology: Topology, instance: Instance) {
        let subnet = InstanceServices.subnet(of: instance, in: topology)
        self.subnet = subnet
        var namespaces: [NamespaceID] = []
        if let subnet {
            for ns in topology.namespaceOrder {
                guard let node = topology.namespace(ns) else { continue }
                let onSubnet = node.inventory.addresses.contains { subnet.contains($0.prefix.address) && $0.prefix.length == subnet.length }
                let serves = node.neutronKind == "qdhcp" || topology.dhcpServers.contains { $0.namespace == ns }
                if onSubnet && serves { namespaces.append(ns) }
            }
        }
        dhcpNamespaces = namespaces
        let servers = topology.dhcpServers.filter { namespaces.contains($0.namespace) }
        dhcpServers = servers
        var options: [DHCPOption] = []
        for s in servers {
            let tags = InstanceServices.rangeTags(s, subnet: subnet)
            for a in s.arguments {
                for flag in ["--dhcp-option=", "--dhcp-option-force="] where a.hasPrefix(flag) {
                    if let o = InstanceServices.parseOption(String(a.dropFirst(flag.count)), source: "dnsmasq \(s.pid) command line"),
                       o.tags.isEmpty || !Set(o.tags).isDisjoint(with: tags) { options.append(o) }
                }
            }
            for line in s.optionLines {
                if let o = InstanceServices.parseOption(line, source: "dnsmasq \(s.pid) --dhcp-optsfile"),
                   o.tags.isEmpty || !Set(o.tags).isDisjoint(with: tags) { options.append(o) }
            }
        }
        self.options = options
    }

    /// The first value of an option.
    public func option(_ name: String) -> DHCPOption? { options.first { $0.name == name } }

    /// The router (gateway) the DHCP server gives the instance.
    public var dhcpRouter: IPAddress? { option("router")?.values.first.flatMap { IPAddress($0) } }

    /// The MTU the DHCP server gives the instance's network.
    public var dhcpMTU: Int? { option("mtu")?.values.first.flatMap { Int($0) } }

    /// The DNS server the instance resolves with, and how that is known: the DHCP dns-server
    /// option, else the dnsmasq itself when it serves DNS on port 53 (dnsmasq then names itself).
    /// Nil when DHCP gives the instance no DNS server.
    public func resolver(topology: Topology) -> (address: IPAddress, how: String, server: DHCPServer?)? {
        if let o = option("dns-server"), let first = o.values.compactMap({ IPAddress($0) }).first(where: { $0 != .v4(.any) }) {
            let server = topology.dhcpServers.first { s in topology.addressOwners[first]?.contains { $0.namespace == s.namespace } == true }
            return (first, "the DHCP dns-server option \"\(o.raw)\" (\(o.source))", server)
        }
        for s in dhcpServers where InstanceServices.dnsPort(s) == 53 {
            if let a = address(of: s.namespace, in: topology) {
                return (a, "dnsmasq \(s.pid) in \(s.namespace.label), which names itself as DNS server in its DHCP replies", s)
            }
        }
        return nil
    }

    /// The address a namespace has on the instance's subnet.
    public func address(of ns: NamespaceID, in topology: Topology) -> IPAddress? {
        guard let inv = topology.namespace(ns)?.inventory, let subnet else { return nil }
        return inv.addresses.first { subnet.contains($0.prefix.address) && $0.prefix.length == subnet.length }?.prefix.address
    }

    /// The DNS port of a dnsmasq (`--port=N`; 0 disables DNS; 53 when not given).
    public static func dnsPort(_ s: DHCPServer) -> Int {
        for a in s.arguments.reversed() where a.hasPrefix("--port=") { return Int(a.dropFirst(7)) ?? 53 }
        if let i = s.arguments.lastIndex(of: "-p"), i + 1 < s.arguments.count { return Int(s.arguments[i + 1]) ?? 53 }
        return 53
    }

    /// A dnsmasq's upstream servers (`--server=ADDR`, `--server=/domain/ADDR`, `ADDR#PORT`), each
    /// with the argument that names it.
    public static func upstreams(_ s: DHCPServer) -> [(address: IPAddress, argument: String)] {
        var out: [(IPAddress, String)] = []
        for a in s.arguments where a.hasPrefix("--server=") || a.hasPrefix("-S") {
            let value = a.hasPrefix("-S") ? String(a.dropFirst(2)) : String(a.dropFirst(9))
            let last = value.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? value
            let host = last.split(separator: "#").first.map(String.init) ?? last
            if let ip = IPAddress(host), !out.contains(where: { $0.0 == ip }) { out.append((ip, a)) }
        }
        return out
    }

    // MARK: Parsing

    /// The subnet the instance's address is in: its own interface's prefix when it is a
    /// namespace, else the prefix of another interface of the snapshots that holds it (a router
    /// or DHCP port on the same subnet).
    static func subnet(of instance: Instance, in topology: Topology) -> IPPrefix? {
        guard let ip = instance.ipv4 else { return nil }
        if let nic = instance.nic, let p = topology.interface(nic)?.addresses.first(where: { $0.address == ip && $0.length < 32 }) {
            return IPPrefix(address: p.network, length: p.length)
        }
        for ns in topology.namespaceOrder {
            for a in topology.namespace(ns)!.inventory.addresses where a.prefix.length < a.prefix.address.bitWidth && a.prefix.address != ip {
                let net = IPPrefix(address: a.prefix.network, length: a.prefix.length)
                if net.contains(ip) { return net }
            }
        }
        return nil
    }

    /// The tags a dnsmasq's `--dhcp-range`s for the subnet set (`set:subnet-…`).
    static func rangeTags(_ s: DHCPServer, subnet: IPPrefix?) -> Set<String> {
        var tags = Set<String>()
        for r in s.ranges {
            let parts = r.split(separator: ",").map(String.init)
            let addresses = parts.compactMap { IPAddress($0) }
            guard subnet.map({ s in addresses.contains { s.contains($0) } }) ?? true else { continue }
            for p in parts where p.hasPrefix("set:") { tags.insert(String(p.dropFirst(4))) }
        }
        return tags
    }

    static let optionNumbers = ["3": "router", "6": "dns-server", "26": "mtu", "15": "domain-name", "121": "classless-static-route"]

    /// Parses `[tag:T,…]option:NAME,VALUE…` or `[tag:T,]NUMBER,VALUE…`.
    static func parseOption(_ text: String, source: String) -> DHCPOption? {
        var tags: [String] = []
        var rest = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        while let first = rest.first, first.hasPrefix("tag:") || first.hasPrefix("set:") || first.hasPrefix("encap:") || first.hasPrefix("vendor:") {
            if first.hasPrefix("tag:") { tags.append(String(first.dropFirst(4))) }
            rest.removeFirst()
        }
        guard let head = rest.first else { return nil }
        let name: String
        if head.hasPrefix("option:") {
            name = String(head.dropFirst(7))
        } else if let n = optionNumbers[head] {
            name = n
        } else if Int(head) != nil {
            name = head
        } else {
            return nil
        }
        return DHCPOption(tags: tags, name: name, values: Array(rest.dropFirst()), raw: text, source: source)
    }
}
