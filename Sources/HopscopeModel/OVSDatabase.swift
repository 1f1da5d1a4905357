/// Open vSwitch state as a Snapshot stores it: the OVSDB rows Hopscope reads (Open_vSwitch,
/// Bridge, Port, Interface, Mirror, Controller), and per bridge the OpenFlow view (flow dump
/// lines, OpenFlow port numbers, MAC learning table).
///
/// Rows keep OVSDB's own column names in operator words; UUIDs are lower-case text. Everything is
/// Codable and Sendable so a snapshot can be written, loaded and analysed offline.

/// One Open vSwitch instance on a machine: where its daemons and sockets are, and the network
/// namespace it runs in. A lab runs several; a normal host one.
public struct OVSInstanceInfo: Hashable, Sendable, Codable {
    /// The node name: the namespace's name, or the host name for the initial namespace.
    public var node: String
    /// Named network namespace of ovs-vswitchd (nil when it runs in the initial namespace).
    public var namespace: String?
    /// `unix:PATH` of the database socket.
    public var databaseSocket: String
    /// OVS_RUNDIR of the instance (where `BRIDGE.mgmt` and `ovs-vswitchd.PID.ctl` live).
    public var runDirectory: String
    /// `RUNDIR/ovs-vswitchd.PID.ctl`, the unixctl socket `ovs-appctl -t` talks to.
    public var controlSocket: String?
    public var ovsdbServerPID: Int32?
    public var vswitchdPID: Int32?
    /// The nsfs inode of the namespace the daemons run in (nil when it could not be read).
    public var namespaceInode: UInt64?

    public init(node: String, namespace: String?, databaseSocket: String, runDirectory: String,
                controlSocket: String?, ovsdbServerPID: Int32?, vswitchdPID: Int32?, namespaceInode: UInt64? = nil) {
        self.namespaceInode = namespaceInode
        self.node = node
        self.namespace = namespace
        self.databaseSocket = databaseSocket
        self.runDirectory = runDirectory
        self.controlSocket = controlSocket
        self.ovsdbServerPID = ovsdbServerPID
        self.vswitchdPID = vswitchdPID
    }
}

/// The Open_vSwitch database of one instance, as read in one transaction.
public struct OVSDatabase: Hashable, Sendable, Codable {
    public var system: OVSSystemRow?
    public var bridges: [OVSBridgeRow]
    public var ports: [OVSPortRow]
    public var interfaces: [OVSInterfaceRow]
    public var mirrors: [OVSMirrorRow]
    public var controllers: [OVSControllerRow]

    public init(system: OVSSystemRow? = nil, bridges: [OVSBridgeRow] = [], ports: [OVSPortRow] = [],
                interfaces: [OVSInterfaceRow] = [], mirrors: [OVSMirrorRow] = [], controllers: [OVSControllerRow] = []) {
        self.system = system
        self.bridges = bridges
        self.ports = ports
        self.interfaces = interfaces
        self.mirrors = mirrors
        self.controllers = controllers
    }

    public func bridge(named name: String) -> OVSBridgeRow? { bridges.first { $0.name == name } }
    public func port(uuid: String) -> OVSPortRow? { ports.first { $0.uuid == uuid } }
    public func interface(uuid: String) -> OVSInterfaceRow? { interfaces.first { $0.uuid == uuid } }
    public func interface(named name: String) -> OVSInterfaceRow? { interfaces.first { $0.name == name } }
    /// The bridge that holds the port with this name.
    public func bridge(holdingPort name: String) -> OVSBridgeRow? {
        guard let port = ports.first(where: { $0.name == name }) else { return nil }
        return bridges.first { $0.ports.contains(port.uuid) }
    }
    /// The ports of a bridge, in name order.
    public func ports(of bridge: OVSBridgeRow) -> [OVSPortRow] {
        bridge.ports.compactMap { port(uuid: $0) }.sorted { $0.name < $1.name }
    }
    /// The interfaces of a port, in name order.
    public func interfaces(of port: OVSPortRow) -> [OVSInterfaceRow] {
        port.interfaces.compactMap { interface(uuid: $0) }.sorted { $0.name < $1.name }
    }
}

/// The single Open_vSwitch row: versions and host identity.
public struct OVSSystemRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var ovsVersion: String?
    public var dbVersion: String?
    public var systemType: String?
    public var systemVersion: String?
    public var bridges: [String]
    public var externalIDs: [String: String]
    public var otherConfig: [String: String]
    public var datapathTypes: [String]
    public var interfaceTypes: [String]

    public init(uuid: String, ovsVersion: String? = nil, dbVersion: String? = nil, systemType: String? = nil,
                systemVersion: String? = nil, bridges: [String] = [], externalIDs: [String: String] = [:],
                otherConfig: [String: String] = [:], datapathTypes: [String] = [], interfaceTypes: [String] = []) {
        self.uuid = uuid
        self.ovsVersion = ovsVersion
        self.dbVersion = dbVersion
        self.systemType = systemType
        self.systemVersion = systemVersion
        self.bridges = bridges
        self.externalIDs = externalIDs
        self.otherConfig = otherConfig
        self.datapathTypes = datapathTypes
        self.interfaceTypes = interfaceTypes
    }
}

/// A Bridge row.
public struct OVSBridgeRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var name: String
    public var datapathType: String
    public var datapathID: String?
    /// `secure`, `standalone` or nil (standalone).
    public var failMode: String?
    /// Allowed OpenFlow versions (`OpenFlow10`, `OpenFlow13`...); empty means OVS's default.
    public var protocols: [String]
    public var ports: [String]
    public var mirrors: [String]
    public var controllers: [String]
    public var externalIDs: [String: String]
    public var otherConfig: [String: String]

    public init(uuid: String, name: String, datapathType: String = "", datapathID: String? = nil,
                failMode: String? = nil, protocols: [String] = [], ports: [String] = [], mirrors: [String] = [],
                controllers: [String] = [], externalIDs: [String: String] = [:], otherConfig: [String: String] = [:]) {
        self.uuid = uuid
        self.name = name
        self.datapathType = datapathType
        self.datapathID = datapathID
        self.failMode = failMode
        self.protocols = protocols
        self.ports = ports
        self.mirrors = mirrors
        self.controllers = controllers
        self.externalIDs = externalIDs
        self.otherConfig = otherConfig
    }
}

/// A Port row: VLAN configuration lives here (tag, trunks, vlan_mode).
public struct OVSPortRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var name: String
    public var interfaces: [String]
    /// Access VLAN (`tag`); Neutron's local VLAN on br-int, 4095 for a dead port.
    public var tag: Int?
    public var trunks: [Int]
    /// `access`, `trunk`, `native-tagged`, `native-untagged`, `dot1q-tunnel` or nil (implicit).
    public var vlanMode: String?
    public var externalIDs: [String: String]
    public var otherConfig: [String: String]
    public var bondMode: String?

    public init(uuid: String, name: String, interfaces: [String] = [], tag: Int? = nil, trunks: [Int] = [],
                vlanMode: String? = nil, externalIDs: [String: String] = [:], otherConfig: [String: String] = [:],
                bondMode: String? = nil) {
        self.uuid = uuid
        self.name = name
        self.interfaces = interfaces
        self.tag = tag
        self.trunks = trunks
        self.vlanMode = vlanMode
        self.externalIDs = externalIDs
        self.otherConfig = otherConfig
        self.bondMode = bondMode
    }
}

/// An Interface row: type and options (patch peer, tunnel remote_ip/local_ip/key), OpenFlow port
/// number, link state, the error OVS reports, counters.
public struct OVSInterfaceRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var name: String
    /// `""` (system), `internal`, `patch`, `vxlan`, `gre`, `geneve`, ...
    public var type: String
    public var options: [String: String]
    /// OpenFlow port number; -1 when OVS could not add the interface, nil before it tried.
    public var ofport: Int?
    public var ofportRequest: Int?
    public var adminState: String?
    public var linkState: String?
    /// OVS's own explanation when the interface could not be set up.
    public var error: String?
    public var externalIDs: [String: String]
    public var statistics: [String: Int]
    public var status: [String: String]
    public var macInUse: String?
    public var mac: String?
    public var mtu: Int?
    public var ifindex: Int?

    public init(uuid: String, name: String, type: String = "", options: [String: String] = [:], ofport: Int? = nil,
                ofportRequest: Int? = nil, adminState: String? = nil, linkState: String? = nil, error: String? = nil,
                externalIDs: [String: String] = [:], statistics: [String: Int] = [:], status: [String: String] = [:],
                macInUse: String? = nil, mac: String? = nil, mtu: Int? = nil, ifindex: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.type = type
        self.options = options
        self.ofport = ofport
        self.ofportRequest = ofportRequest
        self.adminState = adminState
        self.linkState = linkState
        self.error = error
        self.externalIDs = externalIDs
        self.statistics = statistics
        self.status = status
        self.macInUse = macInUse
        self.mac = mac
        self.mtu = mtu
        self.ifindex = ifindex
    }

    public var isPatch: Bool { type == "patch" }
    public var isTunnel: Bool { ["vxlan", "gre", "geneve", "stt", "erspan", "ip6erspan", "ip6gre", "gtpu", "bareudp", "lisp"].contains(type) }
}

/// A Mirror row (the capture helper creates and removes these).
public struct OVSMirrorRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var name: String
    public var selectAll: Bool
    public var selectSourcePorts: [String]
    public var selectDestinationPorts: [String]
    public var selectVLANs: [Int]
    public var outputPort: String?
    public var outputVLAN: Int?
    public var externalIDs: [String: String]
    public var statistics: [String: Int]

    public init(uuid: String, name: String, selectAll: Bool = false, selectSourcePorts: [String] = [],
                selectDestinationPorts: [String] = [], selectVLANs: [Int] = [], outputPort: String? = nil,
                outputVLAN: Int? = nil, externalIDs: [String: String] = [:], statistics: [String: Int] = [:]) {
        self.uuid = uuid
        self.name = name
        self.selectAll = selectAll
        self.selectSourcePorts = selectSourcePorts
        self.selectDestinationPorts = selectDestinationPorts
        self.selectVLANs = selectVLANs
        self.outputPort = outputPort
        self.outputVLAN = outputVLAN
        self.externalIDs = externalIDs
        self.statistics = statistics
    }
}

/// A Controller row (Neutron's native OpenFlow agent connects as `tcp:127.0.0.1:6633`).
public struct OVSControllerRow: Hashable, Sendable, Codable {
    public var uuid: String
    public var target: String
    public var isConnected: Bool
    public var role: String?
    public var connectionMode: String?
    public var status: [String: String]

    public init(uuid: String, target: String, isConnected: Bool = false, role: String? = nil,
                connectionMode: String? = nil, status: [String: String] = [:]) {
        self.uuid = uuid
        self.target = target
        self.isConnected = isConnected
        self.role = role
        self.connectionMode = connectionMode
        self.status = status
    }
}

/// The OpenFlow side of one bridge as collected: the exact `ovs-ofctl dump-flows` text (parsed by
/// the OpenVSwitch module), the ports `ovs-ofctl show` lists and the MAC table `fdb/show` prints.
public struct OVSBridgeOpenFlow: Hashable, Sendable, Codable {
    public var bridge: String
    /// The argument vector that produced `flowDump`.
    public var dumpCommand: [String]
    public var flowDump: String
    public var ports: [OVSOpenFlowPort]
    public var fdb: [OVSFDBEntry]

    public init(bridge: String, dumpCommand: [String] = [], flowDump: String, ports: [OVSOpenFlowPort] = [], fdb: [OVSFDBEntry] = []) {
        self.bridge = bridge
        self.dumpCommand = dumpCommand
        self.flowDump = flowDump
        self.ports = ports
        self.fdb = fdb
    }
}

/// One port as `ovs-ofctl show` prints it.
public struct OVSOpenFlowPort: Hashable, Sendable, Codable {
    /// OpenFlow port number; LOCAL is 65534.
    public var number: Int
    public var name: String
    public var mac: MACAddress?
    /// `config:` flags (PORT_DOWN, NO_FLOOD, NO_FWD, NO_RECV, ...).
    public var config: [String]
    /// `state:` flags (LINK_DOWN, ...).
    public var state: [String]

    public init(number: Int, name: String, mac: MACAddress? = nil, config: [String] = [], state: [String] = []) {
        self.number = number
        self.name = name
        self.mac = mac
        self.config = config
        self.state = state
    }
}

/// One MAC learning entry (`ovs-appctl fdb/show BRIDGE`).
public struct OVSFDBEntry: Hashable, Sendable, Codable {
    /// OpenFlow port number (LOCAL is 65534).
    public var port: Int
    public var vlan: Int
    public var mac: MACAddress
    public var age: Int?

    public init(port: Int, vlan: Int, mac: MACAddress, age: Int? = nil) {
        self.port = port
        self.vlan = vlan
        self.mac = mac
        self.age = age
    }
}
