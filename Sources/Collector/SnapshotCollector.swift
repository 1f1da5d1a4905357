import Foundation
import HopscopeModel
import Namespaces
import Netfilter
import Netlink
import OpenVSwitch

/// What a collection reads and how hard it works at it.
public struct CollectorOptions: Sendable {
    /// Which namespaces are read (netlink, iptables, dnsmasq); `.all` for a snapshot.
    public var namespaces: NamespaceSelection = .all
    /// External commands (iptables-save, ovs-ofctl, ...) running at the same time.
    public var maxParallelCommands: Int = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    /// Deadline of each external command.
    public var commandTimeout: Duration = .seconds(30)
    /// Files (dnsmasq hosts and leases, domain XML) larger than this are cut, and say so.
    public var fileSizeLimit: Int = 8 << 20
    public var openVSwitch = true
    public var firewalls = true
    public var dnsmasq = true
    public var libvirt = true
    /// Where libvirt keeps domain XML: definitions, then live state.
    public var libvirtDirectories = ["/etc/libvirt/qemu", "/run/libvirt/qemu"]
    /// Written into the snapshot's `collector` field (`hopscope 0.1.0`).
    public var collectorName = "hopscope"

    public init() {}
}

/// Builds a `Snapshot` of the live machine.
///
/// The network inventory (netlink, sysctls, processes) is read on threads that enter each
/// namespace (the thread rule, inside `NetworkInventoryReader`); meanwhile Open vSwitch instances
/// are read over OVSDB and with `ovs-ofctl`/`ovs-appctl`, then every namespace's iptables, ip6tables
/// and ipset dumps, the files each dnsmasq command line names, and libvirt domain XML. External
/// commands run at most `maxParallelCommands` at a time.
///
/// Failure: only what makes the whole snapshot meaningless throws (missing CAP_SYS_ADMIN or
/// CAP_SYS_PTRACE to read every namespace: `MissingCapabilityError`). A missing tool, a daemon
/// that does not answer, an unreadable file or a namespace that vanished is a warning in the
/// snapshot (top-level, or on the piece it concerns), never a failure.
public enum SnapshotCollector {
    public static func collect(_ options: CollectorOptions = CollectorOptions()) async throws -> Snapshot {
        let started = Date()
        let clock = ContinuousClock.now
        var snapshot = Snapshot(hostname: hostName(), collectedAt: started, collector: options.collectorName)
        let selection = options.namespaces
        async let ovsInstances: [OVSInstanceSnapshot] = options.openVSwitch ? collectOpenVSwitch(options) : []
        let inventory = try await withNetworkNamespace(.current) {
            try NetworkInventoryReader.read(selection, options: InventoryOptions(processes: true, sysctls: true))
        }
        let labels = Set(inventory.namespaces.map(\.namespace.label))
        snapshot.network = inventory
        let ownInode = NamespaceDiscovery.inode(of: "/proc/self/ns/net")
        snapshot.collectorNamespace = inventory.namespaces.first { $0.namespace.inode == ownInode }?.namespace.label
        for s in inventory.skipped { snapshot.warnings.append("namespace \(s.label) was not read: \(s.reason)") }

        var ovs = await ovsInstances
        for i in ovs.indices {
            let inode = ovs[i].instance.namespaceInode
            ovs[i].namespaceLabel = inventory.namespaces.first { $0.namespace.inode == inode }?.namespace.label
        }
        if selection != .all {
            // Only the switches running in the namespaces read.
            ovs = ovs.filter { $0.namespaceLabel.map(labels.contains) == true }
        }
        if options.openVSwitch && ovs.isEmpty { snapshot.warnings.append("no Open vSwitch found (no ovs-vswitchd or ovsdb-server process)") }
        snapshot.openVSwitch = ovs

        if options.firewalls {
            let (firewalls, warnings) = await collectFirewalls(inventory, options)
            snapshot.firewalls = firewalls
            snapshot.warnings += warnings
        }
        if options.dnsmasq { snapshot.dnsmasq = collectDnsmasq(inventory, options) }
        if options.libvirt {
            let (domains, warnings) = collectLibvirt(options)
            snapshot.libvirtDomains = domains
            snapshot.warnings += warnings
        }
        let elapsed = ContinuousClock.now - clock
        snapshot.collectionSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return snapshot
    }

    // MARK: Open vSwitch

    /// Every instance's database and, per bridge, flow dump, OpenFlow ports and MAC table.
    static func collectOpenVSwitch(_ options: CollectorOptions) async -> [OVSInstanceSnapshot] {
        let instances = OVSDiscovery.discover()
        return await withTaskGroup(of: (Int, OVSInstanceSnapshot).self) { group in
            for (i, info) in instances.enumerated() {
                group.addTask { (i, await collectInstance(info, options)) }
            }
            var out = Array<OVSInstanceSnapshot?>(repeating: nil, count: instances.count)
            for await (i, s) in group { out[i] = s }
            return out.compactMap { $0 }
        }
    }

    /// One instance: the database in one OVSDB transaction, then each bridge's OpenFlow state
    /// (bridges in parallel, a few commands each). A bridge that cannot be read is a warning.
    public static func collectInstance(_ info: OVSInstanceInfo, _ options: CollectorOptions) async -> OVSInstanceSnapshot {
        let node = OVSNode(info, timeout: options.commandTimeout)
        var result = OVSInstanceSnapshot(instance: info, namespaceLabel: info.namespace, database: nil)
        let database: OVSDatabase
        do {
            database = try await withNetworkNamespace(.current) { try node.readDatabase() }
        } catch {
            result.warnings.append("OVSDB \(info.databaseSocket) of node \(info.node) could not be read: \(error)")
            return result
        }
        result.database = database
        let bridges = database.bridges
        let limit = max(1, options.maxParallelCommands / 2)
        let collected = await boundedMap(bridges, limit: limit) { bridge -> (OVSBridgeOpenFlow, [String]) in
            var warnings: [String] = []
            var of = OVSBridgeOpenFlow(bridge: bridge.name, flowDump: "")
            do {
                let dump = try await node.dumpFlows(bridge: bridge.name, protocols: bridge.protocols)
                of.dumpCommand = dump.argv
                of.flowDump = dump.text
            } catch {
                warnings.append("flows of \(info.node) \(bridge.name) could not be dumped: \(error)")
            }
            do { of.ports = try await node.openFlowPorts(bridge: bridge.name, protocols: bridge.protocols) } catch {
                warnings.append("OpenFlow ports of \(info.node) \(bridge.name) could not be read: \(error)")
            }
            if info.controlSocket != nil {
                do { of.fdb = try await node.macTable(bridge: bridge.name) } catch {
                    warnings.append("MAC table of \(info.node) \(bridge.name) could not be read: \(error)")
                }
            } else {
                warnings.append("no ovs-vswitchd control socket for node \(info.node): the MAC table of \(bridge.name) is not known")
            }
            return (of, warnings)
        }
        result.openFlow = collected.map(\.0)
        result.warnings += collected.flatMap(\.1)
        return result
    }

    // MARK: Firewalls

    /// How to enter a namespace from its inventory entry: by its name's nsfs file, by PID 1 for
    /// the host, by a process inside, or nil when nothing leads there any more.
    public static func reference(for ns: NetworkNamespace, collectorInode: UInt64?) -> NamespaceRef? {
        if ns.inode == collectorInode { return .current }
        if let name = ns.names.first {
            for dir in ["/run/netns", "/var/run/netns"] where NamespaceDiscovery.inode(of: "\(dir)/\(name)") == ns.inode {
                return .path("\(dir)/\(name)")
            }
        }
        if ns.isHost { return .process(1) }
        for p in ns.processes where NamespaceDiscovery.inode(of: "/proc/\(p.pid)/ns/net") == ns.inode { return .process(p.pid) }
        return nil
    }

    /// iptables-save, ip6tables-save and ipset save in every namespace, a bounded number at once.
    static func collectFirewalls(_ inventory: NetworkInventory, _ options: CollectorOptions) async -> ([NamespaceFirewall], [String]) {
        let own = NamespaceDiscovery.inode(of: "/proc/self/ns/net")
        let targets = inventory.namespaces.map { ($0.namespace.label, reference(for: $0.namespace, collectorInode: own)) }
        let missingTool = !HostTools.exists("iptables-save")
        if missingTool { return ([], ["iptables-save is not installed: no firewall state collected (install iptables)"]) }
        let results = await boundedMap(targets, limit: max(1, options.maxParallelCommands / 3)) { target -> NamespaceFirewall in
            let (label, ref) = target
            guard let ref else { return NamespaceFirewall(namespace: label, warnings: ["the namespace could not be entered any more"]) }
            do {
                return try await LiveFirewall.collectRules(in: ref, label: label, timeout: options.commandTimeout)
            } catch {
                return NamespaceFirewall(namespace: label, warnings: ["iptables-save failed: \(error)"])
            }
        }
        return (results, [])
    }

    // MARK: dnsmasq

    /// Every dnsmasq process of the inventory with its argument vector and the files its options name.
    static func collectDnsmasq(_ inventory: NetworkInventory, _ options: CollectorOptions) -> [DnsmasqSnapshot] {
        var out: [DnsmasqSnapshot] = []
        for ns in inventory.namespaces {
            for p in ns.namespace.processes {
                let program = p.command.split(separator: " ").first.map { String($0.split(separator: "/").last ?? "") } ?? ""
                guard program == "dnsmasq" else { continue }
                out.append(readDnsmasq(pid: p.pid, namespace: ns.namespace.label, fallbackCommand: p.command, options))
            }
        }
        return out
    }

    static func readDnsmasq(pid: Int32, namespace: String, fallbackCommand: String, _ options: CollectorOptions) -> DnsmasqSnapshot {
        var warnings: [String] = []
        var arguments: [String]
        if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty {
            arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        } else {
            arguments = fallbackCommand.split(separator: " ").map(String.init)
            warnings.append("dnsmasq \(pid) exited during the collection; its command line is the one seen before")
        }
        var snapshot = DnsmasqSnapshot(pid: pid, namespace: namespace, arguments: arguments, warnings: warnings)
        for option in DnsmasqSnapshot.fileOptions {
            for path in snapshot.option(option) where path != "/dev/null" && !path.isEmpty {
                if option.hasSuffix("dir") {
                    snapshot.files += readDirectory(path, option: option, pid: pid, options)
                } else {
                    snapshot.files.append(readFile(path, option: option, pid: pid, options))
                }
            }
        }
        return snapshot
    }

    /// Reads a file the way the process sees it (through /proc/PID/root, so a daemon in another
    /// mount namespace is read right), falling back to the path as is.
    static func readFile(_ path: String, option: String, pid: Int32?, _ options: CollectorOptions) -> CollectedFile {
        let candidates = (pid.map { ["/proc/\($0)/root\(path)"] } ?? []) + [path]
        var lastError = "not found"
        for candidate in candidates {
            guard let handle = FileHandle(forReadingAtPath: candidate) else {
                lastError = FileManager.default.fileExists(atPath: candidate) ? "permission denied" : "no such file"
                continue
            }
            defer { try? handle.close() }
            do {
                let data = try handle.read(upToCount: options.fileSizeLimit + 1) ?? Data()
                let truncated = data.count > options.fileSizeLimit
                return CollectedFile(option: option, path: path, content: String(decoding: data.prefix(options.fileSizeLimit), as: UTF8.self),
                                     truncated: truncated)
            } catch {
                lastError = "\(error)"
            }
        }
        return CollectedFile(option: option, path: path, content: nil, error: lastError)
    }

    static func readDirectory(_ path: String, option: String, pid: Int32?, _ options: CollectorOptions) -> [CollectedFile] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            return [CollectedFile(option: option, path: path, content: nil, error: "directory cannot be listed")]
        }
        return names.sorted().prefix(256).map { readFile("\(path)/\($0)", option: option, pid: pid, options) }
    }

    // MARK: libvirt

    static func collectLibvirt(_ options: CollectorOptions) -> ([LibvirtDomainFile], [String]) {
        var domains: [LibvirtDomainFile] = []
        var warnings: [String] = []
        for dir in options.libvirtDirectories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where name.hasSuffix(".xml") {
                let f = readFile("\(dir)/\(name)", option: "libvirt", pid: nil, options)
                if let xml = f.content { domains.append(LibvirtDomainFile(path: f.path, xml: xml)) } else {
                    warnings.append("libvirt domain \(f.path) could not be read: \(f.error ?? "unknown error")")
                }
            }
        }
        return (domains, warnings)
    }

    // MARK: Helpers

    /// The machine's host name. Wraps `gethostname`.
    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, 255) == 0 else { return "localhost" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Maps `items` through an async `body`, at most `limit` at a time, keeping the order.
    static func boundedMap<T: Sendable, R: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) async -> R) async -> [R] {
        await withTaskGroup(of: (Int, R).self) { group in
            var results = Array<R?>(repeating: nil, count: items.count)
            var next = 0
            for _ in 0..<min(limit, items.count) {
                let i = next
                group.addTask { (i, await body(items[i])) }
                next += 1
            }
            for await (i, r) in group {
                results[i] = r
                if next < items.count {
                    let j = next
                    group.addTask { (j, await body(items[j])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// Looks programs up in PATH without running them.
enum HostTools {
    static func exists(_ program: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(program)") }
    }
}
