import HopscopeModel

/// Why bytes did not decode: `truncated` when they end before a header or attribute says they
/// should (a short read, a cut capture), `malformed` when a length or value cannot be right.
public enum DecodeProblem: String, Sendable, Equatable {
    case truncated
    case malformed
}

/// A netlink message or attribute that did not decode, with where and why.
public struct NetlinkDecodeError: Error, CustomStringConvertible, Equatable, Sendable {
    public var problem: DecodeProblem
    /// What was being decoded: `link attributes`, `IFLA_LINKINFO`, `ifinfomsg`, ...
    public var context: String
    /// The attribute type being read, when the problem is inside one.
    public var attribute: UInt16?
    /// Byte offset from the start of the decoded area.
    public var offset: Int
    public var detail: String

    public init(problem: DecodeProblem, context: String, attribute: UInt16? = nil, offset: Int, detail: String) {
        self.problem = problem
        self.context = context
        self.attribute = attribute
        self.offset = offset
        self.detail = detail
    }

    public var description: String {
        let attr = attribute.map { " attribute \($0)" } ?? ""
        return "\(problem.rawValue) \(context)\(attr) at byte \(offset): \(detail)"
    }
}

/// Reads a run of netlink attributes (TLVs: 16-bit length, 16-bit type, payload padded to 4
/// bytes) with every access bounds-checked and a sticky error: the first problem is kept, every
/// later call returns a neutral value and `next()` returns false, and the caller reads the error
/// once at the end with `finish()`.
///
/// It borrows the bytes: use it only while the buffer it was made from is alive (the receive
/// buffer of one datagram). Values are copied out (strings, addresses), never referenced.
public struct AttributeDecoder {
    private let base: UnsafeRawBufferPointer
    private let context: StaticString
    private var position = 0
    private var payloadStart = 0
    private var payloadLength = 0
    /// Set with `error`: checking a flag on every access is cheaper than copying the optional
    /// error (it holds strings) on the per-attribute path.
    private var failed = false
    /// The type of the current attribute, without the `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` bits.
    public private(set) var type: UInt16 = 0
    /// The first problem met, if any.
    public private(set) var error: NetlinkDecodeError?

    /// Decodes the attributes in `bytes`; `context` names them in errors (`"link attributes"`).
    public init(_ bytes: UnsafeRawBufferPointer, context: StaticString) {
        base = bytes
        self.context = context
    }

    /// Moves to the next attribute. Returns false at the end, or once an error has been recorded.
    @inline(__always)
    public mutating func next() -> Bool {
        if failed { return false }
        let remaining = base.count &- position
        if remaining == 0 { return false }
        if remaining < 4 {
            record(.truncated, attribute: nil, at: position,
                   "\(remaining) byte(s) left, too few for a 4-byte attribute header")
            return false
        }
        let length = Int(base.loadUnaligned(fromByteOffset: position, as: UInt16.self))
        let type = base.loadUnaligned(fromByteOffset: position &+ 2, as: UInt16.self) & 0x3FFF
        if length < 4 {
            record(.malformed, attribute: type, at: position, "length \(length) is shorter than the 4-byte header")
            return false
        }
        if length > remaining {
            record(.truncated, attribute: type, at: position, "length \(length) but only \(remaining) byte(s) left")
            return false
        }
        self.type = type
        payloadStart = position &+ 4
        payloadLength = length &- 4
        // The last attribute of a message may lack its padding.
        position &+= min((length &+ 3) & ~3, remaining)
        return true
    }

    /// The current attribute's payload bytes (borrowed).
    public var payload: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.baseAddress.map { $0 + payloadStart }, count: payloadLength)
    }

    /// Records `detail` as the error unless one is already recorded.
    public mutating func fail(_ problem: DecodeProblem, _ detail: String) {
        record(problem, attribute: type, at: payloadStart - 4, detail)
    }

    private mutating func record(_ problem: DecodeProblem, attribute: UInt16?, at offset: Int, _ detail: String) {
        guard !failed else { return }
        failed = true
        error = NetlinkDecodeError(problem: problem, context: "\(context)", attribute: attribute, offset: offset, detail: detail)
        position = base.count
    }

    @inline(__always)
    private mutating func expectLength(_ n: Int) -> Bool {
        if failed { return false }
        guard payloadLength == n else {
            fail(.malformed, "expected a \(n)-byte value, found \(payloadLength) byte(s)")
            return false
        }
        return true
    }

    public mutating func uint8() -> UInt8 {
        expectLength(1) ? base.load(fromByteOffset: payloadStart, as: UInt8.self) : 0
    }
    /// A 16-bit value in host byte order.
    public mutating func uint16() -> UInt16 {
        expectLength(2) ? base.loadUnaligned(fromByteOffset: payloadStart, as: UInt16.self) : 0
    }
    /// A 16-bit value in network byte order (UDP ports).
    public mutating func uint16BigEndian() -> UInt16 { UInt16(bigEndian: uint16()) }
    public mutating func uint32() -> UInt32 {
        expectLength(4) ? base.loadUnaligned(fromByteOffset: payloadStart, as: UInt32.self) : 0
    }
    /// A 32-bit value in network byte order (GRE keys).
    public mutating func uint32BigEndian() -> UInt32 { UInt32(bigEndian: uint32()) }
    public mutating func int32() -> Int32 { Int32(bitPattern: uint32()) }
    public mutating func uint64() -> UInt64 {
        expectLength(8) ? base.loadUnaligned(fromByteOffset: payloadStart, as: UInt64.self) : 0
    }
    /// A u32 interface index where 0 means "none" (a tunnel's underlying device).
    public mutating func interfaceIndex() -> Int? {
        let index = uint32()
        return index == 0 ? nil : Int(index)
    }
    /// A one-byte boolean (`nla_put_u8(..., !!x)`).
    public mutating func bool() -> Bool { uint8() != 0 }

    /// A string up to its first NUL (the kernel terminates them; some senders do not).
    public mutating func string() -> String {
        if failed { return "" }
        let bytes = payload
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: UnsafeRawBufferPointer(start: bytes.baseAddress, count: end), as: UTF8.self)
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address; any other length is malformed.
    public mutating func ipAddress() -> IPAddress? {
        if failed { return nil }
        switch payloadLength {
        case 4: return .v4(IPv4Address(value: UInt32(bigEndian: base.loadUnaligned(fromByteOffset: payloadStart, as: UInt32.self))))
        case 16:
            let high = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: payloadStart, as: UInt64.self))
            let low = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: payloadStart + 8, as: UInt64.self))
            return .v6(IPv6Address(high: high, low: low))
        default:
            fail(.malformed, "expected a 4- or 16-byte IP address, found \(payloadLength) byte(s)")
            return nil
        }
    }

    /// A 6-byte Ethernet address, or nil for hardware addresses of other lengths (tunnels have
    /// 0, 4 or 16; InfiniBand 20): those are legitimate and not an error.
    public mutating func macAddress() -> MACAddress? {
        guard !failed, payloadLength == 6 else { return nil }
        // Two loads instead of a byte loop over a generic collection: this runs for every link,
        // neighbour and FDB entry.
        let high = UInt64(UInt32(bigEndian: base.loadUnaligned(fromByteOffset: payloadStart, as: UInt32.self)))
        let low = UInt64(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: payloadStart + 4, as: UInt16.self)))
        return MACAddress(value: high << 16 | low)
    }

    /// A decoder for the attributes nested in the current one.
    public func nested(_ context: StaticString) -> AttributeDecoder {
        AttributeDecoder(failed ? UnsafeRawBufferPointer(start: base.baseAddress, count: 0) : payload, context: context)
    }

    /// Takes over a nested decoder's error (if this one has none yet), so one `finish()` reports it.
    public mutating func absorb(_ child: AttributeDecoder) {
        if child.failed, !failed {
            failed = true
            error = child.error
            position = base.count
        }
    }

    /// Throws the first recorded problem, if any.
    public func finish() throws {
        if failed, let error { throw error }
    }
}

/// Reads a fixed-layout header (ifinfomsg, rtmsg, nlmsghdr, rtnl_link_stats64) from a buffer,
/// bounds-checked: `init` fails with `truncated` when the bytes are shorter than `size`.
public struct FixedHeader {
    public let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer, size: Int, context: String) throws {
        guard bytes.count >= size else {
            throw NetlinkDecodeError(problem: .truncated, context: context, offset: 0,
                                     detail: "needs \(size) bytes, found \(bytes.count)")
        }
        self.bytes = bytes
    }

    public func uint8(_ offset: Int) -> UInt8 { bytes.load(fromByteOffset: offset, as: UInt8.self) }
    public func uint16(_ offset: Int) -> UInt16 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    public func uint32(_ offset: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    public func int32(_ offset: Int) -> Int32 { bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
    public func uint64(_ offset: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }

    /// The bytes after the first `count` (the attributes after a family header), 4-byte aligned.
    public func remainder(after count: Int) -> UnsafeRawBufferPointer {
        let start = min((count + 3) & ~3, bytes.count)
        return UnsafeRawBufferPointer(rebasing: bytes[start...])
    }
}
