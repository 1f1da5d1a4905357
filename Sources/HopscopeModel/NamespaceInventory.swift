/// A process running inside a network namespace (dnsmasq, haproxy, keepalived, ovs-vswitchd, ...).
public struct NamespaceProcess: Hashable, Sendable, Codable {
    public var pid: Int32
    /// The command line with arguments separated by spaces (`/proc/PID/cmdline`).
    public var command: String

    public init(pid: Int32, command: String) {
        self.pid = pid
        self.command = command
    }
}

/// One network namespace of the machine, identified by its nsfs inode so that each appears once
/// whether it is named, bind-mounted elsewhere or only held by processes.
public struct NetworkNamespace: Hashable, Sendable, Codable {
    /// How Hopscope and its users refer to it: the first `ip netns` name, `host` for the
    /// namespace of PID 1, otherwise `pid:N` after the lowest process id inside.
    public var label: String
    /// The nsfs inode (`ip netns identify`, `readlink /proc/PID/ns/net` = `net:[INODE]`).
    public var inode: UInt64
    /// Names under /run/netns and /var/run/netns.
    public var names: [String]
    /// The namespace of PID 1, where the host's own interfaces are.
    public var isHost: Bool
    /// Processes inside, by pid (kernel threads left out).
    public var processes: [NamespaceProcess]

    public init(label: String, inode: UInt64, names: [String] = [], isHost: Bool = false, processes: [NamespaceProcess] = []) {
        self.label = label
        self.inode = inode
        self.names = names
        self.isHost = isHost
        self.processes = processes
    }
}

/// The per-namespace sysctls that decide whether and how packets are forwarded, read inside
/// the namespace. nil means the file does not exist there (for example bridge-nf-call-* without
/// br_netfilter, conntrack counters without nf_conntrack).
public struct ForwardingSysctls: Hashable, Sendable, Codable {
    /// net.ipv4.ip_forward
    public var ipv4Forwarding: Bool?
    /// net.ipv6.conf.all.forwarding
    public var ipv6Forwarding: Bool?
    /// net.ipv4.conf.all.rp_filter (0 off, 1 strict, 2 loose); the kernel uses max(all, interface).
    public var rpFilterAll: Int?
    public var rpFilterDefault: Int?
    /// net.ipv4.conf.IFACE.rp_filter for every interface.
    public var rpFilter: [String: Int]
    /// net.ipv4.conf.all.proxy_arp
    public var proxyARPAll: Bool?
    /// net.ipv4.conf.IFACE.proxy_arp for every interface.
    public var proxyARP: [String: Bool]
    /// net.bridge.bridge-nf-call-iptables: bridged IPv4 frames traverse iptables.
    public var bridgeNFCallIptables: Bool?
    public var bridgeNFCallIp6tables: Bool?
    /// net.netfilter.nf_conntrack_count and nf_conntrack_max: a full table drops new flows.
    public var conntrackCount: Int?
    public var conntrackMax: Int?

    public init() {
        rpFilter = [:]
        proxyARP = [:]
    }

    /// The rp_filter mode the kernel applies on `interface`: the larger of `all` and the interface's own.
    public func effectiveRPFilter(on interface: String) -> Int? {
        switch (rpFilterAll, rpFilter[interface]) {
        case (nil, nil): nil
        case (let a?, nil): a
        case (nil, let i?): i
        case (let a?, let i?): max(a, i)
        }
    }
}

/// A namespace id assigned in one namespace to another (`ip netns list-id`), with the namespace
/// it designates when Hopscope could resolve it.
public struct PeerNamespaceID: Hashable, Sendable, Codable {
    public var nsid: Int32
    /// The label of the namespace this id designates, nil if it is not among the scanned ones.
    public var namespace: String?

    public init(nsid: Int32, namespace: String?) {
        self.nsid = nsid
        self.namespace = namespace
    }
}

/// Everything Hopscope reads from one network namespace: interfaces, addresses, routes in every
/// table, policy rules, neighbours, bridge FDB and forwarding sysctls, with veth peers and
/// masters resolved across namespaces.
public struct NamespaceInventory: Hashable, Sendable, Codable {
    public var namespace: NetworkNamespace
    public var links: [Link]
    public var addresses: [InterfaceAddress]
    public var routes: [Route]
    public var rules: [RoutingRule]
    public var neighbors: [Neighbor]
    public var fdb: [FDBEntry]
    public var sysctls: ForwardingSysctls
    public var namespaceIDs: [PeerNamespaceID]
    /// Things that could not be read or resolved here, each a sentence.
    public var warnings: [String]

    public init(namespace: NetworkNamespace) {
        self.namespace = namespace
        links = []
        addresses = []
        routes = []
        rules = []
        neighbors = []
        fdb = []
        sysctls = ForwardingSysctls()
        namespaceIDs = []
        warnings = []
    }

    public func link(named name: String) -> Link? { links.first { $0.name == name } }
    public func link(index: Int) -> Link? { links.first { $0.index == index } }
}

/// A namespace that was found but could not be read (it disappeared mid-scan, or access was denied).
public struct SkippedNamespace: Hashable, Sendable, Codable {
    public var label: String
    public var inode: UInt64
    public var reason: String

    public init(label: String, inode: UInt64, reason: String) {
        self.label = label
        self.inode = inode
        self.reason = reason
    }
}

/// The network state of a whole machine: one inventory per namespace, plus the namespaces that
/// were found but skipped. This is what a Snapshot embeds.
public struct NetworkInventory: Hashable, Sendable, Codable {
    public var namespaces: [NamespaceInventory]
    public var skipped: [SkippedNamespace]

    public init(namespaces: [NamespaceInventory] = [], skipped: [SkippedNamespace] = []) {
        self.namespaces = namespaces
        self.skipped = skipped
    }

    public func namespace(labelled label: String) -> NamespaceInventory? {
        namespaces.first { $0.namespace.label == label }
    }

    /// The interface an `InterfaceRef` points to.
    public func link(_ ref: InterfaceRef) -> Link? {
        namespace(labelled: ref.namespace)?.link(index: ref.index)
    }
}
