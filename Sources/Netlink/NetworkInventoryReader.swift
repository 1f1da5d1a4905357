import Foundation
import HopscopeModel
import Namespaces

/// Which namespaces an inventory reads.
public enum NamespaceSelection: Sendable, Equatable {
    /// Every network namespace of the machine.
    case all
    /// The namespace hopscope runs in.
    case current
    /// Namespaces by `ip netns` name, label (`host`, `pid:1234`), `net:[INODE]`, pid or nsfs path.
    case some([String])
}

/// What to read besides the netlink dumps.
public struct InventoryOptions: Sendable {
    /// Walk /proc for processes (finds unnamed namespaces, lists what runs in each).
    public var processes = true
    /// Read the forwarding sysctls of each namespace.
    public var sysctls = true
    /// Namespaces read at the same time, one thread each.
    public var maxParallelNamespaces = max(2, ProcessInfo.processInfo.activeProcessorCount)

    public init(processes: Bool = true, sysctls: Bool = true) {
        self.processes = processes
        self.sysctls = sysctls
    }
}

/// A namespace selector that matched nothing.
public struct UnknownNamespaceError: Error, CustomStringConvertible, Sendable {
    public var selector: String
    public var description: String {
        "no network namespace matches \"\(selector)\"; `hopscope namespaces` lists them (names, host, pid:N, net:[INODE])"
    }
}

/// Reads the network state of one, some or all namespaces into a `NetworkInventory`.
///
/// Phase 1 reads each namespace on a thread of its own that entered it (the thread rule), a few
/// at a time: links, addresses, routes of every table, rules, neighbours, FDB, namespace ids and
/// sysctls, each through one rtnetlink socket created there. Phase 2 resolves what crosses
/// namespaces: a veth's `IFLA_LINK_NETNSID` is matched to a namespace by asking the veth's
/// namespace for the id of each candidate (`RTM_GETNSID` with NETNSA_FD), candidates whose
/// interface `IFLA_LINK` points back first, so the usual case costs one request.
///
/// Failure: a namespace that disappears before it is read is listed in `skipped` with the reason;
/// missing privileges throw `MissingCapabilityError` naming the capability; a kernel error in a
/// dump is a warning on that namespace, the other dumps still count.
public enum NetworkInventoryReader {
    public static func read(_ selection: NamespaceSelection = .all, options: InventoryOptions = InventoryOptions()) throws -> NetworkInventory {
        let everything = NamespaceDiscovery.discover(includeProcesses: options.processes)
        if selection == .all, !Capabilities.has(Capabilities.sysAdmin) || !Capabilities.has(Capabilities.sysPtrace) {
            throw MissingCapabilityError(capabilities: ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
                                         purpose: "Reading every network namespace (finding them through other processes and entering them)")
        }
        let chosen = try select(selection, from: everything.namespaces)
        return try read(namespaces: chosen, allNamespaces: everything.namespaces, options: options)
    }

    /// Reads the given namespaces (from `NamespaceDiscovery.discover`); `allNamespaces` are where
    /// veth peers outside the selection are looked for. A namespace that is gone by now is listed
    /// in `skipped`.
    public static func read(namespaces chosen: [DiscoveredNamespace], allNamespaces: [DiscoveredNamespace],
                            options: InventoryOptions = InventoryOptions()) throws -> NetworkInventory {
        // Open every chosen namespace once: the descriptor pins it for the whole scan.
        var open: [(discovered: DiscoveredNamespace, fd: Int32)] = []
        var skipped: [SkippedNamespace] = []
        defer { for o in open { close(o.fd) } }
        for d in chosen {
            do {
                open.append((d, try d.open()))
            } catch let e as NamespaceGoneError {
                skipped.append(SkippedNamespace(label: d.namespace.label, inode: d.namespace.inode, reason: e.description))
            } catch let e as SystemCallError where e.errno == EACCES || e.errno == EPERM {
                throw MissingCapabilityError(capabilities: ["CAP_SYS_PTRACE"], purpose: "Opening network namespace \(d.namespace.label) through /proc")
            }
        }

        // Phase 1: one thread per namespace, inside it.
        let results = forEachNetworkNamespace(open.map { ($0.fd, $0.discovered.namespace.label) },
                                              maxConcurrent: options.maxParallelNamespaces) { i in
            try readNamespace(open[i].discovered.namespace, sysctls: options.sysctls)
        }
        var scans: [NamespaceScan] = []
        var fds: [Int32] = []
        for (i, r) in results.enumerated() {
            let ns = open[i].discovered.namespace
            switch r {
            case .success(let scan):
                scans.append(scan)
                fds.append(open[i].fd)
            case .failure(let e as SystemCallError) where e.errno == EPERM:
                throw MissingCapabilityError(capabilities: ["CAP_SYS_ADMIN"], purpose: "Entering network namespace \(ns.label) (setns)")
            case .failure(let e):
                skipped.append(SkippedNamespace(label: ns.label, inode: ns.inode, reason: "\(e)"))
            }
        }

        // Phase 2: across namespaces.
        var resolver = CrossNamespaceResolver(scans: scans, fds: fds,
                                              others: allNamespaces.filter { d in !scans.contains { $0.inventory.namespace.inode == d.namespace.inode } })
        resolver.resolve()
        return NetworkInventory(namespaces: resolver.scans.map(\.inventory), skipped: skipped)
    }

    /// The namespaces `selection` names, from the discovered ones (or built from a pid or path).
    static func select(_ selection: NamespaceSelection, from all: [DiscoveredNamespace]) throws -> [DiscoveredNamespace] {
        switch selection {
        case .all:
            return all
        case .current:
            guard let inode = NamespaceDiscovery.inode(of: "/proc/self/ns/net") else { return [] }
            if let d = all.first(where: { $0.namespace.inode == inode }) { return [d] }
            return [DiscoveredNamespace(namespace: NetworkNamespace(label: "self", inode: inode), paths: ["/proc/self/ns/net"])]
        case .some(let selectors):
            return try selectors.map { try find($0, in: all) }
        }
    }

    static func find(_ selector: String, in all: [DiscoveredNamespace]) throws -> DiscoveredNamespace {
        if let d = all.first(where: { $0.namespace.label == selector || $0.namespace.names.contains(selector) }) { return d }
        var path: String?
        if selector.hasPrefix("net:["), selector.hasSuffix("]"), let ino = UInt64(selector.dropFirst(5).dropLast()) {
            if let d = all.first(where: { $0.namespace.inode == ino }) { return d }
        } else if selector.hasPrefix("pid:"), let pid = Int32(selector.dropFirst(4)) {
            path = "/proc/\(pid)/ns/net"
        } else if let pid = Int32(selector) {
            path = "/proc/\(pid)/ns/net"
        } else if selector.hasPrefix("/") {
            path = selector
        }
        guard let path, let ino = NamespaceDiscovery.inode(of: path) else { throw UnknownNamespaceError(selector: selector) }
        if var d = all.first(where: { $0.namespace.inode == ino }) {
            d.paths.insert(path, at: 0)
            return d
        }
        return DiscoveredNamespace(namespace: NetworkNamespace(label: selector, inode: ino), paths: [path])
    }

    /// Reads one namespace; runs on a thread inside it.
    static func readNamespace(_ namespace: NetworkNamespace, sysctls: Bool) throws -> NamespaceScan {
        let socket = try NetlinkSocket(namespaceLabel: namespace.label)
        var inv = NamespaceInventory(namespace: namespace)
        func note(_ what: String, _ problems: [NetlinkDecodeError]) {
            for p in problems { inv.warnings.append("\(what): a message did not decode and was left out: \(p)") }
        }
        // A dump the kernel refuses (for example FDB where bridging is not built in) is a warning,
        // not the end of the namespace.
        func attempt<T>(_ what: String, _ body: () throws -> DumpResult<T>) -> [T] {
            do {
                let r = try body()
                note(what, r.problems)
                return r.items
            } catch {
                inv.warnings.append("\(what): \(error)")
                return []
            }
        }
        let links = try socket.dumpLinksWithSettings()
        note("links", links.problems)
        inv.links = links.items.map(\.link)
        if sysctls {
            inv.sysctls = ForwardingSysctlReader.read()
            for (link, ipv4) in links.items {
                guard let ipv4 else { continue }
                if let v = ipv4.rpFilter { inv.sysctls.rpFilter[link.name] = v }
                if let v = ipv4.proxyARP { inv.sysctls.proxyARP[link.name] = v }
            }
        }
        inv.addresses = attempt("addresses") { try socket.dumpAddresses() }
        inv.routes = attempt("routes") { try socket.dumpRoutes() }
        inv.rules = attempt("rules") { try socket.dumpRules() }
        inv.neighbors = attempt("neighbours") { try socket.dumpNeighbors() }
        inv.fdb = attempt("bridge fdb") { try socket.dumpForwardingDatabase() }
        inv.namespaceIDs = attempt("namespace ids") { try socket.dumpNamespaceIDs() }.sorted().map { PeerNamespaceID(nsid: $0, namespace: nil) }
        resolveLocalNames(&inv)
        return NamespaceScan(inventory: inv, socket: socket)
    }

    /// Fills interface names and same-namespace references (masters, peers, parents) from the links.
    static func resolveLocalNames(_ inv: inout NamespaceInventory) {
        var names: [Int: String] = [:]
        names.reserveCapacity(inv.links.count)
        for l in inv.links { names[l.index] = l.name }
        let label = inv.namespace.label
        func ref(_ index: Int?) -> InterfaceRef? {
            guard let index, let name = names[index] else { return nil }
            return InterfaceRef(namespace: label, name: name, index: index)
        }
        for i in inv.links.indices {
            var l = inv.links[i]
            l.master = ref(l.masterIndex)
            if l.lowerNamespaceID == nil {
                if l.kind == .veth { l.vethPeer = ref(l.lowerIndex) } else if l.lowerIndex != nil { l.lowerDevice = ref(l.lowerIndex) }
            }
            if let under = l.tunnel?.underlyingDeviceIndex, l.lowerNamespaceID == nil {
                l.tunnel?.underlyingDevice = names[under]
            }
            inv.links[i] = l
        }
        for i in inv.addresses.indices { inv.addresses[i].interface = names[inv.addresses[i].interfaceIndex] }
        for i in inv.routes.indices {
            if let o = inv.routes[i].outputInterfaceIndex { inv.routes[i].outputInterface = names[o] }
            for h in inv.routes[i].nexthops.indices {
                if let o = inv.routes[i].nexthops[h].interfaceIndex { inv.routes[i].nexthops[h].interface = names[o] }
            }
        }
        for i in inv.neighbors.indices { inv.neighbors[i].interface = names[inv.neighbors[i].interfaceIndex] }
        for i in inv.fdb.indices {
            inv.fdb[i].interface = names[inv.fdb[i].interfaceIndex]
            if let m = inv.fdb[i].masterIndex { inv.fdb[i].master = names[m] }
        }
    }
}

/// One namespace's reading plus the socket that is still inside it (for phase 2).
struct NamespaceScan {
    var inventory: NamespaceInventory
    let socket: NetlinkSocket
}

/// Resolves namespace ids to namespaces and veth peers to (namespace, name).
struct CrossNamespaceResolver {
    var scans: [NamespaceScan]
    let fds: [Int32]
    /// Namespaces found but not read (outside the selection): peers may live there.
    let others: [DiscoveredNamespace]
    /// Per scanned namespace: candidate key -> the id that namespace gives it (nil: none).
    private var known: [[CandidateKey: Int32?]]
    private var otherFDs: [Int: Int32] = [:]
    private var otherLinks: [Int: [Int: Link]] = [:]

    enum CandidateKey: Hashable {
        case scanned(Int)
        case other(Int)
    }

    init(scans: [NamespaceScan], fds: [Int32], others: [DiscoveredNamespace]) {
        self.scans = scans
        self.fds = fds
        self.others = others
        known = Array(repeating: [:], count: scans.count)
    }

    mutating func resolve() {
        defer { for fd in otherFDs.values { close(fd) } }
        let byIndex: [[Int: Int]] = scans.map { s in
            var m: [Int: Int] = [:]
            for (i, l) in s.inventory.links.enumerated() { m[l.index] = i }
            return m
        }
        for a in scans.indices {
            for li in scans[a].inventory.links.indices {
                let link = scans[a].inventory.links[li]
                guard let nsid = link.lowerNamespaceID, let peerIndex = link.lowerIndex else { continue }
                // Candidates whose interface at peerIndex points back at this one come first.
                let likely = scans.indices.filter { b in
                    b != a && byIndex[b][peerIndex].map { scans[b].inventory.links[$0].lowerIndex == link.index } == true
                }
                guard let target = namespace(withID: nsid, asSeenFrom: a, trying: likely) else {
                    scans[a].inventory.warnings.append(
                        "\(link.name): its \(link.kind?.rawValue ?? "link") peer is in namespace id \(nsid), which matches none of the namespaces found")
                    continue
                }
                let peer: InterfaceRef?
                switch target {
                case .scanned(let b):
                    peer = byIndex[b][peerIndex].map {
                        let l = scans[b].inventory.links[$0]
                        return InterfaceRef(namespace: scans[b].inventory.namespace.label, name: l.name, index: l.index)
                    }
                case .other(let o):
                    peer = otherLink(o, index: peerIndex).map { InterfaceRef(namespace: others[o].namespace.label, name: $0.name, index: $0.index) }
                }
                guard let peer else {
                    scans[a].inventory.warnings.append("\(link.name): no interface \(peerIndex) in the peer namespace (deleted during the scan?)")
                    continue
                }
                if link.kind == .veth { scans[a].inventory.links[li].vethPeer = peer } else { scans[a].inventory.links[li].lowerDevice = peer }
            }
            // Label every id this namespace has given out.
            for k in scans[a].inventory.namespaceIDs.indices {
                let nsid = scans[a].inventory.namespaceIDs[k].nsid
                if let t = namespace(withID: nsid, asSeenFrom: a, trying: []) {
                    scans[a].inventory.namespaceIDs[k].namespace = label(t)
                }
            }
        }
    }

    private func label(_ key: CandidateKey) -> String {
        switch key {
        case .scanned(let b): scans[b].inventory.namespace.label
        case .other(let o): others[o].namespace.label
        }
    }

    /// The namespace `a` calls `nsid`: asks `a`'s socket about `likely` first, then every other.
    private mutating func namespace(withID nsid: Int32, asSeenFrom a: Int, trying likely: [Int]) -> CandidateKey? {
        if let hit = known[a].first(where: { $0.value == nsid }) { return hit.key }
        let order = likely.map { CandidateKey.scanned($0) }
            + scans.indices.filter { $0 != a && !likely.contains($0) }.map { CandidateKey.scanned($0) }
            + others.indices.map { CandidateKey.other($0) }
        for key in order where known[a][key] == nil {
            guard let fd = fd(for: key) else { continue }
            let id = (try? scans[a].socket.namespaceID(ofNamespaceFD: fd)) ?? nil
            known[a][key] = .some(id)
            if id == nsid { return key }
        }
        return nil
    }

    private mutating func fd(for key: CandidateKey) -> Int32? {
        switch key {
        case .scanned(let b): return fds[b]
        case .other(let o):
            if let fd = otherFDs[o] { return fd }
            guard let fd = try? others[o].open() else { return nil }
            otherFDs[o] = fd
            return fd
        }
    }

    /// An interface of a namespace outside the selection, read with one RTM_GETLINK inside it.
    private mutating func otherLink(_ o: Int, index: Int) -> Link? {
        if let l = otherLinks[o]?[index] { return l }
        guard let fd = fd(for: .other(o)) else { return nil }
        let link = try? inNetworkNamespace(.path("/proc/self/fd/\(fd)")) {
            try NetlinkSocket(namespaceLabel: others[o].namespace.label).link(index: index)
        }
        if let link { otherLinks[o, default: [:]][index] = link }
        return link
    }
}
