import HopscopeModel

/// A growable UTF-8 byte buffer that summaries are written into.
///
/// Reuse one buffer for many packets (`removeAll(keepingCapacity:)`) and write its bytes out in
/// bulk: after warm-up, writing a summary allocates nothing. Not thread-safe (a value type; give
/// each thread its own).
public struct TextBuffer: Sendable {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var isEmpty: Bool { bytes.isEmpty }

    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always) public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    @inline(__always) mutating func byte(_ c: UInt8) { bytes.append(c) }

    /// Decimal text of an unsigned number.
    public mutating func decimal<T: BinaryInteger>(_ value: T) {
        var v = UInt64(truncatingIfNeeded: value)
        if v < 10 { bytes.append(UInt8(ascii: "0") &+ UInt8(v)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[n] = UInt8(ascii: "0") &+ UInt8(v % 10)
                v /= 10
                n += 1
            }
            while n > 0 {
                n -= 1
                bytes.append(d[n])
            }
        }
    }

    /// Signed decimal.
    public mutating func signed(_ value: Int) {
        if value < 0 { byte(UInt8(ascii: "-")); decimal(UInt64(-Int64(value))) } else { decimal(UInt64(value)) }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    /// Lower-case hex, at least `width` digits, without prefix.
    public mutating func hex<T: BinaryInteger>(_ value: T, width: Int = 1) {
        let v = UInt64(truncatingIfNeeded: value)
        var digits = 1
        while digits < 16 && v >> (4 * UInt64(digits)) != 0 { digits += 1 }
        digits = max(digits, width)
        Self.hexDigits.withUTF8Buffer { table in
            for i in stride(from: digits - 1, through: 0, by: -1) {
                bytes.append(table[Int((v >> (4 * UInt64(i))) & 0xF)])
            }
        }
    }

    public mutating func ipv4(_ a: IPv4Address) {
        decimal(a.value >> 24)
        byte(UInt8(ascii: "."))
        decimal((a.value >> 16) & 0xFF)
        byte(UInt8(ascii: "."))
        decimal((a.value >> 8) & 0xFF)
        byte(UInt8(ascii: "."))
        decimal(a.value & 0xFF)
    }

    /// RFC 5952 text: longest run of two or more zero groups compressed, first one on ties.
    public mutating func ipv6(_ a: IPv6Address) {
        @inline(__always) func group(_ i: Int) -> UInt16 {
            i < 4 ? UInt16(truncatingIfNeeded: a.high >> (48 - 16 * UInt64(i))) : UInt16(truncatingIfNeeded: a.low >> (48 - 16 * UInt64(i - 4)))
        }
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if group(i) == 0 {
                var j = i
                while j < 8 && group(j) == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else { i += 1 }
        }
        // An IPv4-mapped address prints its tail dotted, as inet_ntop (and tcpdump) do.
        if a.high == 0 && a.low >> 32 == 0xFFFF {
            append("::ffff:")
            ipv4(IPv4Address(value: UInt32(truncatingIfNeeded: a.low)))
            return
        }
        i = 0
        while i < 8 {
            if i == bestStart {
                append("::")
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { byte(UInt8(ascii: ":")) }
            hex(group(i))
            i += 1
        }
    }

    public mutating func ip(_ a: IPAddress) {
        switch a {
        case .v4(let v): ipv4(v)
        case .v6(let v): ipv6(v)
        }
    }

    public mutating func mac(_ m: MACAddress) {
        for i in 0..<6 {
            if i > 0 { byte(UInt8(ascii: ":")) }
            hex(UInt8(truncatingIfNeeded: m.value >> (40 - 8 * UInt64(i))), width: 2)
        }
    }

    /// `HH:MM:SS.uuuuuu` of a Unix time, in UTC (tcpdump's default form).
    public mutating func timeOfDay(seconds: Int64, nanoseconds: Int32) {
        let s = ((seconds % 86_400) + 86_400) % 86_400
        twoDigits(Int(s / 3600))
        byte(UInt8(ascii: ":"))
        twoDigits(Int(s / 60 % 60))
        byte(UInt8(ascii: ":"))
        twoDigits(Int(s % 60))
        byte(UInt8(ascii: "."))
        let micro = Int(nanoseconds) / 1000
        var divisor = 100_000
        while divisor > 0 {
            byte(UInt8(ascii: "0") &+ UInt8(micro / divisor % 10))
            divisor /= 10
        }
    }

    private mutating func twoDigits(_ v: Int) {
        byte(UInt8(ascii: "0") &+ UInt8(v / 10 % 10))
        byte(UInt8(ascii: "0") &+ UInt8(v % 10))
    }
}
