/// An Ethernet (EUI-48) address such as `fa:16:3e:12:34:56`.
///
/// Stored as six bytes in a `UInt64` (high 16 bits zero) so it is cheap to hash and compare.
/// Encodes to and decodes from its lower-case colon form, the way `ip -j` prints it.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The six bytes, most significant first, in the low 48 bits.
    public var value: UInt64

    public init(value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public init(bytes: some Collection<UInt8>) {
        var v: UInt64 = 0
        for b in bytes.prefix(6) { v = (v << 8) | UInt64(b) }
        self.init(value: v)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-` separators, any case). Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let groups = parts.count == 6 ? parts : text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.count == 6 else { return nil }
        var v: UInt64 = 0
        for g in groups {
            guard (1...2).contains(g.count), let b = UInt8(g, radix: 16) else { return nil }
            v = (v << 8) | UInt64(b)
        }
        self.init(value: v)
    }

    public static let zero = MACAddress(value: 0)
    public static let broadcast = MACAddress(value: 0xFFFF_FFFF_FFFF)

    public var bytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) } }
    /// The group bit (I/G): set for multicast and broadcast.
    public var isMulticast: Bool { (value >> 40) & 1 == 1 }
    public var isBroadcast: Bool { value == 0xFFFF_FFFF_FFFF }

    public var description: String {
        let hex: [Character] = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(17)
        for (i, b) in bytes.enumerated() {
            if i > 0 { s.append(":") }
            s.append(hex[Int(b >> 4)])
            s.append(hex[Int(b & 0xF)])
        }
        return s
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.value < b.value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let m = MACAddress(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a MAC address: \(s)")
        }
        self = m
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
