/// Neighbour cache state bits (`NUD_*`), encoded as the names `ip -j neigh` prints
/// (`["REACHABLE"]`, `["STALE"]`, `["PERMANENT"]`).
public struct NeighborState: OptionSet, Hashable, Sendable, Codable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let incomplete = NeighborState(rawValue: 0x01)
    public static let reachable = NeighborState(rawValue: 0x02)
    public static let stale = NeighborState(rawValue: 0x04)
    public static let delay = NeighborState(rawValue: 0x08)
    public static let probe = NeighborState(rawValue: 0x10)
    public static let failed = NeighborState(rawValue: 0x20)
    public static let noARP = NeighborState(rawValue: 0x40)
    public static let permanent = NeighborState(rawValue: 0x80)

    static let names: [(NeighborState, String)] = [
        (.incomplete, "INCOMPLETE"), (.reachable, "REACHABLE"), (.stale, "STALE"), (.delay, "DELAY"),
        (.probe, "PROBE"), (.failed, "FAILED"), (.noARP, "NOARP"), (.permanent, "PERMANENT"),
    ]

    /// The state names in `ip neigh` order; `NONE` for no bit set.
    public var names: [String] {
        rawValue == 0 ? ["NONE"] : Self.names.filter { contains($0.0) }.map(\.1)
    }

    /// True when the entry can be used to send (`REACHABLE`, `STALE`, `DELAY`, `PROBE`,
    /// `PERMANENT`, `NOARP`).
    public var isUsable: Bool { !intersection([.reachable, .stale, .delay, .probe, .permanent, .noARP]).isEmpty }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        var v = NeighborState()
        for name in try c.decode([String].self) where name != "NONE" {
            guard let s = Self.names.first(where: { $0.1 == name }) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown neighbour state \(name)")
            }
            v.insert(s.0)
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(names)
    }
}

/// One ARP (IPv4) or NDP (IPv6) neighbour entry (`ip neigh`).
public struct Neighbor: Hashable, Sendable, Codable {
    public var address: IPAddress
    public var interfaceIndex: Int
    public var interface: String?
    /// `lladdr`; nil while unresolved (`INCOMPLETE`, `FAILED`).
    public var mac: MACAddress?
    public var state: NeighborState
    /// The neighbour announced itself as a router (IPv6).
    public var isRouter: Bool
    /// A proxy entry (`ip neigh add proxy`).
    public var isProxy: Bool
    /// Set by an external agent (`extern_learn`).
    public var externallyLearned: Bool

    public init(address: IPAddress, interfaceIndex: Int, mac: MACAddress?, state: NeighborState) {
        self.address = address
        self.interfaceIndex = interfaceIndex
        self.mac = mac
        self.state = state
        isRouter = false
        isProxy = false
        externallyLearned = false
    }
}
