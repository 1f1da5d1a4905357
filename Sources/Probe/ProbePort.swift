import Capture
import Foundation
import HopscopeModel
import Namespaces

/// A temporary probe port, the way neutron-debug makes one: a port on the instance's
/// integration bridge with the network's local VLAN tag, its other side in a new network
/// namespace of its own, from which probes are sent as if from a port of that network.
///
/// It is a veth pair plugged into the bridge rather than an OVS internal port moved into the
/// namespace: the userspace datapath (netdev) cannot follow an internal port into another
/// namespace, while a veth end works with both datapaths. Checksum offload is turned off on both
/// ends, or UDP through the userspace datapath leaves with unfinished checksums.
///
/// Everything is recorded in the `CleanupJournal` *before* it is created (namespace, veth pair,
/// OVS port), so the journal's `undoAll()` (or, after a crash, `hopscope cleanup` and the next
/// run) removes it. Names carry `prefix`, so that they are recognisable and never collide.
public struct ProbePort: Sendable {
    /// The probe's namespace: `PREFIX-probe-XXXX`.
    public var namespaceName: String
    /// The veth end in the probe namespace (where probes leave) and the one on the bridge.
    public var probeEnd: String
    public var bridgeEnd: String
    public var bridge: String
    public var tag: Int?
    public var mac: MACAddress
    public var switchNamespace: NamespaceRef

    /// The origin probes use: the probe end, with `address` when one was given.
    public func origin(address: IPv4Address?, for instance: String) -> ProbeOrigin {
        ProbeOrigin(kind: .probePort, namespaceName: namespaceName, interface: probeEnd, mac: mac, address: address,
                    label: "probe port \(bridgeEnd) on \(bridge)\(tag.map { " tag \($0)" } ?? "") (namespace \(namespaceName)) for \(instance)")
    }

    /// Creates the port on `bridge` of the Open vSwitch running in `switchNamespace`, with access
    /// VLAN `tag`. `prefix` is at most 8 characters. With `address` (CIDR), the probe end gets it,
    /// and a default route via `gateway` when that is on its subnet (what DHCP would give it).
    /// Throws `CommandError`, `SystemCallError` or `OVSLookupError`; what was created so far stays
    /// in the journal for its `undoAll()`.
    public static func create(prefix: String, bridge: String, tag: Int?, switchNamespace: NamespaceRef,
                              address: IPPrefix? = nil, gateway: IPAddress? = nil, journal: CleanupJournal) async throws -> ProbePort {
        let short = String(prefix.prefix(8))
        let stem = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        let name = "\(short)-probe-\(stem)"
        let probeEnd = "\(short)p\(stem)"
        let bridgeEnd = "\(short)b\(stem)"
        var g = SystemRandomNumberGenerator()
        // A locally administered unicast MAC: never one of the cloud's own.
        let mac = MACAddress(value: 0x02_00_00_00_00_00 | (UInt64.random(in: 0...0xFF_FFFF_FFFF, using: &g)))
        let ovs = try OVSInstance.find(in: switchNamespace)
        let switchNS: String? = switchNamespace == .current ? nil : switchNamespace.description

        try journal.record(.deleteNamespace(name: name), note: "probe namespace \(name)")
        try await HostCommand.run(["ip", "netns", "add", name])
        try await HostCommand.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], in: .named(name))
        try await HostCommand.run(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"], in: .named(name))
        try journal.record(.deleteLink(name: bridgeEnd, namespace: switchNS), note: "veth pair of probe port \(bridgeEnd)")
        try await HostCommand.run(["ip", "link", "add", bridgeEnd, "type", "veth", "peer", "name", probeEnd], in: switchNamespace)
        try await HostCommand.run(["sysctl", "-qw", "net.ipv6.conf.\(bridgeEnd).disable_ipv6=1"], in: switchNamespace)
        try await HostCommand.run(["ip", "link", "set", probeEnd, "netns", name], in: switchNamespace)
        try await HostCommand.run(["ip", "link", "set", probeEnd, "address", mac.description, "up"], in: .named(name))
        try await HostCommand.run(["ip", "link", "set", bridgeEnd, "up"], in: switchNamespace)
        try await HostCommand.run(["ethtool", "-K", probeEnd, "tx", "off"], in: .named(name), check: false)
        try await HostCommand.run(["ethtool", "-K", bridgeEnd, "tx", "off"], in: switchNamespace, check: false)
        if let address {
            try await HostCommand.run(["ip", "address", "add", address.description, "dev", probeEnd], in: .named(name))
            if let gateway, address.contains(gateway) {
                try await HostCommand.run(["ip", "route", "add", "default", "via", gateway.description], in: .named(name))
            }
        }
        try journal.record(.run(argv: ovs.vsctlArgv(["--if-exists", "del-port", bridge, bridgeEnd]), namespace: switchNS,
                                environment: ovs.environment, alreadyUndoneWhen: nil),
                           note: "OVS port of probe port \(bridgeEnd)")
        var add = ["add-port", bridge, bridgeEnd]
        if let tag { add.append("tag=\(tag)") }
        add += ["--", "set", "Interface", bridgeEnd, "external_ids:hopscope=probe", "external_ids:hopscope-pid=\(getpid())"]
        try await HostCommand.run(ovs.vsctlArgv(add), in: switchNamespace, environment: ovs.environment)
        return ProbePort(namespaceName: name, probeEnd: probeEnd, bridgeEnd: bridgeEnd, bridge: bridge, tag: tag, mac: mac,
                         switchNamespace: switchNamespace)
    }
}
