/// A small kernel number that `ip` prints by name (route scope, type and protocol): stored as
/// the number, encoded as the name `ip -j` prints, or as the decimal number when it has none.
public protocol KernelNamedValue: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible
where RawValue == UInt8 {
    /// The names iproute2 prints, by number.
    static var knownNames: [UInt8: String] { get }
    init(rawValue: UInt8)
}

extension KernelNamedValue {
    public var description: String { Self.knownNames[rawValue] ?? String(rawValue) }

    /// Parses a name `ip` prints, or a decimal number.
    public init?(name: String) {
        if let n = UInt8(name) {
            self.init(rawValue: n)
        } else if let entry = Self.knownNames.first(where: { $0.value == name }) {
            self.init(rawValue: entry.key)
        } else {
            return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let v = Self(name: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown \(Self.self) \(text)")
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// How far an address or route reaches (`rtm_scope`, `ifa_scope`): `global`, `site`, `link`, `host`, `nowhere`.
public struct RouteScope: KernelNamedValue {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let knownNames: [UInt8: String] = [0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"]
    public static let global = RouteScope(rawValue: 0)
    public static let site = RouteScope(rawValue: 200)
    public static let link = RouteScope(rawValue: 253)
    public static let host = RouteScope(rawValue: 254)
    public static let nowhere = RouteScope(rawValue: 255)
}

/// What a route does with a matching packet (`rtm_type`): `unicast`, `local`, `broadcast`,
/// `blackhole`, `unreachable`, `prohibit`, `throw`, ...
public struct RouteType: KernelNamedValue {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let knownNames: [UInt8: String] = [
        0: "none", 1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
        6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat", 11: "xresolve",
    ]
    public static let unicast = RouteType(rawValue: 1)
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let anycast = RouteType(rawValue: 4)
    public static let multicast = RouteType(rawValue: 5)
    public static let blackhole = RouteType(rawValue: 6)
    public static let unreachable = RouteType(rawValue: 7)
    public static let prohibit = RouteType(rawValue: 8)
    public static let `throw` = RouteType(rawValue: 9)
}

/// Who installed a route, address or rule (`rtm_protocol`): `kernel`, `boot`, `static`, `dhcp`, `ra`, ...
public struct RouteProtocol: KernelNamedValue {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let knownNames: [UInt8: String] = [
        0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 8: "gated", 9: "ra",
        10: "mrt", 11: "zebra", 12: "bird", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp",
        17: "mrouted", 18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis",
        188: "ospf", 189: "rip", 192: "eigrp",
    ]
    public static let unspecified = RouteProtocol(rawValue: 0)
    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)
}
