/// One next hop of a multipath route (`nexthop via ... dev ... weight N`).
public struct Nexthop: Hashable, Sendable, Codable {
    public var gateway: IPAddress?
    public var interfaceIndex: Int?
    public var interface: String?
    /// `weight` as `ip` prints it (kernel hops + 1).
    public var weight: Int
    public var flags: [String]

    public init(gateway: IPAddress? = nil, interfaceIndex: Int? = nil, weight: Int = 1, flags: [String] = []) {
        self.gateway = gateway
        self.interfaceIndex = interfaceIndex
        self.weight = weight
        self.flags = flags
    }
}

/// Routing table numbers with names (`/etc/iproute2/rt_tables`'s reserved entries).
public enum RoutingTable {
    public static let main: UInt32 = 254
    public static let local: UInt32 = 255
    public static let `default`: UInt32 = 253

    /// `main`, `local`, `default`, or the number, as `ip route` prints a table.
    public static func name(_ table: UInt32) -> String {
        switch table {
        case main: "main"
        case local: "local"
        case `default`: "default"
        default: String(table)
        }
    }
}

/// One route from any routing table (`ip route show table all`, IPv4 and IPv6).
public struct Route: Hashable, Sendable, Codable {
    /// The destination; `0.0.0.0/0` or `::/0` is the default route.
    public var destination: IPPrefix
    /// Source-specific routing (`from`), IPv6 only.
    public var sourcePrefix: IPPrefix?
    public var table: UInt32
    public var type: RouteType
    public var routeProtocol: RouteProtocol
    public var scope: RouteScope
    public var tos: UInt8
    public var gateway: IPAddress?
    public var outputInterfaceIndex: Int?
    /// The outgoing interface's name, resolved from the namespace's links.
    public var outputInterface: String?
    /// `src`: the address preferred as source for packets this route sends.
    public var preferredSource: IPAddress?
    public var metric: UInt32?
    public var mtu: UInt32?
    /// `onlink`, `linkdown`, `dead`, `pervasive`, `offload`, `trap`, `notify`.
    public var flags: [String]
    /// The next hops of a multipath route (empty otherwise).
    public var nexthops: [Nexthop]

    public init(destination: IPPrefix, table: UInt32 = RoutingTable.main, type: RouteType = .unicast,
                routeProtocol: RouteProtocol = .boot, scope: RouteScope = .global) {
        self.destination = destination
        self.table = table
        self.type = type
        self.routeProtocol = routeProtocol
        self.scope = scope
        tos = 0
        flags = []
        nexthops = []
    }

    public var isIPv4: Bool { destination.address.isIPv4 }
    public var isDefault: Bool { destination.length == 0 }
}

/// What a policy routing rule does when it matches (`fib_rule_hdr.action`).
public enum RuleAction: String, Hashable, Sendable, Codable {
    case lookup, goto, nop, blackhole, unreachable, prohibit, unspecified
}

/// One policy routing rule (`ip rule`): selectors, then the table to look up or another action.
public struct RoutingRule: Hashable, Sendable, Codable {
    /// `inet` or `inet6`.
    public var family: String
    public var priority: UInt32
    /// `not`: the selectors are inverted.
    public var inverted: Bool
    public var from: IPPrefix?
    public var to: IPPrefix?
    public var tos: UInt8
    public var inputInterface: String?
    public var outputInterface: String?
    public var fwmark: UInt32?
    public var fwmask: UInt32?
    public var ipProtocol: UInt8?
    public var sourcePorts: ClosedRange<UInt16>?
    public var destinationPorts: ClosedRange<UInt16>?
    public var uidRange: ClosedRange<UInt32>?
    public var l3mdev: Bool
    public var action: RuleAction
    /// The table looked up (for `lookup`).
    public var table: UInt32?
    /// The rule priority jumped to (for `goto`).
    public var gotoPriority: UInt32?
    public var suppressPrefixLength: Int32?
    public var suppressInterfaceGroup: Int32?
    public var ruleProtocol: RouteProtocol

    public init(family: String, priority: UInt32, action: RuleAction, table: UInt32? = nil) {
        self.family = family
        self.priority = priority
        self.action = action
        self.table = table
        inverted = false
        tos = 0
        l3mdev = false
        ruleProtocol = .unspecified
    }
}
