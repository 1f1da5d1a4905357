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
    public init(selector: String) { self.selector = selector }
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

        // Phase 1: each namespace read on a thread inside it.
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
        let scanned = Set(scans.map(\.inventory.namespace.inode))
        var resolver = CrossNamespaceResolver(scans: scans, fds: fds, others: allNamespaces.filter { !scanned.contains($0.namespace.inode) })
        // The resolver must hold the only reference to each namespace's link list: otherwise
        // the first peer it fills in would copy that namespace's whole list.
        scans = []
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
        // By name, the last decoded winning: a retried dump reports every interface again.
        var interfaceSettings: [String: LinkMessage.IPv4Settings] = [:]
        let links = try socket.dumpLinks { link, ipv4 in
            if sysctls { interfaceSettings[link.name] = ipv4 }
        }
        note("links", links.problems)
        inv.links = links.items
        if sysctls {
            inv.sysctls = ForwardingSysctlReader.read()
            for link in inv.links {
                guard let ipv4 = interfaceSettings[link.name] else { continue }
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
        let positions = LinkPositions(inv.links)
        resolveLocalNames(&inv, positions: positions)
        return NamespaceScan(inventory: inv, socket: socket, positions: positions)
    }

    /// Fills interface names and same-namespace references (masters, peers, parents) from the links.
    /// Mutates every record in place: copying a `Link` retains each of its many fields.
    static func resolveLocalNames(_ inv: inout NamespaceInventory, positions: LinkPositions) {
        let names = inv.links.map(\.name)
        func name(_ index: Int) -> String? { positions[index].map { names[$0] } }
        let label = inv.namespace.label
        func ref(_ index: Int?) -> InterfaceRef? {
            guard let index, let name = name(index) else { return nil }
            return InterfaceRef(namespace: label, name: name, index: index)
        }
        for i in inv.links.indices {
            if let m = inv.links[i].masterIndex { inv.links[i].master = ref(m) }
            guard inv.links[i].lowerNamespaceID == nil else { continue }
            if let lower = inv.links[i].lowerIndex {
                if inv.links[i].kind == .veth { inv.links[i].vethPeer = ref(lower) } else { inv.links[i].lowerDevice = ref(lower) }
            }
            if let under = inv.links[i].tunnel?.underlyingDeviceIndex {
                inv.links[i].tunnel?.underlyingDevice = name(under)
            }
        }
        for i in inv.addresses.indices { inv.addresses[i].interface = name(inv.addresses[i].interfaceIndex) }
        for i in inv.routes.indices {
            if let o = inv.routes[i].outputInterfaceIndex { inv.routes[i].outputInterface = name(o) }
            for h in inv.routes[i].nexthops.indices {
                if let o = inv.routes[i].nexthops[h].interfaceIndex { inv.routes[i].nexthops[h].interface = name(o) }
            }
        }
        for i in inv.neighbors.indices { inv.neighbors[i].interface = name(inv.neighbors[i].interfaceIndex) }
        for i in inv.fdb.indices {
            inv.fdb[i].interface = name(inv.fdb[i].interfaceIndex)
            if let m = inv.fdb[i].masterIndex { inv.fdb[i].master = name(m) }
        }
    }
}

/// Where each interface index sits in a namespace's link list, for resolving the indexes that
/// addresses, routes, neighbours, FDB entries and peers carry without hashing every lookup: a
/// flat table when the indexes are dense (the usual case), a dictionary when they are sparse (a
/// namespace that created and deleted many interfaces). A duplicated index keeps its last link.
struct LinkPositions: Sendable {
    private var table: [Int32] = []
    private var sparse: [Int: Int]?

    init(_ links: [Link]) {
        let highest = links.reduce(0) { max($0, $1.index) }
        guard highest <= 4 * links.count + 256, links.allSatisfy({ $0.index >= 0 }) else {
            var map: [Int: Int] = [:]
            for (i, l) in links.enumerated() { map[l.index] = i }
            sparse = map
            return
        }
        // Position + 1, so that 0 means "no such interface".
        table = Array(repeating: 0, count: highest + 1)
        for (i, l) in links.enumerated() { table[l.index] = Int32(i + 1) }
    }

    /// The position in the link list of the interface with `index`, if there is one.
    subscript(index: Int) -> Int? {
        if let sparse { return sparse[index] }
        guard index >= 0, index < table.count, table[index] != 0 else { return nil }
        return Int(table[index]) - 1
    }
}

/// One namespace's reading plus the socket that is still inside it (for phase 2).
struct NamespaceScan {
    var inventory: NamespaceInventory
    let socket: NetlinkSocket
    let positions: LinkPositions
}

/// Resolves namespace ids to namespaces and cross-namespace peers to (namespace, name).
///
/// A namespace id only means something to the namespace that gave it, and the one way to learn
/// which namespace it designates is to ask that namespace about a candidate (`RTM_GETNSID` with
/// the candidate's descriptor). The resolver keeps that questioning small:
/// - candidates are first the namespaces whose interface at the peer's index is a veth pointing
///   back at this one and not yet proven to be someone else's peer;
/// - questions go out several to a datagram, and stop once every id is answered;
/// - a proven veth pair also proves the reverse direction (the peer's id for this namespace),
///   so the peer's namespace never asks about it.
/// Every owner comes from the kernel's answer or from a veth pair the kernel's answers proved;
/// a candidate is never taken for the peer untested.
struct CrossNamespaceResolver {
    var scans: [NamespaceScan]
    let fds: [Int32]
    /// Namespaces found but not read (outside the selection): peers may live there.
    let others: [DiscoveredNamespace]
    /// Per scanned namespace: the candidates already asked about, with the id it gives each (nil: none).
    private var asked: [[CandidateKey: Int32?]]
    /// Per scanned namespace: the candidate each of its ids designates, once known.
    private var owners: [[Int32: CandidateKey]]
    /// Per scanned namespace and link: the link is proven to be the peer of a link elsewhere.
    private var paired: [[Bool]]
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
        asked = Array(repeating: [:], count: scans.count)
        owners = Array(repeating: [:], count: scans.count)
        paired = scans.map { Array(repeating: false, count: $0.inventory.links.count) }
    }

    mutating func resolve() {
        defer { for fd in otherFDs.values { close(fd) } }
        for a in scans.indices {
            let pending = scans[a].inventory.links.indices.filter { li in
                let l = scans[a].inventory.links[li]
                return l.lowerNamespaceID != nil && l.lowerIndex != nil && !paired[a][li]
            }
            var wanted = Set(pending.compactMap { scans[a].inventory.links[$0].lowerNamespaceID })
            wanted.formUnion(scans[a].inventory.namespaceIDs.map(\.nsid))
            wanted.subtract(owners[a].keys)
            if !wanted.isEmpty {
                search(a, among: likelyPeers(of: a, links: pending).lazy.map { .scanned($0) }, wanted: wanted)
                search(a, among: scans.indices.lazy.filter { $0 != a }.map { .scanned($0) }, wanted: wanted)
                search(a, among: others.indices.lazy.map { .other($0) }, wanted: wanted)
            }
            for li in pending { resolvePeer(of: li, in: a) }
            for k in scans[a].inventory.namespaceIDs.indices {
                if let owner = owners[a][scans[a].inventory.namespaceIDs[k].nsid] {
                    scans[a].inventory.namespaceIDs[k].namespace = label(owner)
                }
            }
        }
    }

    /// Scanned namespaces that may hold the peers of `links` (positions in `a`): for a veth, those
    /// whose interface at the peer's index is an unpaired veth elsewhere pointing back at it; for
    /// other kinds (a macvlan's parent), any with an interface at that index.
    private func likelyPeers(of a: Int, links: [Int]) -> [Int] {
        var result: [Int] = []
        var seen = Set<Int>()
        for li in links {
            let link = scans[a].inventory.links[li]
            guard let nsid = link.lowerNamespaceID, owners[a][nsid] == nil, let peerIndex = link.lowerIndex else { continue }
            for b in scans.indices where b != a && !seen.contains(b) {
                guard let mi = scans[b].positions[peerIndex] else { continue }
                if link.kind == .veth {
                    let m = scans[b].inventory.links[mi]
                    guard m.kind == .veth, m.lowerIndex == link.index, m.lowerNamespaceID != nil, !paired[b][mi] else { continue }
                }
                seen.insert(b)
                result.append(b)
            }
        }
        return result
    }

    /// Asks `a` which id it gives each candidate not asked yet, in order, until every id in
    /// `wanted` has an owner. The questions go out a datagram at a time, 2, then 4, 8, ... up to
    /// 64 per datagram: when the answer is among the first candidates few questions are wasted,
    /// and a long search still takes few round trips.
    private mutating func search(_ a: Int, among candidates: some Sequence<CandidateKey>, wanted: Set<Int32>) {
        var chunkSize = 2
        var iterator = candidates.makeIterator()
        while !wanted.allSatisfy({ owners[a][$0] != nil }) {
            var keys: [CandidateKey] = []
            var descriptors: [Int32] = []
            while keys.count < chunkSize, let key = iterator.next() {
                guard asked[a][key] == nil else { continue }
                guard let fd = fd(for: key) else {
                    asked[a][key] = .some(nil)
                    continue
                }
                keys.append(key)
                descriptors.append(fd)
            }
            if keys.isEmpty { return }
            chunkSize = min(chunkSize * 2, 64)
            // A failed exchange answers nothing: those candidates count as "no id" (a warning
            // names any link left unresolved).
            let answers = (try? scans[a].socket.namespaceIDs(ofNamespaceFDs: descriptors)) ?? []
            for (i, key) in keys.enumerated() {
                let id = i < answers.count ? answers[i] : nil
                asked[a][key] = .some(id)
                if let id, owners[a][id] == nil { owners[a][id] = key }
            }
        }
    }

    /// Sets the peer (or lower device) of link `li` of `a` from its id's owner; a veth pair also
    /// settles the other end and the other namespace's id for `a`.
    private mutating func resolvePeer(of li: Int, in a: Int) {
        let link = scans[a].inventory.links[li]
        guard let nsid = link.lowerNamespaceID, let peerIndex = link.lowerIndex else { return }
        guard let owner = owners[a][nsid] else {
            scans[a].inventory.warnings.append(
                "\(link.name): its \(link.kind?.rawValue ?? "link") peer is in namespace id \(nsid), which matches none of the namespaces found")
            return
        }
        let peer: InterfaceRef?
        switch owner {
        case .scanned(let b):
            peer = scans[b].positions[peerIndex].map { mi in
                let m = scans[b].inventory.links[mi]
                if link.kind == .veth, m.kind == .veth, m.lowerIndex == link.index, let back = m.lowerNamespaceID, !paired[b][mi] {
                    paired[b][mi] = true
                    scans[b].inventory.links[mi].vethPeer = InterfaceRef(namespace: scans[a].inventory.namespace.label, name: link.name, index: link.index)
                    if owners[b][back] == nil { owners[b][back] = .scanned(a) }
                }
                return InterfaceRef(namespace: scans[b].inventory.namespace.label, name: m.name, index: m.index)
            }
        case .other(let o):
            peer = otherLink(o, index: peerIndex).map { InterfaceRef(namespace: others[o].namespace.label, name: $0.name, index: $0.index) }
        }
        guard let peer else {
            scans[a].inventory.warnings.append("\(link.name): no interface \(peerIndex) in the peer namespace (deleted during the scan?)")
            return
        }
        paired[a][li] = true
        if link.kind == .veth { scans[a].inventory.links[li].vethPeer = peer } else { scans[a].inventory.links[li].lowerDevice = peer }
    }

    private func label(_ key: CandidateKey) -> String {
        switch key {
        case .scanned(let b): scans[b].inventory.namespace.label
        case .other(let o): others[o].namespace.label
        }
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
