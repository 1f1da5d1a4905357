import Foundation
import Namespaces
import Testing

/// A scratch Open vSwitch for mirror tests, per LAB-NOTES: ovsdb-server and
/// `ovs-vswitchd --disable-system` inside an `hscap-` namespace with their own rundir, a netdev
/// bridge `br0`, two hosts (`hscap-` namespaces) on access ports with VLAN 10, and a patch pair
/// br0:patch0 <-> br1:patch1. Daemons are stopped by their recorded PIDs, never by name.
struct ScratchOVS {
    let stem: String
    let node: String
    let hosts: [String]
    let rundir: String

    var environment: [String: String] { ["OVS_RUNDIR": rundir, "OVS_LOGDIR": rundir, "OVS_DBDIR": rundir] }
    var database: String { "unix:\(rundir)/db.sock" }

    /// The OVS port (a veth end in the node) that host `i` is attached to.
    static func hostPort(_ i: Int) -> String { "hscap-p\(i)" }
    static func hostAddress(_ i: Int) -> String { "198.18.7.\(i + 1)" }

    static func with<T>(_ body: (ScratchOVS) async throws -> T) async throws -> T {
        let stem = "hscap-o\(getpid() % 100000)-\(UInt16.random(in: 0...UInt16.max))"
        let ovs = ScratchOVS(stem: stem, node: stem + "-node", hosts: [stem + "-h0", stem + "-h1"],
                             rundir: NSTemporaryDirectory() + stem)
        do {
            try await ovs.build()
            let result = try await body(ovs)
            await ovs.remove()
            return result
        } catch {
            await ovs.remove()
            throw error
        }
    }

    @discardableResult
    func vsctl(_ args: [String], check: Bool = true) async throws -> CommandResult {
        try await HostCommand.run(["ovs-vsctl", "--db=\(database)", "--timeout=10"] + args, in: .named(node),
                                  environment: environment, check: check)
    }

    private func build() async throws {
        try FileManager.default.createDirectory(atPath: rundir, withIntermediateDirectories: true)
        try await HostCommand.run(["ip", "netns", "add", node])
        try await HostCommand.run(["ovsdb-tool", "create", "\(rundir)/conf.db", "/usr/share/openvswitch/vswitch.ovsschema"], environment: environment)
        try await HostCommand.run(["ovsdb-server", "\(rundir)/conf.db", "--remote=punix:\(rundir)/db.sock",
                                   "--pidfile=\(rundir)/ovsdb-server.pid", "--unixctl=\(rundir)/ovsdb-server.ctl",
                                   "--log-file=\(rundir)/ovsdb-server.log", "--detach"], in: .named(node), environment: environment)
        try await HostCommand.run(["ovs-vswitchd", database, "--disable-system", "--pidfile=\(rundir)/ovs-vswitchd.pid",
                                   "--log-file=\(rundir)/ovs-vswitchd.log", "--detach"], in: .named(node), environment: environment)
        try await vsctl(["--no-wait", "init"])
        try await vsctl(["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
                         "--", "add-br", "br1", "--", "set", "bridge", "br1", "datapath_type=netdev",
                         "--", "add-port", "br0", "patch0", "--", "set", "interface", "patch0", "type=patch", "options:peer=patch1",
                         "--", "add-port", "br1", "patch1", "--", "set", "interface", "patch1", "type=patch", "options:peer=patch0"])
        for (i, host) in hosts.enumerated() {
            let end = "hscap-v\(i)"
            try await HostCommand.run(["ip", "netns", "add", host])
            try await HostCommand.run(["ip", "link", "add", end, "netns", host, "type", "veth", "peer", "name", Self.hostPort(i), "netns", node])
            try await HostCommand.run(["ip", "addr", "add", Self.hostAddress(i) + "/24", "dev", end], in: .named(host))
            try await HostCommand.run(["ip", "link", "set", end, "up"], in: .named(host))
            // LAB-NOTES: unfinished checksums are dropped after the userspace datapath.
            try await HostCommand.run(["ethtool", "-K", end, "tx", "off"], in: .named(host))
            try await HostCommand.run(["ip", "link", "set", Self.hostPort(i), "up"], in: .named(node))
            try await vsctl(["add-port", "br0", Self.hostPort(i), "tag=10"])
        }
    }

    /// Pings host 1 from host 0.
    func ping(count: Int) async throws {
        try await HostCommand.run(["ping", "-n", "-q", "-c", "\(count)", "-i", "0.1", "-W", "1", Self.hostAddress(1)],
                                  in: .named(hosts[0]), timeout: .seconds(30))
    }

    /// Names of the node's links that carry the capture prefix (mirror veth pairs).
    func mirrorLinks() async throws -> [String] {
        let out = try await HostCommand.run(["ip", "-o", "link", "show"], in: .named(node)).standardOutput
        return out.split(separator: "\n").compactMap { line in
            let name = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces).split(separator: "@")[0]
            return name.hasPrefix("hscap-m") ? String(name) : nil
        }
    }

    /// Names of the mirrors in OVSDB.
    func mirrors() async throws -> [String] {
        try await vsctl(["--bare", "--columns=name", "list", "Mirror"]).standardOutput
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func remove() async {
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            if let text = try? String(contentsOfFile: "\(rundir)/\(daemon).pid", encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
        for ns in hosts + [node] {
            do { try await HostCommand.run(["ip", "netns", "del", ns], check: false) } catch { Issue.record("could not remove \(ns): \(error)") }
        }
        try? FileManager.default.removeItem(atPath: rundir)
    }
}
