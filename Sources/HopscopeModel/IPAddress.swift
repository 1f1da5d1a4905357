import Foundation

/// An IPv4 address such as `10.0.0.5`, stored in host order.
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var value: UInt32

    public init(value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    /// Network-order bytes, as they appear on the wire and in netlink attributes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 else { return nil }
        var v: UInt32 = 0
        for b in bytes { v = v << 8 | UInt32(b) }
        value = v
    }

    /// Parses dotted-quad text. Leading zeros are accepted as decimal; anything else returns nil.
    public init?(_ text: some StringProtocol) {
        var v: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        for u in text.utf8 {
            if u == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                v = v << 8 | current
                octets += 1
                current = 0
                digits = 0
            } else if u >= UInt8(ascii: "0") && u <= UInt8(ascii: "9") {
                current = current * 10 + UInt32(u - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        value = v << 8 | current
    }

    public static let any = IPv4Address(value: 0)
    public static let broadcast = IPv4Address(value: 0xFFFF_FFFF)

    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    public var isMulticast: Bool { value >> 28 == 0xE }
    public var isLoopback: Bool { value >> 24 == 127 }
    public var isLinkLocal: Bool { value >> 16 == 0xA9FE }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPv4Address(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv4 address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv6 address, stored as two 64-bit halves in host order.
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// Network-order bytes (16 of them).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        high = h; low = l
    }

    /// Parses RFC 4291 text forms: full, `::`-compressed, and with an embedded dotted IPv4 tail.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if s.isEmpty { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDouble = false
        let pieces = s.components(separatedBy: "::")
        guard pieces.count <= 2 else { return nil }
        func groups(_ part: String, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if i == items.count - 1, allowV4Tail, item.contains(".") {
                    guard let v4 = IPv4Address(item) else { return nil }
                    out.append(UInt16(v4.value >> 16)); out.append(UInt16(v4.value & 0xFFFF))
                } else {
                    guard (1...4).contains(item.count), let g = UInt16(item, radix: 16) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        if pieces.count == 2 {
            sawDouble = true
            guard let h = groups(pieces[0], allowV4Tail: false), let t = groups(pieces[1], allowV4Tail: true) else { return nil }
            head = h; tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let h = groups(pieces[0], allowV4Tail: true), h.count == 8 else { return nil }
            head = h
        }
        var all = head
        if sawDouble { all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail }
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, g) in all.enumerated() {
            if i < 4 { h = h << 16 | UInt64(g) } else { l = l << 16 | UInt64(g) }
        }
        high = h; low = l
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }
    public var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
    }
    public var isMulticast: Bool { high >> 56 == 0xFF }
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }

    /// RFC 5952 text: lower case, longest run of two or more zero groups compressed to `::`.
    public var description: String {
        let g = groups
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool { (a.high, a.low) < (b.high, b.low) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPv6Address(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv6 address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: some StringProtocol) {
        if let a = IPv4Address(text) { self = .v4(a) } else if let a = IPv6Address(text) { self = .v6(a) } else { return nil }
    }
    /// From network-order bytes: 4 bytes is IPv4, 16 is IPv6.
    public init?(bytes: some Collection<UInt8>) {
        if let a = IPv4Address(bytes: bytes) { self = .v4(a) } else if let a = IPv6Address(bytes: bytes) { self = .v6(a) } else { return nil }
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var ipv4: IPv4Address? { if case .v4(let a) = self { a } else { nil } }
    public var ipv6: IPv6Address? { if case .v6(let a) = self { a } else { nil } }
    /// IPv4 224.0.0.0/4 or IPv6 ff00::/8.
    public var isMulticast: Bool {
        switch self { case .v4(let a): a.isMulticast; case .v6(let a): a.isMulticast }
    }
    /// Address width in bits: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }
    public var bytes: [UInt8] {
        switch self { case .v4(let a): a.bytes; case .v6(let a): a.bytes }
    }
    public var description: String {
        switch self { case .v4(let a): a.description; case .v6(let a): a.description }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPAddress(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IP address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An address with a prefix length, such as `10.0.0.0/24` or `2001:db8::/32`.
///
/// `address` keeps the host bits as given (an interface address `10.0.0.5/24` stays as it is);
/// `network` clears them. Text without `/` is a host prefix (/32 or /128).
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible, Codable {
    public var address: IPAddress
    public var length: Int

    public init(address: IPAddress, length: Int) {
        self.address = address
        self.length = max(0, min(length, address.bitWidth))
    }

    /// Parses `ADDR`, `ADDR/LEN`, and the dotted-mask form `ADDR/255.255.255.0` (contiguous masks only).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return nil }
        if parts.count == 1 {
            self.init(address: addr, length: addr.bitWidth)
            return
        }
        if let n = Int(parts[1]), n >= 0, n <= addr.bitWidth {
            self.init(address: addr, length: n)
        } else if addr.isIPv4, let mask = IPv4Address(parts[1]) {
            let ones = mask.value.nonzeroBitCount
            guard ones == 32 || mask.value == ~(UInt32.max >> ones) else { return nil }
            self.init(address: addr, length: ones)
        } else {
            return nil
        }
    }

    /// The prefix with host bits cleared.
    public var network: IPAddress {
        switch address {
        case .v4(let a):
            return .v4(IPv4Address(value: length == 0 ? 0 : a.value & ~(UInt32.max >> length)))
        case .v6(let a):
            let (mh, ml) = IPPrefix.v6Mask(length)
            return .v6(IPv6Address(high: a.high & mh, low: a.low & ml))
        }
    }

    /// True when `ip` falls inside this prefix (same family, network bits equal).
    public func contains(_ ip: IPAddress) -> Bool {
        switch (address, ip) {
        case (.v4(let a), .v4(let b)):
            let mask: UInt32 = length == 0 ? 0 : ~(UInt32.max >> length)
            return a.value & mask == b.value & mask
        case (.v6(let a), .v6(let b)):
            let (mh, ml) = IPPrefix.v6Mask(length)
            return a.high & mh == b.high & mh && a.low & ml == b.low & ml
        default:
            return false
        }
    }

    static func v6Mask(_ length: Int) -> (UInt64, UInt64) {
        let h: UInt64 = length >= 64 ? .max : (length == 0 ? 0 : ~(UInt64.max >> length))
        let l: UInt64 = length <= 64 ? 0 : (length >= 128 ? .max : ~(UInt64.max >> (length - 64)))
        return (h, l)
    }

    public var isHost: Bool { length == address.bitWidth }
    public var description: String { "\(address)/\(length)" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let p = IPPrefix(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IP prefix: \(s)")
        }
        self = p
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
