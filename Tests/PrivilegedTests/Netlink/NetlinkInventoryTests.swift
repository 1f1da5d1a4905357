import Foundation
import HopscopeModel
import Namespaces
import Netlink
import Testing

/// A small topology in `hsnl-` namespaces, checked field by field against `ip -j` and `bridge -j`.
///
///   hsnl-…-a: br0 (192.0.2.1/24, 2001:db8:1::1/64) with ports a1 and a2 and vx0 (vxlan 42);
///             routes in tables 100 and 200, two rules, a permanent neighbour, static FDB entries
///   hsnl-…-b: b1 (veth peer of a1), ip_forward=1, rp_filter=2
///   hsnl-…-c: c1 (veth peer of a2), c2 <-> c3 (a veth pair inside one namespace)
@Suite(.serialized) struct NetlinkInventoryTests {
    static func names() -> (a: String, b: String, c: String) {
        let stem = "hsnl-t\(getpid() % 100000)\(UInt16.random(in: 0...999))"
        return ("\(stem)-a", "\(stem)-b", "\(stem)-c")
    }

    static func build(_ a: String, _ b: String, _ c: String) async throws {
        for ns in [a, b, c] { try await HostCommand.run(["ip", "netns", "add", ns]) }
        let script: [(String, [String])] = [
            (a, ["ip", "link", "add", "a1", "type", "veth", "peer", "name", "b1", "netns", b]),
            (a, ["ip", "link", "add", "a2", "type", "veth", "peer", "name", "c1", "netns", c]),
            (c, ["ip", "link", "add", "c2", "type", "veth", "peer", "name", "c3"]),
            (a, ["ip", "link", "add", "br0", "type", "bridge"]),
            (a, ["ip", "link", "set", "a1", "master", "br0"]),
            (a, ["ip", "link", "set", "a2", "master", "br0"]),
            (a, ["ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "local", "192.0.2.1", "remote", "198.51.100.9", "dstport", "4789", "dev", "lo"]),
            (a, ["ip", "link", "set", "vx0", "master", "br0"]),
            (a, ["ip", "link", "set", "br0", "up"]), (a, ["ip", "link", "set", "a1", "up"]), (a, ["ip", "link", "set", "a2", "up"]),
            (a, ["ip", "link", "set", "vx0", "up"]), (a, ["ip", "link", "set", "lo", "up"]),
            (b, ["ip", "link", "set", "b1", "up"]), (c, ["ip", "link", "set", "c1", "up"]), (c, ["ip", "link", "set", "c2", "up"]),
            (a, ["ip", "addr", "add", "192.0.2.1/24", "dev", "br0"]),
            (a, ["ip", "addr", "add", "2001:db8:1::1/64", "dev", "br0", "nodad"]),
            (b, ["ip", "addr", "add", "192.0.2.2/24", "dev", "b1"]),
            (c, ["ip", "addr", "add", "10.77.0.1", "peer", "10.77.0.2/32", "dev", "c2"]),
            (a, ["ip", "route", "add", "203.0.113.0/24", "via", "192.0.2.2", "dev", "br0", "table", "100"]),
            (a, ["ip", "route", "add", "blackhole", "198.18.0.0/15", "table", "100"]),
            (a, ["ip", "-6", "route", "add", "2001:db8:9::/48", "via", "2001:db8:1::2", "dev", "br0", "table", "200", "metric", "50"]),
            (a, ["ip", "rule", "add", "from", "192.0.2.0/24", "lookup", "100", "priority", "1000"]),
            (a, ["ip", "rule", "add", "fwmark", "0x10", "lookup", "200", "priority", "1001"]),
            (a, ["ip", "-6", "rule", "add", "from", "2001:db8:1::/64", "lookup", "200", "priority", "1002"]),
            (a, ["ip", "neigh", "add", "192.0.2.50", "lladdr", "02:00:00:00:00:50", "dev", "br0", "nud", "permanent"]),
            (a, ["ip", "-6", "neigh", "add", "2001:db8:1::50", "lladdr", "02:00:00:00:00:51", "dev", "br0", "nud", "reachable"]),
            (a, ["bridge", "fdb", "add", "02:00:00:00:00:52", "dev", "a1", "master", "static"]),
            (a, ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", "198.51.100.10"]),
            (b, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            (b, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2"]),
            (b, ["sysctl", "-qw", "net.ipv4.conf.b1.proxy_arp=1"]),
        ]
        for (ns, argv) in script { try await HostCommand.run(argv, in: .named(ns)) }
    }

    static func teardown(_ namespaces: [String]) async {
        for ns in namespaces { _ = try? await HostCommand.run(["ip", "netns", "del", ns], check: false) }
    }

    @Test func inventoryAgreesWithIPFieldByFieldAndResolvesPeers() async throws {
        try requireRoot()
        let (a, b, c) = Self.names()
        do {
            try await Self.build(a, b, c)
            let inv = try NetworkInventoryReader.read(.some([a, b, c]))
            #expect(inv.skipped.isEmpty)
            for label in [a, b, c] {
                let ns = try #require(inv.namespace(labelled: label))
                #expect(ns.warnings.isEmpty, "\(ns.warnings)")
                try await IPOracle.compareEverything(ns, ns: label)
            }
            let nsA = try #require(inv.namespace(labelled: a)), nsB = try #require(inv.namespace(labelled: b)), nsC = try #require(inv.namespace(labelled: c))
            // Veth peers across namespaces, both directions, and inside one namespace.
            #expect(nsA.link(named: "a1")?.vethPeer?.description == "b1@\(b)")
            #expect(nsB.link(named: "b1")?.vethPeer?.description == "a1@\(a)")
            #expect(nsA.link(named: "a2")?.vethPeer?.description == "c1@\(c)")
            #expect(nsC.link(named: "c1")?.vethPeer?.description == "a2@\(a)")
            #expect(nsC.link(named: "c2")?.vethPeer?.description == "c3@\(c)")
            #expect(inv.link(try #require(nsA.link(named: "a1")?.vethPeer))?.name == "b1")
            // Bridge masters and port state.
            for port in ["a1", "a2", "vx0"] {
                let l = try #require(nsA.link(named: port))
                #expect(l.bridgeMaster?.description == "br0@\(a)")
                #expect(l.bridgePort?.stpState == .forwarding || l.bridgePort?.stpState == .disabled)
            }
            #expect(nsA.link(named: "br0")?.bridge?.stpEnabled == false)
            // The vxlan device, as created.
            let vx = try #require(nsA.link(named: "vx0")?.tunnel)
            #expect(vx.vni == 42 && vx.destinationPort == 4789 && vx.underlyingDevice == "lo")
            #expect(vx.tunnelRemoteIP == IPAddress("198.51.100.9") && vx.tunnelLocalIP == IPAddress("192.0.2.1"))
            #expect(nsA.fdb.contains { $0.interface == "vx0" && $0.tunnelRemoteIP == IPAddress("198.51.100.10") })
            // Namespace ids are labelled with the namespaces they designate.
            #expect(nsA.namespaceIDs.compactMap(\.namespace).sorted() == [b, c].sorted())
            #expect(nsB.namespaceIDs.compactMap(\.namespace) == [a])
            // Statistics are there (64-bit counters).
            #expect(nsA.link(named: "a1")?.statistics != nil)
        } catch {
            await Self.teardown([a, b, c])
            throw error
        }
        await Self.teardown([a, b, c])
    }

    /// /proc/sys/net is read inside each namespace: values set only in b show only in b, and the
    /// per-interface values from the link dump equal the /proc/sys files read by `sysctl`.
    @Test func sysctlsArePerNamespaceAndAgreeWithSysctl() async throws {
        try requireRoot()
        let (a, b, c) = Self.names()
        do {
            try await Self.build(a, b, c)
            let inv = try NetworkInventoryReader.read(.some([a, b]))
            let sa = try #require(inv.namespace(labelled: a)).sysctls, sb = try #require(inv.namespace(labelled: b)).sysctls
            #expect(sb.ipv4Forwarding == true)
            #expect(sa.ipv4Forwarding == false)
            #expect(sb.rpFilterAll == 2)
            #expect(sb.proxyARP["b1"] == true)
            #expect(sb.effectiveRPFilter(on: "b1") == 2)
            for (label, s) in [(a, sa), (b, sb)] {
                for (name, value) in s.rpFilter {
                    let out = try await HostCommand.run(["sysctl", "-n", "net/ipv4/conf/\(name)/rp_filter"], in: .named(label)).standardOutput
                    #expect(Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) == value, "rp_filter of \(name)@\(label)")
                }
                let fwd = try await HostCommand.run(["sysctl", "-n", "net.ipv4.ip_forward"], in: .named(label)).standardOutput
                #expect((fwd.trimmingCharacters(in: .whitespacesAndNewlines) == "1") == s.ipv4Forwarding)
            }
        } catch {
            await Self.teardown([a, b, c])
            throw error
        }
        await Self.teardown([a, b, c])
    }

    @Test func namespaceThatDisappearsBeforeItIsReadIsSkippedNotFatal() async throws {
        try requireRoot()
        let (a, b, c) = Self.names()
        do {
            for ns in [a, b] { try await HostCommand.run(["ip", "netns", "add", ns]) }
            let found = NamespaceDiscovery.discover(includeProcesses: false)
            let mine = found.namespaces.filter { [a, b].contains($0.namespace.label) }
            #expect(mine.count == 2)
            try await HostCommand.run(["ip", "netns", "del", b])
            let inv = try NetworkInventoryReader.read(namespaces: mine, allNamespaces: found.namespaces)
            #expect(inv.namespaces.map(\.namespace.label) == [a])
            #expect(inv.skipped.map(\.label) == [b])
            #expect(inv.skipped.first?.reason.contains("disappeared") == true)
            #expect(throws: UnknownNamespaceError.self) { try NetworkInventoryReader.read(.some([b])) }
        } catch {
            await Self.teardown([a, b, c])
            throw error
        }
        await Self.teardown([a, b, c])
    }

    @Test func discoveryFindsNamedAndProcessHeldNamespacesOnceByInode() async throws {
        try requireRoot()
        let (a, _, _) = Self.names()
        try await HostCommand.run(["ip", "netns", "add", a])
        // A process inside the named namespace: it must be listed under the name, not twice.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/ip")
        sleeper.arguments = ["netns", "exec", a, "sleep", "30"]
        try sleeper.run()
        defer { if sleeper.isRunning { kill(sleeper.processIdentifier, SIGKILL) } }
        var listed: DiscoveredNamespace?
        for _ in 0..<50 {
            listed = NamespaceDiscovery.discover().namespaces.first { $0.namespace.label == a }
            if listed?.namespace.processes.contains(where: { $0.command.hasPrefix("sleep 30") }) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let all = NamespaceDiscovery.discover().namespaces
        #expect(Set(all.map(\.namespace.inode)).count == all.count, "each namespace once")
        #expect(listed?.namespace.processes.contains { $0.command == "sleep 30" } == true)
        #expect(listed?.namespace.inode == NamespaceDiscovery.inode(of: "/run/netns/\(a)"))
        kill(sleeper.processIdentifier, SIGKILL)
        sleeper.waitUntilExit()
        await Self.teardown([a])
    }

    @Test func withoutPrivilegesTheCLISaysWhichCapabilityIsMissing() async throws {
        try requireRoot()
        let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug/hopscope").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the hopscope executable first (swift build)")
        let r = try await HostCommand.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                           binary, "links", "--all"], check: false)
        #expect(r.exitCode == 2)
        let lines = r.standardError.split(separator: "\n")
        #expect(lines.count == 1, "one clear sentence: \(r.standardError)")
        #expect(r.standardError.contains("CAP_SYS_ADMIN"))
        #expect(r.standardError.contains("run hopscope as root"))
    }
}
