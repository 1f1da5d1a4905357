import HopscopeModel

/// A growable UTF-8 byte buffer that summaries are written into.
///
/// Reuse one buffer for many packets (`removeAll()`) and write its bytes out in bulk: after
/// warm-up, writing a summary allocates nothing. A class over raw memory, so that appending a
/// byte is a store and an increment (no copy-on-write check per byte). Not thread-safe: give each
/// thread its own.
public final class TextBuffer {
    // Unchecked: the buffer is single-threaded by contract, and a dynamic exclusivity check on
    // every byte written would cost more than the write itself.
    @exclusivity(unchecked) private var base: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private var capacity: Int
    /// Bytes written so far.
    @exclusivity(unchecked) public private(set) var count: Int = 0

    public init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes written so far (a copy).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    public var string: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }
    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with the bytes written so far, without copying them.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    public func removeAll() { count = 0 }

    @inline(__always) func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always) public func append(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        reserve(n)
        (base + count).update(from: text.utf8Start, count: n)
        count += n
    }

    /// Appends a String (a StaticString literal goes to the cheaper `append(_:)`).
    public func append(contentsOf text: String) {
        var text = text
        text.withUTF8 { utf8 in
            reserve(utf8.count)
            if let start = utf8.baseAddress { (base + count).update(from: start, count: utf8.count) }
            count += utf8.count
        }
    }

    /// Appends raw bytes (already UTF-8).
    public func append(bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let start = bytes.baseAddress { UnsafeMutableRawPointer(base + count).copyMemory(from: start, byteCount: bytes.count) }
        count += bytes.count
    }

    @inline(__always) func byte(_ c: UInt8) {
        reserve(1)
        base[count] = c
        count += 1
    }

    /// Reserves `maximum` bytes and lets `body` write at most that many through a local pointer,
    /// returning how many it wrote. Writing through a local pointer matters: a byte stored through
    /// `base` may alias the buffer's own fields, so the compiler reloads `base` and `count` after
    /// every byte written that way.
    @inline(__always) func write(maximum: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        reserve(maximum)
        count += body(base + count)
    }

    /// Decimal text of an unsigned number.
    @inline(__always) public func decimal<T: BinaryInteger>(_ value: T) {
        decimal64(UInt64(truncatingIfNeeded: value))
    }

    private func decimal64(_ value: UInt64) {
        write(maximum: 20) { p in
            var digits = 1
            var bound: UInt64 = 10
            while digits < 20 && value >= bound {
                digits += 1
                bound = bound &* 10
            }
            var v = value
            var i = digits - 1
            while i > 0 {
                let (q, r) = v.quotientAndRemainder(dividingBy: 10)
                p[i] = UInt8(truncatingIfNeeded: r) &+ 48
                v = q
                i -= 1
            }
            p[0] = UInt8(truncatingIfNeeded: v) &+ 48
            return digits
        }
    }

    /// Signed decimal.
    public func signed(_ value: Int) {
        if value < 0 { byte(UInt8(ascii: "-")); decimal(UInt64(-Int64(value))) } else { decimal(UInt64(value)) }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    /// Lower-case hex, at least `width` digits, without prefix.
    public func hex<T: BinaryInteger>(_ value: T, width: Int = 1) {
        let v = UInt64(truncatingIfNeeded: value)
        var digits = 1
        while digits < 16 && v >> (4 * UInt64(digits)) != 0 { digits += 1 }
        digits = max(digits, width)
        write(maximum: digits) { p in
            let table = Self.hexDigits.utf8Start
            for i in 0..<digits {
                p[i] = table[Int((v >> (4 * UInt64(digits - 1 - i))) & 0xF)]
            }
            return digits
        }
    }

    public func ipv4(_ a: IPv4Address) {
        write(maximum: 15) { p in
            var n = Self.octet(a.value >> 24, p)
            p[n] = UInt8(ascii: "."); n += 1
            n += Self.octet((a.value >> 16) & 0xFF, p + n)
            p[n] = UInt8(ascii: "."); n += 1
            n += Self.octet((a.value >> 8) & 0xFF, p + n)
            p[n] = UInt8(ascii: "."); n += 1
            return n + Self.octet(a.value & 0xFF, p + n)
        }
    }

    /// Writes 0-255 in decimal at `p` and returns the digits written (1 to 3).
    @inline(__always) private static func octet(_ o: UInt32, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        if o >= 100 {
            let tens = o / 10
            p[0] = UInt8(truncatingIfNeeded: o / 100) &+ 48
            p[1] = UInt8(truncatingIfNeeded: tens % 10) &+ 48
            p[2] = UInt8(truncatingIfNeeded: o % 10) &+ 48
            return 3
        } else if o >= 10 {
            p[0] = UInt8(truncatingIfNeeded: o / 10) &+ 48
            p[1] = UInt8(truncatingIfNeeded: o % 10) &+ 48
            return 2
        }
        p[0] = UInt8(truncatingIfNeeded: o) &+ 48
        return 1
    }

    /// RFC 5952 text: longest run of two or more zero groups compressed, first one on ties.
    public func ipv6(_ a: IPv6Address) {
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

    public func ip(_ a: IPAddress) {
        switch a {
        case .v4(let v): ipv4(v)
        case .v6(let v): ipv6(v)
        }
    }

    public func mac(_ m: MACAddress) {
        write(maximum: 17) { p in
            let table = Self.hexDigits.utf8Start
            for i in 0..<6 {
                let octet = Int(truncatingIfNeeded: m.value >> (40 - 8 * UInt64(i))) & 0xFF
                p[3 * i] = table[octet >> 4]
                p[3 * i + 1] = table[octet & 0xF]
                if i < 5 { p[3 * i + 2] = UInt8(ascii: ":") }
            }
            return 17
        }
    }

    /// `HH:MM:SS.uuuuuu` of a Unix time, in UTC (tcpdump's default form).
    public func timeOfDay(seconds: Int64, nanoseconds: Int32) {
        let s = UInt32(truncatingIfNeeded: ((seconds % 86_400) + 86_400) % 86_400)
        var micro = UInt32(truncatingIfNeeded: max(0, nanoseconds)) / 1000
        write(maximum: 15) { p in
            @inline(__always) func two(_ v: UInt32, _ at: Int) {
                p[at] = UInt8(truncatingIfNeeded: v / 10 % 10) &+ 48
                p[at + 1] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            }
            two(s / 3600, 0)
            p[2] = UInt8(ascii: ":")
            two(s / 60 % 60, 3)
            p[5] = UInt8(ascii: ":")
            two(s % 60, 6)
            p[8] = UInt8(ascii: ".")
            for i in stride(from: 14, through: 9, by: -1) {
                p[i] = UInt8(truncatingIfNeeded: micro % 10) &+ 48
                micro /= 10
            }
            return 15
        }
    }
}
