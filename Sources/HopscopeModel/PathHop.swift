/// One hop of a packet's walk: where it is (node, namespace, device, role in operator words), the
/// device's state, the packet as it looks there, and what happens to it, with the evidence.
public struct PathHop: Hashable, Sendable, Codable {
    public enum Direction: String, Hashable, Sendable, Codable { case forward, reply }

    /// 1-based position in the whole walk (forward hops first, then the reply's).
    public var index: Int
    public var direction: Direction
    public var node: String
    public var namespace: String
    /// The interface, bridge or port; nil for a hop that is no device (a guest behind its tap).
    public var device: String?
    /// What the device is: `instance NIC`, `tap`, `Linux bridge qbr`, `veth qvb`, `OVS bridge br-int`,
    /// `patch`, `VXLAN tunnel`, `underlay`, `router qr-`, `NIC`, `destination`, ...
    public var role: String
    public var state: DeviceState?
    /// The packet as it is here (addresses after NAT, VLAN, tunnel id).
    public var packet: PacketKey
    public var decision: Decision
    /// One line saying why, in operator words.
    public var summary: String
    /// The flows, rules, routes, FDB and neighbour entries that decided, with their raw text.
    public var evidence: [Evidence]
    /// Facts worth knowing that did not decide (an MTU too small for full-size packets, an assumption).
    public var notes: [String]

    public init(index: Int = 0, direction: Direction, node: String, namespace: String, device: String?, role: String,
                state: DeviceState? = nil, packet: PacketKey, decision: Decision, summary: String,
                evidence: [Evidence] = [], notes: [String] = []) {
        self.index = index
        self.direction = direction
        self.node = node
        self.namespace = namespace
        self.device = device
        self.role = role
        self.state = state
        self.packet = packet
        self.decision = decision
        self.summary = summary
        self.evidence = evidence
        self.notes = notes
    }
}

/// The state of the device at a hop: administrative and operational state, carrier, MTU and
/// counters (Linux interfaces), or the Open vSwitch port's own view.
public struct DeviceState: Hashable, Sendable, Codable, CustomStringConvertible {
    public var adminUp: Bool?
    /// `UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`, ... as `ip link` prints it.
    public var operState: String?
    public var carrier: Bool?
    public var mtu: Int?
    public var rxPackets: UInt64?
    public var txPackets: UInt64?
    public var rxDropped: UInt64?
    public var txDropped: UInt64?
    /// Open vSwitch's view of a port: `ofport 2 link up`, or its error.
    public var ovs: String?

    public init(adminUp: Bool? = nil, operState: String? = nil, carrier: Bool? = nil, mtu: Int? = nil, rxPackets: UInt64? = nil,
                txPackets: UInt64? = nil, rxDropped: UInt64? = nil, txDropped: UInt64? = nil, ovs: String? = nil) {
        self.adminUp = adminUp
        self.operState = operState
        self.carrier = carrier
        self.mtu = mtu
        self.rxPackets = rxPackets
        self.txPackets = txPackets
        self.rxDropped = rxDropped
        self.txDropped = txDropped
        self.ovs = ovs
    }

    /// `up mtu 1450 drops 0/0`, `DOWN (admin) ...`, short enough for a table cell.
    public var description: String {
        var parts: [String] = []
        if let a = adminUp {
            if !a {
                parts.append("admin-down")
            } else if carrier == false {
                parts.append("no-carrier")
            } else if let o = operState, o != "UP", o != "UNKNOWN" {
                parts.append(o.lowercased())
            } else {
                parts.append("up")
            }
        }
        if let m = mtu { parts.append("mtu \(m)") }
        if (rxDropped ?? 0) + (txDropped ?? 0) > 0 { parts.append("drops rx \(rxDropped ?? 0) tx \(txDropped ?? 0)") }
        if let o = ovs { parts.append(o) }
        return parts.joined(separator: " ")
    }
}

/// The conclusion of a walk.
public struct PathVerdict: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable { case reachable, stopped, unknown }
    public var kind: Kind
    /// The hop where the walk stopped or could not go on (nil when reachable).
    public var hop: Int?
    public var node: String?
    public var namespace: String?
    public var device: String?
    public var reason: String

    public init(kind: Kind, hop: Int? = nil, node: String? = nil, namespace: String? = nil, device: String? = nil, reason: String) {
        self.kind = kind
        self.hop = hop
        self.node = node
        self.namespace = namespace
        self.device = device
        self.reason = reason
    }

    /// `reachable`, `stops at hop N on NODE NAMESPACE DEVICE: why`, or `unknown at hop N: why`.
    public var description: String {
        switch kind {
        case .reachable: return reason.isEmpty ? "reachable" : "reachable (\(reason))"
        case .stopped:
            // A node's own namespace (compute1 on compute1) is named once.
            let place = [node, namespace == node ? nil : namespace, device].compactMap { $0 }.joined(separator: " ")
            return "stops at hop \(hop.map(String.init) ?? "?") on \(place): \(reason)"
        case .unknown: return "unknown at hop \(hop.map(String.init) ?? "?"): \(reason)"
        }
    }
}
