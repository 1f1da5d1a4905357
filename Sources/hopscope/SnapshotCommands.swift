import ArgumentParser
import Capture
import Collector
import Foundation
import HopscopeModel
import Namespaces
import Netlink

extension CommandGroups {
    static var snapshot: [any ParsableCommand.Type] { [SnapshotCommand.self] }
}

/// `--snapshot FILE` (repeatable): analyse saved snapshots instead of the live machine.
struct SnapshotOptions: ParsableArguments {
    @Option(name: .customLong("snapshot"), help: ArgumentHelp(
        "Read this snapshot (from `hopscope snapshot -o FILE`) instead of the live machine; repeatable, one per node.",
        valueName: "FILE"))
    var files: [String] = []

    var isOffline: Bool { !files.isEmpty }

    /// The snapshots, in the order given. Throws `RuntimeError` naming the file and what is wrong.
    func load() throws -> [Snapshot] {
        try SnapshotFiles.load(files)
    }

    /// The snapshots a walking command (path, diagnose, dhcp, dns) works on: the files given, else
    /// one collected live (only the namespaces named PREFIX… when `namespacePrefix` is set).
    /// Throws `RuntimeError` saying what to do (run `command` as root, or give --snapshot).
    func snapshots(namespacePrefix: String? = nil, command: String) async throws -> [Snapshot] {
        if isOffline { return try load() }
        var collector = CollectorOptions()
        collector.collectorName = "hopscope \(Hopscope.configuration.version)"
        if let namespacePrefix { try collector.selectNamespaces(prefix: namespacePrefix) }
        do { return [try await SnapshotCollector.collect(collector)] } catch let e as MissingCapabilityError {
            throw RuntimeError("\(e) (run hopscope \(command) as root, or give --snapshot FILE)")
        }
    }
}

extension CollectorOptions {
    /// Reads only the named namespaces whose name starts with `prefix` (and the switches in them),
    /// as `--netns-prefix` asks. Throws `RuntimeError` when none matches.
    mutating func selectNamespaces(prefix: String) throws {
        let names = NamespaceDiscovery.discover(includeProcesses: false).namespaces.flatMap(\.namespace.names).filter { $0.hasPrefix(prefix) }
        guard !names.isEmpty else { throw RuntimeError("no named namespace starts with \(prefix) (see `ip netns`)") }
        namespaces = .some(names.sorted())
        libvirt = false
    }
}

/// Loading snapshot files with operator-facing errors.
enum SnapshotFiles {
    static func load(_ paths: [String]) throws -> [Snapshot] {
        try paths.map { path in
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                let reason = FileManager.default.fileExists(atPath: path) ? (error as NSError).localizedDescription : "no such file"
                throw RuntimeError("cannot read snapshot \(path): \(reason); write one with `hopscope snapshot -o FILE`")
            }
            do { return try Snapshot.decode(data) } catch {
                throw RuntimeError("\(path): \(error)")
            }
        }
    }
}

/// Picks namespaces out of snapshots the way `-n` / `--all` pick them live.
enum SnapshotSelection {
    /// `.all`: every namespace of every snapshot; `.current`: the namespace each snapshot was
    /// collected from; `.some`: by label, `ip netns` name or `net:[INODE]`, in any snapshot.
    /// Throws `UnknownNamespaceError` for a selector that matches nothing.
    static func inventory(_ selection: NamespaceSelection, from snapshots: [Snapshot]) throws -> NetworkInventory {
        var out = NetworkInventory()
        switch selection {
        case .all:
            for s in snapshots {
                out.namespaces += s.network.namespaces
                out.skipped += s.network.skipped
            }
        case .current:
            for s in snapshots {
                if let label = s.collectorNamespace, let ns = s.network.namespace(labelled: label) { out.namespaces.append(ns) }
            }
        case .some(let selectors):
            for selector in selectors {
                let found = snapshots.flatMap { s in s.network.namespaces.filter { matches($0.namespace, selector) } }
                guard !found.isEmpty else { throw UnknownNamespaceError(selector: selector) }
                out.namespaces += found
            }
        }
        return out
    }

    static func matches(_ ns: NetworkNamespace, _ selector: String) -> Bool {
        ns.label == selector || ns.names.contains(selector) || "net:[\(ns.inode)]" == selector
    }
}

/// `hopscope snapshot [-o FILE]`: collect everything once, for offline analysis.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Collect the machine's whole network state into one JSON snapshot for offline analysis.",
        discussion: """
            Reads every network namespace (interfaces, addresses, routes of every table, rules,
            neighbours, FDB, forwarding sysctls, processes), every Open vSwitch (database, flows, OpenFlow
            ports, MAC tables), every namespace's iptables/ip6tables/ipset rules, the files each dnsmasq
            command line names, and libvirt domain XML. What cannot be read is a warning in the snapshot.
            Every analysis command takes it back with --snapshot FILE (repeatable, one per node) and
            answers as it does live.
            Without -o the JSON goes to standard output. The file is written atomically (a partial file
            never appears under FILE). Needs root. Exit status: 0 written, 2 error.
            """)

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the snapshot here (atomically).", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: "Indent the JSON.")
    var pretty = false

    @Option(name: .long, help: "External commands run at the same time (default: twice the cores, at least 4).")
    var jobs: Int?

    @Option(name: .customLong("netns-prefix"), help: ArgumentHelp(
        "Only the named namespaces whose name starts with PREFIX (and the switches running in them), e.g. a lab's.",
        valueName: "PREFIX"))
    var namespacePrefix: String?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() async throws {
        try await exitingWithStatus2 {
            var options = CollectorOptions()
            options.collectorName = "hopscope \(Hopscope.configuration.version)"
            if let jobs { options.maxParallelCommands = jobs }
            if let namespacePrefix { try options.selectNamespaces(prefix: namespacePrefix) }
            let snapshot: Snapshot
            do { snapshot = try await SnapshotCollector.collect(options) } catch let e as MissingCapabilityError {
                throw RuntimeError("\(e) (run hopscope snapshot as root)")
            }
            let data = try snapshot.jsonData(pretty: pretty)
            if let output {
                try SnapshotWriter.write(data, to: output)
            } else {
                FileHandle.standardOutput.write(data)
                FileHandle.standardOutput.write(Data("\n".utf8))
            }
            let n = snapshot.network.namespaces
            let flows = snapshot.openVSwitch.flatMap(\.openFlow).map { $0.flowDump.split(separator: "\n").count }.reduce(0, +)
            let summary = String(format: "snapshot of %@: %d namespaces, %d interfaces, %d Open vSwitch, %d flow lines, %d firewalls, %d dnsmasq, %d libvirt domains, %d warnings, %.2f s",
                                 snapshot.hostname, n.count, n.map(\.links.count).reduce(0, +), snapshot.openVSwitch.count, flows,
                                 snapshot.firewalls.count, snapshot.dnsmasq.count, snapshot.libvirtDomains.count,
                                 snapshot.warnings.count + snapshot.openVSwitch.map(\.warnings.count).reduce(0, +)
                                    + snapshot.firewalls.map(\.warnings.count).reduce(0, +),
                                 snapshot.collectionSeconds)
            FileHandle.standardError.write(Data("hopscope: \(summary)\(output.map { ", written to \($0)" } ?? "")\n".utf8))
        }
    }
}

/// Writes a file atomically: to a hidden partial file beside it, synced, then renamed.
enum SnapshotWriter {
    static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            throw RuntimeError("cannot write \(path): directory \(dir) does not exist")
        }
        try? FileManager.default.removeItem(atPath: AtomicOutputFile.temporaryPath(for: path))
        let file: AtomicOutputFile
        do { file = try AtomicOutputFile(path: path) } catch {
            throw RuntimeError("cannot write \(path): \(error)")
        }
        do {
            try data.withUnsafeBytes { try file.write($0) }
            try file.commit()
        } catch {
            file.abandon()
            throw RuntimeError("cannot write \(path): \(error)")
        }
    }
}
