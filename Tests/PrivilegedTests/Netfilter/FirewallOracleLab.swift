import Foundation
import HopscopeModel
import Namespaces
import Netfilter
import NetfilterTestSupport

/// A compute node and a router in `hsnf-` namespaces, wired like Neutron's OVS hybrid setup:
///
/// ```
///  vm1 eth0 ── tapA [cmp: qbrA, br_netfilter on] qvbA ── qvoA ┐
///  vm2 eth0 ── tapB [cmp: qbrB]                  qvbB ── qvoB ├ [int: br-int, a plain bridge]
///                                  rtr qr- (10.0.0.1) ── intqr ┘
///  rtr qg- (203.0.113.2, FIP 203.0.113.10) ── eth0 ext
/// ```
///
/// The VMs and ext only send and absorb frames (no addresses, so they never answer); static
/// neighbours and FDB entries keep ARP and flooding out of the counters. Every namespace is
/// deleted by `down()`.
final class FirewallOracleLab: @unchecked Sendable {
    let tag = "hsnf-\(getpid() % 100000)"
    var vm1: String { "\(tag)-vm1" }
    var vm2: String { "\(tag)-vm2" }
    var cmp: String { "\(tag)-cmp" }
    var int: String { "\(tag)-int" }
    var rtr: String { "\(tag)-rtr" }
    var ext: String { "\(tag)-ext" }
    var all: [String] { [vm1, vm2, cmp, int, rtr, ext] }
    private(set) var created: [String] = []

    let p1 = NeutronRules.vm1, p2 = NeutronRules.vm2
    let qr = "qr-aaaa1111-22", qg = "qg-bbbb2222-33"
    let vm1MAC = MACAddress("fa:16:3e:aa:bb:01")!, vm2MAC = MACAddress("fa:16:3e:aa:bb:02")!
    let qrMAC = MACAddress("fa:16:3e:00:00:01")!, qgMAC = MACAddress("fa:16:3e:00:00:02")!
    let extMAC = MACAddress("02:00:00:00:00:09")!

    private func sh(_ argv: [String], in ns: String? = nil, input: String? = nil) async throws {
        try await HostCommand.run(argv, in: ns.map { .named($0) } ?? .current, input: input, timeout: .seconds(30))
    }

    private func veth(_ a: String, in nsA: String, _ b: String, in nsB: String, macA: MACAddress? = nil) async throws {
        var argv = ["ip", "link", "add", "name", a, "netns", nsA]
        if let macA { argv += ["address", "\(macA)"] }
        argv += ["type", "veth", "peer", "name", b, "netns", nsB]
        try await sh(argv)
        try await sh(["ip", "-n", nsA, "link", "set", a, "up"])
        try await sh(["ip", "-n", nsB, "link", "set", b, "up"])
    }

    func up() async throws {
        await removeLeftovers()
        for ns in all {
            try await sh(["ip", "netns", "add", ns])
            created.append(ns)
            try await sh(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"], in: ns)
            try await sh(["ip", "link", "set", "lo", "up"], in: ns)
        }
        // Compute node: one qbr bridge per port, br_netfilter on in this namespace only.
        try await sh(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], in: cmp)
        try await sh(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"], in: int)
        for (port, vm, mac) in [(p1, vm1, vm1MAC), (p2, vm2, vm2MAC)] {
            // No multicast snooping: a snooping bridge joins 224.0.0.106 and sends IGMP reports,
            // which would move counters no probe sent.
            try await sh(["ip", "link", "add", "name", port.qbr, "type", "bridge", "mcast_snooping", "0"], in: cmp)
            try await veth("eth0", in: vm, port.tap, in: cmp, macA: mac)
            try await veth(port.qvb, in: cmp, port.qvo, in: int)
            try await sh(["ip", "link", "set", port.tap, "master", port.qbr], in: cmp)
            try await sh(["ip", "link", "set", port.qvb, "master", port.qbr], in: cmp)
            try await sh(["ip", "link", "set", port.qbr, "up"], in: cmp)
        }
        // Integration bridge (plain Linux bridge standing in for br-int) and the router.
        try await sh(["ip", "link", "add", "name", "br-int", "type", "bridge", "mcast_snooping", "0"], in: int)
        try await veth(qr, in: rtr, "intqr", in: int, macA: qrMAC)
        try await veth(qg, in: rtr, "eth0", in: ext, macA: qgMAC)
        try await sh(["ip", "link", "set", "eth0", "address", "\(extMAC)"], in: ext)
        for port in ["intqr", p1.qvo, p2.qvo] { try await sh(["ip", "link", "set", port, "master", "br-int"], in: int) }
        try await sh(["ip", "link", "set", "br-int", "up"], in: int)
        // Known destinations only: no flooding of unicast, broadcast stops at br-int.
        for (mac, dev, ns) in [(vm1MAC, p1.qvo, int), (vm2MAC, p2.qvo, int), (qrMAC, "intqr", int),
                               (vm1MAC, p1.tap, cmp), (vm2MAC, p1.qvb, cmp), (qrMAC, p1.qvb, cmp),
                               (vm2MAC, p2.tap, cmp), (vm1MAC, p2.qvb, cmp), (qrMAC, p2.qvb, cmp)] {
            try await sh(["bridge", "fdb", "replace", "\(mac)", "dev", dev, "master", "static"], in: ns)
        }
        for dev in [p2.qvo, "intqr"] { try await sh(["bridge", "link", "set", "dev", dev, "bcast_flood", "off"], in: int) }
        // Router: addresses, forwarding, no answers of its own, static neighbours.
        try await sh(["ip", "addr", "add", "10.0.0.1/24", "dev", qr], in: rtr)
        try await sh(["ip", "addr", "add", "203.0.113.2/24", "dev", qg], in: rtr)
        try await sh(["ip", "addr", "add", "203.0.113.10/32", "dev", qg], in: rtr)
        try await sh(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_echo_ignore_all=1", "net.ipv4.conf.all.send_redirects=0"], in: rtr)
        try await sh(["ip", "neigh", "replace", "10.0.0.5", "lladdr", "\(vm1MAC)", "dev", qr, "nud", "permanent"], in: rtr)
        try await sh(["ip", "neigh", "replace", "10.0.0.6", "lladdr", "\(vm2MAC)", "dev", qr, "nud", "permanent"], in: rtr)
        try await sh(["ip", "neigh", "replace", "203.0.113.9", "lladdr", "\(extMAC)", "dev", qg, "nud", "permanent"], in: rtr)
        // Rules, as Neutron's agents would write them (the remote-group ipset first).
        try await sh(["ipset", "restore"], in: cmp, input: NeutronRules.remoteGroupIPSets)
        try await sh(["iptables-restore"], in: cmp, input: NeutronRules.hybridCompute([p1, p2], header: false))
        try await sh(["iptables-restore"], in: rtr, input: NeutronRules.legacyRouter(
            qr: qr, qg: qg, gatewayIP: "203.0.113.2", floatingIPs: [(fixed: "10.0.0.5", floating: "203.0.113.10")]))
        // Conntrack must not refuse the probes whose transport checksum is wrong on purpose.
        for ns in [cmp, rtr] { try await sh(["sysctl", "-qw", "net.netfilter.nf_conntrack_checksum=0"], in: ns) }
    }

    /// Deletes `hsnf-PID-*` namespaces of earlier runs whose process is gone (a crashed run
    /// cannot clean up after itself). Namespaces of live processes are left alone.
    func removeLeftovers() async {
        guard let names = try? await HostCommand.run(["ip", "netns", "list"]).standardOutput else { return }
        for line in names.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "hsnf", let pid = Int32(parts[1]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? await HostCommand.run(["ip", "netns", "del", name], check: false)
            }
        }
    }

    /// Deletes every namespace this lab created (their devices go with them).
    func down() async {
        for ns in created.reversed() {
            _ = try? await HostCommand.run(["ip", "netns", "del", ns], check: false)
        }
        created.removeAll()
    }
}
