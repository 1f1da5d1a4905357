import ArgumentParser
import Foundation
import HopscopeModel
import Namespaces
import Netlink

extension CommandGroups {
    static var netlink: [any ParsableCommand.Type] {
        [NamespacesCommand.self, LinksCommand.self, AddrsCommand.self, RoutesCommand.self,
         NeighCommand.self, FDBCommand.self, InventoryCommand.self]
    }
}

/// `-n NS` / `--all` / `-j`, shared by the netlink commands.
struct NamespaceOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("netns")],
            help: "Read this namespace (name, host, pid:N, net:[INODE], a pid or an nsfs path); repeatable.")
    var netns: [String] = []

    @Flag(name: .long, help: "Read every network namespace of the machine.")
    var all = false

    @Flag(name: [.customShort("j"), .long], help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var snapshot: SnapshotOptions

    func validate() throws {
        if all && !netns.isEmpty { throw ValidationError("use either -n/--netns or --all, not both") }
    }

    var selection: NamespaceSelection { all ? .all : netns.isEmpty ? .current : .some(netns) }

    /// Reads the selected namespaces (live, or from the snapshots); errors become one line on
    /// stderr and exit code 2.
    func inventory(processes: Bool = false, sysctls: Bool = false, jobs: Int? = nil) throws -> NetworkInventory {
        do {
            if snapshot.isOffline { return try SnapshotSelection.inventory(selection, from: snapshot.load()) }
            var options = InventoryOptions(processes: processes || all, sysctls: sysctls)
            if let jobs { options.maxParallelNamespaces = jobs }
            let inv = try NetworkInventoryReader.read(selection, options: options)
            for s in inv.skipped { FileHandle.standardError.write(Data("hopscope: skipped namespace \(s.label): \(s.reason)\n".utf8)) }
            for ns in inv.namespaces {
                for w in ns.warnings { FileHandle.standardError.write(Data("hopscope: \(ns.namespace.label): \(w)\n".utf8)) }
            }
            return inv
        } catch {
            FileHandle.standardError.write(Data("hopscope: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// Prints rows as columns padded to the widest cell (the last column is not padded).
func printTable(_ rows: [[String]]) {
    guard let width = rows.map(\.count).max() else { return }
    var widths = Array(repeating: 0, count: width)
    for r in rows { for (i, c) in r.enumerated() where i < width - 1 { widths[i] = max(widths[i], c.count) } }
    var out = ""
    for r in rows {
        var line = ""
        for (i, c) in r.enumerated() {
            line += i < r.count - 1 ? c.padding(toLength: widths[i] + 2, withPad: " ", startingAt: 0) : c
        }
        out += line.trimmingCharacters(in: .whitespaces) + "\n"
    }
    FileHandle.standardOutput.write(Data(out.utf8))
}

/// One namespace's items for `-j` output.
struct NamespaceItems<T: Encodable>: Encodable {
    var namespace: String
    var items: [T]
}

struct NamespacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "namespaces",
        abstract: "List every network namespace: names, inode, ids, forwarding sysctls and the processes inside.")

    @Flag(name: [.customShort("j"), .long], help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .long, help: "Print every process, not only the first.")
    var processes = false

    @OptionGroup var snapshot: SnapshotOptions

    func run() throws {
        let options = try NamespaceOptions.parse(["--all"] + snapshot.files.flatMap { ["--snapshot", $0] })
        let inv = try options.inventory(processes: true, sysctls: true)
        if json {
            struct Row: Encodable {
                var namespace: NetworkNamespace
                var namespaceIDs: [PeerNamespaceID]
                var sysctls: ForwardingSysctls
                var linkCount: Int
            }
            try printJSON(inv.namespaces.map { Row(namespace: $0.namespace, namespaceIDs: $0.namespaceIDs, sysctls: $0.sysctls, linkCount: $0.links.count) })
            return
        }
        var rows = [["NAMESPACE", "INODE", "LINKS", "FORWARD", "IDS", "PROCESSES"]]
        for ns in inv.namespaces {
            let n = ns.namespace
            let fwd = [ns.sysctls.ipv4Forwarding == true ? "v4" : nil, ns.sysctls.ipv6Forwarding == true ? "v6" : nil].compactMap { $0 }
            let ids = ns.namespaceIDs.map { "\($0.nsid)=\($0.namespace ?? "?")" }.joined(separator: ",")
            let procs = n.processes.map { "\($0.pid) \(String($0.command.prefix(60)))" }
            rows.append([n.label, String(n.inode), String(ns.links.count), fwd.isEmpty ? "off" : fwd.joined(separator: ","),
                         ids.isEmpty ? "-" : ids, procs.first ?? "-"])
            if processes { for p in procs.dropFirst() { rows.append(["", "", "", "", "", p]) } }
            else if procs.count > 1 { rows[rows.count - 1][5] += " (+\(procs.count - 1) more)" }
        }
        printTable(rows)
    }
}

struct LinksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "links",
        abstract: "Interfaces, like `ip -br link`, with veth peers and masters resolved across namespaces.")
    @OptionGroup var options: NamespaceOptions

    func run() throws {
        let inv = try options.inventory()
        if options.json { return try printJSON(inv.namespaces.map { NamespaceItems(namespace: $0.namespace.label, items: $0.links) }) }
        var rows: [[String]] = []
        for ns in inv.namespaces {
            for l in ns.links {
                rows.append(["\(l.name)@\(ns.namespace.label)", l.operState.rawValue, l.mac?.description ?? "-",
                             "mtu \(l.mtu)", l.kind?.rawValue ?? (l.flags.contains(.loopback) ? "loopback" : "device"),
                             Self.relations(l)])
            }
        }
        printTable(rows)
    }

    /// `-> peer@ns`, `master br0`, tunnel endpoints: what `ip -br` leaves out.
    static func relations(_ l: Link) -> String {
        var parts: [String] = []
        if let p = l.vethPeer { parts.append("-> \(p)") } else if l.kind == .veth, let i = l.lowerIndex {
            parts.append("-> if\(i)" + (l.lowerNamespaceID.map { " in nsid \($0) (unresolved)" } ?? ""))
        }
        if let d = l.lowerDevice { parts.append("on \(d)") }
        if let m = l.master { parts.append("master \(m.name)" + (l.bridgePort?.stpState.map { " (\($0.rawValue))" } ?? "")) }
        if let t = l.tunnel {
            var s: [String] = []
            if let v = t.vni { s.append("vni \(v)") }
            if let r = t.tunnelRemoteIP { s.append("remote \(r)") }
            if let g = t.multicastGroup { s.append("group \(g)") }
            if let a = t.tunnelLocalIP { s.append("local \(a)") }
            if let d = t.underlyingDevice ?? t.underlyingDeviceIndex.map({ "if\($0)" }) { s.append("dev \(d)") }
            if let p = t.destinationPort { s.append("port \(p)") }
            if t.externalControl == true { s.append("external") }
            parts.append(s.joined(separator: " "))
        }
        if let v = l.vlan { parts.append("vlan \(v.id)") }
        if let t = l.tunTap?.mode { parts.append(t) }
        if l.promiscuity > 0 { parts.append("promisc \(l.promiscuity)") }
        return parts.joined(separator: "  ")
    }
}

struct AddrsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "addrs", abstract: "Addresses, like `ip -br addr`, in one, some or all namespaces.")
    @OptionGroup var options: NamespaceOptions

    func run() throws {
        let inv = try options.inventory()
        if options.json { return try printJSON(inv.namespaces.map { NamespaceItems(namespace: $0.namespace.label, items: $0.addresses) }) }
        var rows: [[String]] = []
        for ns in inv.namespaces {
            for l in ns.links {
                let addrs = ns.addresses.filter { $0.interfaceIndex == l.index }.map(\.prefix.description)
                rows.append(["\(l.name)@\(ns.namespace.label)", l.operState.rawValue, addrs.joined(separator: " ")])
            }
        }
        printTable(rows)
    }
}

struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routes", abstract: "Routes of every table and policy rules, in one, some or all namespaces.")
    @OptionGroup var options: NamespaceOptions

    func run() throws {
        let inv = try options.inventory()
        if options.json {
            struct Routing: Encodable { var namespace: String; var routes: [Route]; var rules: [RoutingRule] }
            return try printJSON(inv.namespaces.map { Routing(namespace: $0.namespace.label, routes: $0.routes, rules: $0.rules) })
        }
        var rows: [[String]] = []
        for ns in inv.namespaces {
            for r in ns.routes { rows.append([ns.namespace.label, "table " + RoutingTable.name(r.table), r.text]) }
            for rule in ns.rules { rows.append([ns.namespace.label, "rule " + rule.family, rule.text]) }
        }
        printTable(rows)
    }
}

struct NeighCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "neigh", abstract: "ARP and NDP neighbours, in one, some or all namespaces.")
    @OptionGroup var options: NamespaceOptions

    func run() throws {
        let inv = try options.inventory()
        if options.json { return try printJSON(inv.namespaces.map { NamespaceItems(namespace: $0.namespace.label, items: $0.neighbors) }) }
        var rows: [[String]] = []
        for ns in inv.namespaces {
            for n in ns.neighbors {
                rows.append([n.address.description, "dev \(n.interface ?? "if\(n.interfaceIndex)")@\(ns.namespace.label)",
                             n.mac.map { "lladdr \($0)" } ?? "", n.state.names.joined(separator: ",") + (n.isRouter ? " router" : "")])
            }
        }
        printTable(rows)
    }
}

struct FDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fdb", abstract: "Bridge forwarding database entries, like `bridge fdb`, in one, some or all namespaces.")
    @OptionGroup var options: NamespaceOptions

    func run() throws {
        let inv = try options.inventory()
        if options.json { return try printJSON(inv.namespaces.map { NamespaceItems(namespace: $0.namespace.label, items: $0.fdb) }) }
        var rows: [[String]] = []
        for ns in inv.namespaces {
            for e in ns.fdb {
                var rest: [String] = []
                if let v = e.vlan { rest.append("vlan \(v)") }
                if let m = e.master { rest.append("master \(m)") }
                if let d = e.tunnelRemoteIP { rest.append("dst \(d)") }
                if let v = e.vni { rest.append("vni \(v)") }
                rest += e.flags
                if !e.stateName.isEmpty { rest.append(e.stateName) }
                rows.append([e.mac.description, "dev \(e.interface ?? "if\(e.interfaceIndex)")@\(ns.namespace.label)", rest.joined(separator: " ")])
            }
        }
        printTable(rows)
    }
}

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Read everything netlink and /proc say about one, some or all namespaces (the network part of a snapshot).")
    @OptionGroup var options: NamespaceOptions

    @Flag(name: .long, help: "Print only how long the reading took and how much it found (for benchmarks).")
    var timing = false

    @Flag(name: .long, help: "Leave out processes and sysctls (netlink dumps only).")
    var netlinkOnly = false

    @Option(name: .long, help: "Namespaces read at the same time (default: the number of cores, at least 2).")
    var jobs: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let start = ContinuousClock.now
        let cpuStart = Self.processCPUMilliseconds()
        let inv = try options.inventory(processes: !netlinkOnly, sysctls: !netlinkOnly, jobs: jobs)
        let cpu = Self.processCPUMilliseconds() - cpuStart
        let elapsed = ContinuousClock.now - start
        if timing {
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            let n = inv.namespaces
            print(String(format: "inventory_ms=%.1f inventory_cpu_ms=%.1f namespaces=%d links=%d addresses=%d routes=%d neighbours=%d fdb=%d skipped=%d",
                         ms, cpu, n.count, n.map(\.links.count).reduce(0, +), n.map(\.addresses.count).reduce(0, +),
                         n.map(\.routes.count).reduce(0, +), n.map(\.neighbors.count).reduce(0, +), n.map(\.fdb.count).reduce(0, +), inv.skipped.count))
            return
        }
        if options.json { return try printJSON(inv) }
        var rows = [["NAMESPACE", "LINKS", "ADDRS", "ROUTES", "RULES", "NEIGH", "FDB", "WARNINGS"]]
        for ns in inv.namespaces {
            rows.append([ns.namespace.label, String(ns.links.count), String(ns.addresses.count), String(ns.routes.count),
                         String(ns.rules.count), String(ns.neighbors.count), String(ns.fdb.count), String(ns.warnings.count)])
        }
        printTable(rows)
    }
}

extension InventoryCommand {
    /// User plus system CPU time of the whole process so far (every thread, finished ones too):
    /// the figure the benchmark compares, since other processes' load inflates wall time only.
    /// Wraps `getrusage(RUSAGE_SELF)`.
    static func processCPUMilliseconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func ms(_ t: timeval) -> Double { Double(t.tv_sec) * 1000 + Double(t.tv_usec) / 1000 }
        return ms(usage.ru_utime) + ms(usage.ru_stime)
    }
}
