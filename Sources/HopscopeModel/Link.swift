/// Where an interface lives: its namespace's label and its own name and index, printed the way
/// operators write it, `tap1234@compute1`.
public struct InterfaceRef: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The label of the network namespace (see `NetworkNamespace.label`).
    public var namespace: String
    public var name: String
    public var index: Int

    public init(namespace: String, name: String, index: Int) {
        self.namespace = namespace
        self.name = name
        self.index = index
    }

    public var description: String { "\(name)@\(namespace)" }
}

/// The kind of a virtual device as the kernel names it in `IFLA_INFO_KIND` (`ip -d link` shows it):
/// `veth`, `bridge`, `vxlan`, `tun`, `gre`, `openvswitch`, ... Open-ended: kinds Hopscope does not
/// know are kept by name. Physical devices and loopback have no kind.
public struct LinkKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public static let veth: LinkKind = "veth"
    public static let bridge: LinkKind = "bridge"
    public static let tun: LinkKind = "tun"
    public static let vxlan: LinkKind = "vxlan"
    public static let geneve: LinkKind = "geneve"
    public static let gre: LinkKind = "gre"
    public static let gretap: LinkKind = "gretap"
    public static let ip6gre: LinkKind = "ip6gre"
    public static let ip6gretap: LinkKind = "ip6gretap"
    public static let ipip: LinkKind = "ipip"
    public static let sit: LinkKind = "sit"
    public static let openvswitch: LinkKind = "openvswitch"
    public static let bond: LinkKind = "bond"
    public static let vlan: LinkKind = "vlan"
    public static let macvlan: LinkKind = "macvlan"
    public static let macvtap: LinkKind = "macvtap"
    public static let ipvlan: LinkKind = "ipvlan"
    public static let dummy: LinkKind = "dummy"
    public static let vrf: LinkKind = "vrf"
    public static let wireguard: LinkKind = "wireguard"

    /// Kinds that carry packets inside another IP packet (they have tunnel endpoints).
    public var isTunnel: Bool {
        [.vxlan, .geneve, .gre, .gretap, .ip6gre, .ip6gretap, .ipip, .sit].contains(self)
    }
}

/// The RFC 2863 operational state (`IFLA_OPERSTATE`), spelled as `ip link` prints it.
public enum OperState: String, Hashable, Sendable, Codable {
    case unknown = "UNKNOWN"
    case notPresent = "NOTPRESENT"
    case down = "DOWN"
    case lowerLayerDown = "LOWERLAYERDOWN"
    case testing = "TESTING"
    case dormant = "DORMANT"
    case up = "UP"
}

/// The interface flags word (`IFF_*` in `ifinfomsg.ifi_flags`). Encoded as the list of names
/// `ip -j link` prints (`["BROADCAST","MULTICAST","UP","LOWER_UP"]`).
public struct InterfaceFlags: OptionSet, Hashable, Sendable, Codable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let up = InterfaceFlags(rawValue: 0x1)
    public static let broadcast = InterfaceFlags(rawValue: 0x2)
    public static let debug = InterfaceFlags(rawValue: 0x4)
    public static let loopback = InterfaceFlags(rawValue: 0x8)
    public static let pointToPoint = InterfaceFlags(rawValue: 0x10)
    public static let noTrailers = InterfaceFlags(rawValue: 0x20)
    public static let running = InterfaceFlags(rawValue: 0x40)
    public static let noARP = InterfaceFlags(rawValue: 0x80)
    public static let promiscuous = InterfaceFlags(rawValue: 0x100)
    public static let allMulticast = InterfaceFlags(rawValue: 0x200)
    public static let master = InterfaceFlags(rawValue: 0x400)
    public static let slave = InterfaceFlags(rawValue: 0x800)
    public static let multicast = InterfaceFlags(rawValue: 0x1000)
    public static let portSelect = InterfaceFlags(rawValue: 0x2000)
    public static let autoMedia = InterfaceFlags(rawValue: 0x4000)
    public static let dynamic = InterfaceFlags(rawValue: 0x8000)
    public static let lowerUp = InterfaceFlags(rawValue: 0x10000)
    public static let dormant = InterfaceFlags(rawValue: 0x20000)
    public static let echo = InterfaceFlags(rawValue: 0x40000)

    /// Names in the order iproute2's `print_link_flags` prints them. `RUNNING` is never printed
    /// by `ip` (it shows `LOWER_UP` instead), and `UP` is `NO-CARRIER`'s companion.
    static let names: [(InterfaceFlags, String)] = [
        (.loopback, "LOOPBACK"), (.broadcast, "BROADCAST"), (.pointToPoint, "POINTOPOINT"),
        (.multicast, "MULTICAST"), (.noARP, "NOARP"), (.allMulticast, "ALLMULTI"),
        (.promiscuous, "PROMISC"), (.noTrailers, "NOTRAILERS"), (.debug, "DEBUG"),
        (.dynamic, "DYNAMIC"), (.autoMedia, "AUTOMEDIA"), (.portSelect, "PORTSEL"),
        (.master, "MASTER"), (.slave, "SLAVE"), (.up, "UP"), (.lowerUp, "LOWER_UP"),
        (.dormant, "DORMANT"), (.echo, "ECHO"), (.running, "RUNNING"),
    ]

    /// The flag names, as `ip -j link` prints them (plus `RUNNING`, which `ip` hides).
    public var names: [String] { Self.names.filter { contains($0.0) }.map(\.1) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let list = try c.decode([String].self)
        var v = InterfaceFlags()
        for name in list {
            guard let f = Self.names.first(where: { $0.1 == name }) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown interface flag \(name)")
            }
            v.insert(f.0)
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(names)
    }
}

/// 64-bit interface counters (`IFLA_STATS64`, `struct rtnl_link_stats64`), as `ip -s link` shows them.
public struct LinkStatistics: Hashable, Sendable, Codable {
    public var rxPackets: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxErrors: UInt64 = 0
    public var txErrors: UInt64 = 0
    public var rxDropped: UInt64 = 0
    public var txDropped: UInt64 = 0
    public var multicast: UInt64 = 0
    public var collisions: UInt64 = 0
    public var rxLengthErrors: UInt64 = 0
    public var rxOverErrors: UInt64 = 0
    public var rxCRCErrors: UInt64 = 0
    public var rxFrameErrors: UInt64 = 0
    public var rxFIFOErrors: UInt64 = 0
    public var rxMissedErrors: UInt64 = 0
    public var txAbortedErrors: UInt64 = 0
    public var txCarrierErrors: UInt64 = 0
    public var txFIFOErrors: UInt64 = 0
    public var txHeartbeatErrors: UInt64 = 0
    public var txWindowErrors: UInt64 = 0
    public var rxCompressed: UInt64 = 0
    public var txCompressed: UInt64 = 0
    /// Packets dropped because no protocol handler wanted them (kernel 4.6+).
    public var rxNoHandler: UInt64?
    /// Packets dropped because they were addressed to another host (kernel 5.19+).
    public var rxOtherHostDropped: UInt64?

    public init() {}
}

/// Tunnel endpoints and identifiers of an encapsulating device: vxlan, geneve, gre/gretap,
/// ip6gre, ipip, sit (`IFLA_INFO_DATA` of those kinds).
public struct TunnelInfo: Hashable, Sendable, Codable {
    /// The VXLAN or Geneve network identifier.
    public var vni: UInt32?
    /// GRE input and output keys, when keyed.
    public var inputKey: UInt32?
    public var outputKey: UInt32?
    /// The local (source) address of the outer packet.
    public var tunnelLocalIP: IPAddress?
    /// The remote (destination) address of the outer packet; a multicast group for vxlan is
    /// reported in `multicastGroup` instead.
    public var tunnelRemoteIP: IPAddress?
    public var multicastGroup: IPAddress?
    /// The UDP destination port of vxlan and geneve.
    public var destinationPort: UInt16?
    /// The device the outer packets leave through (`dev` in `ip link add ... vxlan`).
    public var underlyingDeviceIndex: Int?
    public var underlyingDevice: String?
    public var ttl: UInt8?
    /// vxlan: MAC learning from received packets.
    public var learning: Bool?
    /// Flow-based ("external", collect_metadata) mode: endpoints come from the packet's metadata
    /// (Open vSwitch), not from this device.
    public var externalControl: Bool?

    public init() {}
}

/// Settings of a Linux bridge device (`IFLA_INFO_DATA` of kind `bridge`).
public struct BridgeInfo: Hashable, Sendable, Codable {
    public var stpEnabled: Bool?
    public var vlanFiltering: Bool?
    /// Seconds a learned MAC address stays in the FDB.
    public var ageingTimeSeconds: Double?
    public var forwardDelaySeconds: Double?
    public var priority: UInt16?
    public init() {}
}

/// The 802.1Q or 802.1ad tag of a vlan device.
public struct VLANInfo: Hashable, Sendable, Codable {
    public var id: UInt16
    /// `802.1Q` or `802.1ad`.
    public var tagProtocol: String?
    public init(id: UInt16, tagProtocol: String? = nil) {
        self.id = id
        self.tagProtocol = tagProtocol
    }
}

/// The mode of a macvlan or macvtap device: `private`, `vepa`, `bridge`, `passthru`, `source`.
public struct MACVLANInfo: Hashable, Sendable, Codable {
    public var mode: String
    public init(mode: String) { self.mode = mode }
}

/// The bonding mode and the active port of a bond device.
public struct BondInfo: Hashable, Sendable, Codable {
    /// `balance-rr`, `active-backup`, `balance-xor`, `broadcast`, `802.3ad`, `balance-tlb`, `balance-alb`.
    public var mode: String?
    public var activePortIndex: Int?
    public var miimonMilliseconds: UInt32?
    public init() {}
}

/// A tun or tap device: which of the two, and whether a process keeps it (`IFLA_TUN_*`).
public struct TunTapInfo: Hashable, Sendable, Codable {
    /// `tun` (layer 3) or `tap` (layer 2).
    public var mode: String?
    public var persistent: Bool?
    public var multiQueue: Bool?
    public var ownerUID: UInt32?
    public var groupGID: UInt32?
    public init() {}
}

/// One network interface of a namespace, as `ip -d -s link show` describes it, with the
/// cross-namespace facts `ip` leaves to the reader (veth peer, master) resolved.
public struct Link: Hashable, Sendable, Codable {
    public var index: Int
    public var name: String
    /// nil for physical devices and loopback.
    public var kind: LinkKind?
    /// The ARPHRD hardware type as `ip` names it: `ether`, `loopback`, `none`, `gre`, ...
    public var hardwareType: String
    public var flags: InterfaceFlags
    /// Administratively up (`ip link set ... up`).
    public var adminUp: Bool { flags.contains(.up) }
    /// The driver reports the lower layer up (`LOWER_UP`).
    public var lowerUp: Bool { flags.contains(.lowerUp) }
    public var operState: OperState
    public var carrier: Bool?
    public var mtu: Int
    public var mac: MACAddress?
    public var txQueueLength: Int?
    public var promiscuity: Int
    public var alias: String?
    /// The index of the device this one is enslaved to (bridge, bond, vrf, OVS datapath).
    public var masterIndex: Int?
    /// The master, resolved in the same namespace (`bridgeMaster` when it is a Linux bridge).
    public var master: InterfaceRef?
    /// `IFLA_LINK`: a veth's peer, a vlan's or macvlan's parent, a tunnel's underlay.
    public var lowerIndex: Int?
    /// `IFLA_LINK_NETNSID`: the id, in this namespace, of the namespace `lowerIndex` lives in.
    /// nil when it lives in this namespace.
    public var lowerNamespaceID: Int32?
    /// For veth: the other end, resolved to its namespace and name.
    public var vethPeer: InterfaceRef?
    /// For vlan, macvlan, ipvlan: the parent device, resolved.
    public var lowerDevice: InterfaceRef?
    /// `bridge`, `bond`, `openvswitch`, ... when this device is a port of a master (`IFLA_INFO_SLAVE_KIND`).
    public var portKind: String?
    /// Spanning tree and flooding state when this device is a Linux bridge port.
    public var bridgePort: BridgePortState?
    public var tunnel: TunnelInfo?
    public var bridge: BridgeInfo?
    public var vlan: VLANInfo?
    public var macvlan: MACVLANInfo?
    public var bond: BondInfo?
    public var tunTap: TunTapInfo?
    public var statistics: LinkStatistics?

    public init(index: Int, name: String) {
        self.index = index
        self.name = name
        hardwareType = "ether"
        flags = []
        operState = .unknown
        mtu = 0
        promiscuity = 0
    }

    /// The master when it is a Linux bridge.
    public var bridgeMaster: InterfaceRef? { portKind == "bridge" ? master : nil }
}
