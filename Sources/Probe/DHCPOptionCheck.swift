import Diagnosis
import HopscopeModel
import Topology

/// One offered DHCP value checked against what the instance's network says it should be.
public struct DHCPOptionCheck: Sendable, Codable, Hashable {
    /// `address`, `subnet mask`, `router`, `dns-server`, `mtu`.
    public var option: String
    public var offered: String
    /// What it should be, and where that comes from.
    public var expected: String
    public var ok: Bool

    public init(option: String, offered: String, expected: String, ok: Bool) {
        self.option = option
        self.offered = offered
        self.expected = expected
        self.ok = ok
    }

    /// Checks a DHCP offer or ack against the snapshot: the address is the instance's own (its
    /// port's), the mask is the subnet's, the router is the router interface on the subnet (else
    /// what the server is configured to give), the DNS server is the instance's resolver, and the
    /// MTU fits the instance's tap (which the agent sets to the network's MTU). Pure.
    public static func check(_ reply: DHCPReply, instance: Instance, services: InstanceServices, topology: Topology) -> [DHCPOptionCheck] {
        var out: [DHCPOptionCheck] = []
        func list(_ a: [IPv4Address]) -> String { a.isEmpty ? "(none)" : a.map(\.description).joined(separator: ",") }
        if let ip = instance.ipv4 {
            out.append(DHCPOptionCheck(option: "address", offered: reply.yourAddress?.description ?? "(none)",
                                       expected: "\(ip) (the instance's port)", ok: reply.yourAddress.map { IPAddress.v4($0) } == ip))
        }
        if let subnet = services.subnet {
            let length = reply.subnetMask.map { $0.value.nonzeroBitCount }
            out.append(DHCPOptionCheck(option: "subnet mask", offered: reply.subnetMask.map { "\($0) (/\(length!))" } ?? "(none)",
                                       expected: "/\(subnet.length) (the subnet \(subnet))", ok: length == subnet.length))
        }
        if let (router, how) = expectedRouter(services: services, topology: topology) {
            out.append(DHCPOptionCheck(option: "router", offered: list(reply.router), expected: "\(router) (\(how))",
                                       ok: reply.router.first.map { IPAddress.v4($0) } == router))
        }
        if let resolver = services.resolver(topology: topology) {
            out.append(DHCPOptionCheck(option: "dns-server", offered: list(reply.dnsServers), expected: "\(resolver.address) (the instance's resolver)",
                                       ok: reply.dnsServers.contains { IPAddress.v4($0) == resolver.address }))
        }
        if let tap = topology.interface(instance.tap), tap.link.mtu > 0 {
            out.append(DHCPOptionCheck(option: "mtu", offered: reply.mtu.map(String.init) ?? "(none)",
                                       expected: "at most \(tap.link.mtu) (the MTU of \(tap.name), the network's)",
                                       ok: reply.mtu.map { $0 <= tap.link.mtu } ?? false))
        }
        return out
    }

    /// The gateway the instance should be given: a router's interface on its subnet, else the
    /// router option its DHCP server is configured with.
    static func expectedRouter(services: InstanceServices, topology: Topology) -> (IPAddress, String)? {
        if let subnet = services.subnet {
            for ns in topology.namespaceOrder where topology.namespace(ns)?.isRouter == true {
                if let a = topology.namespace(ns)!.inventory.addresses.first(where: { subnet.contains($0.prefix.address) && $0.prefix.length == subnet.length }) {
                    return (a.prefix.address, "the router interface \(a.interface ?? "?") of \(ns.label)")
                }
            }
        }
        return services.dhcpRouter.map { ($0, "the server's router option") }
    }
}
