/// One address on an interface (`ip addr`): the local address with its prefix, scope and flags.
public struct InterfaceAddress: Hashable, Sendable, Codable {
    public var interfaceIndex: Int
    /// The interface name, resolved from the namespace's links.
    public var interface: String?
    /// The local address and prefix length (`inet 10.0.0.5/24`).
    public var prefix: IPPrefix
    /// The peer of a point-to-point address (`peer 10.0.0.6/32`), when it differs from the local one.
    public var peer: IPAddress?
    public var broadcast: IPAddress?
    public var scope: RouteScope
    /// `ip -j addr` flag names: `secondary`, `nodad`, `optimistic`, `dadfailed`, `home`,
    /// `deprecated`, `tentative`, `permanent`, `mngtmpaddr`, `noprefixroute`, `autojoin`, `stable-privacy`.
    public var flags: [String]
    /// The IPv4 label (`eth0:1`).
    public var label: String?
    /// Seconds; nil is forever.
    public var validLifetime: UInt32?
    public var preferredLifetime: UInt32?
    /// Who added it (`proto`), when set (kernel 5.18+).
    public var addressProtocol: UInt8?

    public init(interfaceIndex: Int, prefix: IPPrefix, scope: RouteScope = .global, flags: [String] = []) {
        self.interfaceIndex = interfaceIndex
        self.prefix = prefix
        self.scope = scope
        self.flags = flags
    }

    public var isIPv4: Bool { prefix.address.isIPv4 }
}
