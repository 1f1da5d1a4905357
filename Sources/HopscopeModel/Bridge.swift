/// The spanning tree state of a bridge port (`BR_STATE_*`); only `forwarding` passes traffic,
/// `learning` learns MAC addresses without forwarding.
public enum STPState: String, Hashable, Sendable, Codable {
    case disabled, listening, learning, forwarding, blocking
}

/// The state of one Linux bridge port (`IFLA_BRPORT_*`): `bridge -d link show` facts that decide
/// whether a frame leaves through it.
public struct BridgePortState: Hashable, Sendable, Codable {
    public var stpState: STPState?
    public var priority: UInt16?
    public var cost: UInt32?
    /// MAC learning on frames received on this port.
    public var learning: Bool?
    /// Unknown-unicast flooding to this port.
    public var unicastFlood: Bool?
    public var multicastFlood: Bool?
    public var broadcastFlood: Bool?
    /// Hairpin (reflective relay): frames may leave through the port they came in on.
    public var hairpin: Bool?
    /// Isolated ports do not forward to each other.
    public var isolated: Bool?
    public var neighborSuppress: Bool?
    public var proxyARP: Bool?
    public var portNumber: UInt16?

    public init() {}
}

/// One bridge forwarding database entry (`bridge fdb`): a MAC address and the port it is behind,
/// on a Linux bridge port or on a vxlan device (with the remote tunnel endpoint).
public struct FDBEntry: Hashable, Sendable, Codable {
    public var mac: MACAddress
    public var interfaceIndex: Int
    public var interface: String?
    /// The bridge the entry belongs to, when it is a bridge's entry.
    public var masterIndex: Int?
    public var master: String?
    public var vlan: UInt16?
    /// vxlan: the VNI of the remote, when not the device's own.
    public var vni: UInt32?
    /// vxlan: the remote VTEP (`dst`).
    public var tunnelRemoteIP: IPAddress?
    public var tunnelPort: UInt16?
    public var state: NeighborState
    /// `self` (the device's own table), `master` (the bridge's), `extern_learn`, `offload`, `sticky`, `router`.
    public var flags: [String]

    public init(mac: MACAddress, interfaceIndex: Int, state: NeighborState, flags: [String] = []) {
        self.mac = mac
        self.interfaceIndex = interfaceIndex
        self.state = state
        self.flags = flags
    }

    /// `bridge fdb`'s state word: `permanent` (a local address of the bridge), `static`, or
    /// empty for learned (dynamic) entries.
    public var stateName: String {
        if state.contains(.permanent) { return "permanent" }
        if state.contains(.noARP) { return "static" }
        if state.contains(.stale) { return "stale" }
        return ""
    }
}
