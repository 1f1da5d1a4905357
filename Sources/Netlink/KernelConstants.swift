// Kernel numbers the pure decoding code uses, as Swift enums with explicit raw values so that the
// codec needs no C headers. `KernelConstantsTests` checks every one against <linux/*.h>.

/// Netlink message types: the control messages (`NLMSG_*`) and the rtnetlink ones (`RTM_*`).
public enum MessageType: UInt16, Sendable {
    case noop = 1
    case error = 2
    case done = 3
    case overrun = 4
    case newLink = 16
    case getLink = 18
    case newAddress = 20
    case getAddress = 22
    case newRoute = 24
    case getRoute = 26
    case newNeighbor = 28
    case getNeighbor = 30
    case newRule = 32
    case getRule = 34
    case newNamespaceID = 88
    case getNamespaceID = 90

    /// The kernel's name (`RTM_GETLINK`, `NLMSG_DONE`), for messages.
    public var kernelName: String {
        switch self {
        case .noop: "NLMSG_NOOP"
        case .error: "NLMSG_ERROR"
        case .done: "NLMSG_DONE"
        case .overrun: "NLMSG_OVERRUN"
        case .newLink: "RTM_NEWLINK"
        case .getLink: "RTM_GETLINK"
        case .newAddress: "RTM_NEWADDR"
        case .getAddress: "RTM_GETADDR"
        case .newRoute: "RTM_NEWROUTE"
        case .getRoute: "RTM_GETROUTE"
        case .newNeighbor: "RTM_NEWNEIGH"
        case .getNeighbor: "RTM_GETNEIGH"
        case .newRule: "RTM_NEWRULE"
        case .getRule: "RTM_GETRULE"
        case .newNamespaceID: "RTM_NEWNSID"
        case .getNamespaceID: "RTM_GETNSID"
        }
    }
}

/// `nlmsghdr.nlmsg_flags` bits (`NLM_F_*`).
public struct MessageFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let request = MessageFlags(rawValue: 0x1)
    public static let multipart = MessageFlags(rawValue: 0x2)
    public static let ack = MessageFlags(rawValue: 0x4)
    public static let echo = MessageFlags(rawValue: 0x8)
    /// The dump was interrupted by a change: its contents may be inconsistent (`NLM_F_DUMP_INTR`).
    public static let dumpInterrupted = MessageFlags(rawValue: 0x10)
    public static let dumpFiltered = MessageFlags(rawValue: 0x20)
    public static let root = MessageFlags(rawValue: 0x100)
    public static let match = MessageFlags(rawValue: 0x200)
    public static let dump: MessageFlags = [.root, .match]
    /// On an error message: the original request's payload was left out (`NLM_F_CAPPED`).
    public static let capped = MessageFlags(rawValue: 0x100)
    /// On an error message: extended-ack attributes follow (`NLM_F_ACK_TLVS`).
    public static let ackTLVs = MessageFlags(rawValue: 0x200)
}

/// Extended acknowledgement attributes in an error message (`NLMSGERR_ATTR_*`).
public enum ExtendedAckAttribute: UInt16, Sendable {
    case message = 1
    case offset = 2
    case cookie = 3
    case policy = 4
    case missingType = 5
    case missingNest = 6
}

/// Socket options at level `SOL_NETLINK`.
public enum NetlinkSocketOption: Int32, Sendable {
    case extendedAck = 11
    case getStrictCheck = 12
    public static let level: Int32 = 270
}

/// Address families used in rtnetlink headers.
public enum AddressFamily: UInt8, Sendable {
    case unspecified = 0
    case inet = 2
    case bridge = 7
    case inet6 = 10
}

/// Top-level link attributes (`IFLA_*`).
public enum LinkAttribute: UInt16, Sendable {
    case address = 1
    case broadcast = 2
    case ifname = 3
    case mtu = 4
    case link = 5
    case qdisc = 6
    case stats = 7
    case master = 10
    case protinfo = 12
    case txQueueLength = 13
    case operState = 16
    case linkMode = 17
    case linkInfo = 18
    case ifAlias = 20
    case stats64 = 23
    case afSpec = 26
    case group = 27
    case extMask = 29
    case promiscuity = 30
    case carrier = 33
    case linkNetnsID = 37
    case altIfname = 53
    case permAddress = 54
}

/// Nested in `IFLA_LINKINFO` (`IFLA_INFO_*`).
public enum LinkInfoAttribute: UInt16, Sendable {
    case kind = 1
    case data = 2
    case xstats = 3
    case slaveKind = 4
    case slaveData = 5
}

/// vxlan `IFLA_INFO_DATA` (`IFLA_VXLAN_*`).
public enum VXLANAttribute: UInt16, Sendable {
    case id = 1
    case group = 2
    case link = 3
    case local = 4
    case ttl = 5
    case learning = 7
    case port = 15
    case group6 = 16
    case local6 = 17
    case collectMetadata = 25
}

/// geneve `IFLA_INFO_DATA` (`IFLA_GENEVE_*`).
public enum GeneveAttribute: UInt16, Sendable {
    case id = 1
    case remote = 2
    case ttl = 3
    case port = 5
    case collectMetadata = 6
    case remote6 = 7
}

/// gre, gretap, ip6gre, ip6gretap `IFLA_INFO_DATA` (`IFLA_GRE_*`).
public enum GREAttribute: UInt16, Sendable {
    case link = 1
    case inputFlags = 2
    case outputFlags = 3
    case inputKey = 4
    case outputKey = 5
    case local = 6
    case remote = 7
    case ttl = 8
    case collectMetadata = 18
}

/// ipip, sit `IFLA_INFO_DATA` (`IFLA_IPTUN_*`).
public enum IPTunnelAttribute: UInt16, Sendable {
    case link = 1
    case local = 2
    case remote = 3
    case ttl = 4
    case collectMetadata = 19
}

/// bridge `IFLA_INFO_DATA` (`IFLA_BR_*`).
public enum BridgeAttribute: UInt16, Sendable {
    case forwardDelay = 1
    case helloTime = 2
    case maxAge = 3
    case ageingTime = 4
    case stpState = 5
    case priority = 6
    case vlanFiltering = 7
}

/// Bridge port attributes (`IFLA_BRPORT_*`), in `IFLA_INFO_SLAVE_DATA` and `IFLA_PROTINFO`.
public enum BridgePortAttribute: UInt16, Sendable {
    case state = 1
    case priority = 2
    case cost = 3
    case mode = 4
    case learning = 8
    case unicastFlood = 9
    case proxyARP = 10
    case portNumber = 18
    case multicastFlood = 27
    case broadcastFlood = 30
    case neighborSuppress = 32
    case isolated = 33
}

/// vlan `IFLA_INFO_DATA` (`IFLA_VLAN_*`).
public enum VLANAttribute: UInt16, Sendable {
    case id = 1
    case flags = 2
    case tagProtocol = 5
}

/// macvlan and macvtap `IFLA_INFO_DATA` (`IFLA_MACVLAN_*`).
public enum MACVLANAttribute: UInt16, Sendable {
    case mode = 1
}

/// bond `IFLA_INFO_DATA` (`IFLA_BOND_*`).
public enum BondAttribute: UInt16, Sendable {
    case mode = 1
    case activePort = 2
    case miimon = 3
}

/// tun `IFLA_INFO_DATA` (`IFLA_TUN_*`).
public enum TunAttribute: UInt16, Sendable {
    case owner = 1
    case group = 2
    case type = 3
    case persist = 6
    case multiQueue = 7
}

/// Address attributes (`IFA_*`).
public enum AddressAttribute: UInt16, Sendable {
    case address = 1
    case local = 2
    case label = 3
    case broadcast = 4
    case anycast = 5
    case cacheInfo = 6
    case multicast = 7
    case flags = 8
    case routePriority = 9
    case targetNetnsID = 10
    case addressProtocol = 11
}

/// Route attributes (`RTA_*`).
public enum RouteAttribute: UInt16, Sendable {
    case destination = 1
    case source = 2
    case inputInterface = 3
    case outputInterface = 4
    case gateway = 5
    case priority = 6
    case preferredSource = 7
    case metrics = 8
    case multipath = 9
    case flow = 11
    case cacheInfo = 12
    case table = 15
    case mark = 16
    case via = 18
    case preference = 20
    case encapType = 21
    case encap = 22
    case expires = 23
    case nexthopID = 30
}

/// Route metrics nested in `RTA_METRICS` (`RTAX_*`).
public enum RouteMetricAttribute: UInt16, Sendable {
    case lock = 1
    case mtu = 2
}

/// Neighbour attributes (`NDA_*`).
public enum NeighborAttribute: UInt16, Sendable {
    case destination = 1
    case linkLayerAddress = 2
    case cacheInfo = 3
    case probes = 4
    case vlan = 5
    case port = 6
    case vni = 7
    case interfaceIndex = 8
    case master = 9
    case linkNetnsID = 10
    case sourceVNI = 11
    case neighborProtocol = 12
    case flagsExtended = 15
}

/// Neighbour flags (`NTF_*`).
public struct NeighborFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let use = NeighborFlags(rawValue: 0x01)
    public static let `self` = NeighborFlags(rawValue: 0x02)
    public static let master = NeighborFlags(rawValue: 0x04)
    public static let proxy = NeighborFlags(rawValue: 0x08)
    public static let externLearned = NeighborFlags(rawValue: 0x10)
    public static let offloaded = NeighborFlags(rawValue: 0x20)
    public static let sticky = NeighborFlags(rawValue: 0x40)
    public static let router = NeighborFlags(rawValue: 0x80)
}

/// Policy rule attributes (`FRA_*`).
public enum RuleAttribute: UInt16, Sendable {
    case destination = 1
    case source = 2
    case inputInterfaceName = 3
    case goto = 4
    case priority = 6
    case fwmark = 10
    case flow = 11
    case tunnelID = 12
    case suppressInterfaceGroup = 13
    case suppressPrefixLength = 14
    case table = 15
    case fwmask = 16
    case outputInterfaceName = 17
    case l3mdev = 19
    case uidRange = 20
    case ruleProtocol = 21
    case ipProtocol = 22
    case sourcePortRange = 23
    case destinationPortRange = 24
}

/// Policy rule actions (`FR_ACT_*`).
public enum RuleActionCode: UInt8, Sendable {
    case unspecified = 0
    case toTable = 1
    case goto = 2
    case nop = 3
    case blackhole = 6
    case unreachable = 7
    case prohibit = 8
}

/// Namespace id attributes (`NETNSA_*`).
public enum NamespaceIDAttribute: UInt16, Sendable {
    case nsid = 1
    case pid = 2
    case fd = 3
    case targetNSID = 4
    case currentNSID = 5
}

/// Operational states in `IFLA_OPERSTATE` (`IF_OPER_*`).
public enum OperationalStateCode: UInt8, Sendable {
    case unknown = 0
    case notPresent = 1
    case down = 2
    case lowerLayerDown = 3
    case testing = 4
    case dormant = 5
    case up = 6
}

/// Spanning tree port states (`BR_STATE_*`).
public enum BridgePortStateCode: UInt8, Sendable {
    case disabled = 0
    case listening = 1
    case learning = 2
    case forwarding = 3
    case blocking = 4
}

/// Address flags (`IFA_F_*`) with the names `ip -j addr` prints.
public enum AddressFlag: UInt32, Sendable, CaseIterable {
    case secondary = 0x01
    case noDAD = 0x02
    case optimistic = 0x04
    case dadFailed = 0x08
    case homeAddress = 0x10
    case deprecated = 0x20
    case tentative = 0x40
    case permanent = 0x80
    case manageTemporaryAddress = 0x100
    case noPrefixRoute = 0x200
    case multicastAutoJoin = 0x400
    case stablePrivacy = 0x800

    public var name: String {
        switch self {
        case .secondary: "secondary"
        case .noDAD: "nodad"
        case .optimistic: "optimistic"
        case .dadFailed: "dadfailed"
        case .homeAddress: "home"
        case .deprecated: "deprecated"
        case .tentative: "tentative"
        case .permanent: "permanent"
        case .manageTemporaryAddress: "mngtmpaddr"
        case .noPrefixRoute: "noprefixroute"
        case .multicastAutoJoin: "autojoin"
        case .stablePrivacy: "stable-privacy"
        }
    }
}

/// Route and next-hop flags (`RTNH_F_*` in `rtm_flags` and `rtnh_flags`) with `ip` names.
public enum RouteFlag: UInt32, Sendable, CaseIterable {
    case dead = 0x01
    case pervasive = 0x02
    case onlink = 0x04
    case offload = 0x08
    case linkdown = 0x10
    case unresolved = 0x20
    case trap = 0x40

    public var name: String {
        switch self {
        case .dead: "dead"
        case .pervasive: "pervasive"
        case .onlink: "onlink"
        case .offload: "offload"
        case .linkdown: "linkdown"
        case .unresolved: "unresolved"
        case .trap: "trap"
        }
    }
}

/// `rtm_table` value meaning "see RTA_TABLE" (`RT_TABLE_COMPAT` is 252; tables above 255 only
/// fit in the attribute).
public enum RouteTableCode: UInt32, Sendable {
    case unspecified = 0
    case compat = 252
    case defaultTable = 253
    case main = 254
    case local = 255
}

/// ARPHRD hardware types with the names `ip link` prints (`link/ether`, `link/loopback`, ...).
public enum HardwareTypeCode: UInt16, Sendable, CaseIterable {
    case netrom = 0
    case ether = 1
    case infiniband = 32
    case tunnel = 768
    case tunnel6 = 769
    case sit = 776
    case ipgre = 778
    case loopback = 772
    case ip6gre = 823
    case netlink = 824
    case none = 0xFFFE
    case void = 0xFFFF

    public var name: String {
        switch self {
        case .netrom: "netrom"
        case .ether: "ether"
        case .infiniband: "infiniband"
        case .tunnel: "ipip"
        case .tunnel6: "tunnel6"
        case .sit: "sit"
        case .ipgre: "gre"
        case .loopback: "loopback"
        case .ip6gre: "gre6"
        case .netlink: "netlink"
        case .none: "none"
        case .void: "void"
        }
    }
}

/// `IFLA_EXT_MASK` bits (`RTEXT_FILTER_*`).
public enum ExtendedFilter: UInt32, Sendable {
    case virtualFunctions = 1
    case bridgeVLAN = 2
    case skipStats = 8
}

/// `NETNSA_NSID_NOT_ASSIGNED`: the namespace has no id in the asking namespace.
public let namespaceIDNotAssigned: Int32 = -1

/// Sizes of the fixed family headers that start each rtnetlink payload.
public enum FamilyHeaderSize {
    public static let ifinfomsg = 16
    public static let ifaddrmsg = 8
    public static let rtmsg = 12
    public static let ndmsg = 12
    public static let fibRuleHeader = 12
    public static let rtgenmsg = 1
    public static let nlmsghdr = 16
    public static let nlattr = 4
    public static let rtnexthop = 8
    public static let linkStats64Minimum = 8 * 23
}

/// Attributes nested in `IFLA_AF_SPEC` under `AF_INET` (`IFLA_INET_*`).
public enum InetAttribute: UInt16, Sendable {
    case conf = 1
}

/// Positions (1-based, as the kernel numbers them) in the `IFLA_INET_CONF` u32 array, which
/// holds the interface's net.ipv4.conf.IFACE.* values (`IPV4_DEVCONF_*`).
public enum IPv4DeviceConf: Int, Sendable {
    case forwarding = 1
    case proxyARP = 3
    case rpFilter = 8
}
