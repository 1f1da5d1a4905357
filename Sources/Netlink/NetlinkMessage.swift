// A netlink message:
//
//   0               1               2               3
//   +---------------+---------------+---------------+---------------+
//   |                       nlmsg_len (whole message)               |
//   +---------------+---------------+---------------+---------------+
//   |          nlmsg_type           |          nlmsg_flags          |
//   +---------------+---------------+---------------+---------------+
//   |                          nlmsg_seq                            |
//   +---------------+---------------+---------------+---------------+
//   |                          nlmsg_pid (port id)                  |
//   +---------------+---------------+---------------+---------------+
//   |  family header (ifinfomsg, rtmsg, ...), then attributes ...   |
//
// All fields are in host byte order; messages are padded to 4 bytes.

/// One netlink message inside a received datagram. Borrows the datagram's bytes.
public struct NetlinkMessage {
    public var type: UInt16
    public var flags: MessageFlags
    public var sequence: UInt32
    public var portID: UInt32
    /// The bytes after the 16-byte header, up to `nlmsg_len`.
    public var payload: UnsafeRawBufferPointer
}

/// Splits a datagram into messages, checking each header against the bytes that are left.
public struct NetlinkMessageIterator: IteratorProtocol {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    /// Set with `error`, so the per-message check does not copy the optional error.
    private var failed = false
    /// The first problem met; iteration stops there.
    public private(set) var error: NetlinkDecodeError?

    public init(_ datagram: UnsafeRawBufferPointer) { bytes = datagram }

    public mutating func next() -> NetlinkMessage? {
        if failed { return nil }
        let remaining = bytes.count - position
        if remaining == 0 { return nil }
        guard remaining >= FamilyHeaderSize.nlmsghdr else {
            return stop(.truncated, "\(remaining) byte(s) left, too few for a 16-byte message header")
        }
        let length = Int(bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        guard length >= FamilyHeaderSize.nlmsghdr else {
            return stop(.malformed, "nlmsg_len \(length) is shorter than the 16-byte header")
        }
        guard length <= remaining else {
            return stop(.truncated, "nlmsg_len \(length) but only \(remaining) byte(s) left")
        }
        let message = NetlinkMessage(
            type: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt16.self),
            flags: MessageFlags(rawValue: bytes.loadUnaligned(fromByteOffset: position + 6, as: UInt16.self)),
            sequence: bytes.loadUnaligned(fromByteOffset: position + 8, as: UInt32.self),
            portID: bytes.loadUnaligned(fromByteOffset: position + 12, as: UInt32.self),
            payload: UnsafeRawBufferPointer(start: bytes.baseAddress! + position + 16, count: length - 16))
        position += min((length + 3) & ~3, remaining)
        return message
    }

    private mutating func stop(_ problem: DecodeProblem, _ detail: String) -> NetlinkMessage? {
        failed = true
        error = NetlinkDecodeError(problem: problem, context: "nlmsghdr", offset: position, detail: detail)
        return nil
    }
}

/// Builds one netlink message: header, family header, attributes (nested ones too), with
/// lengths and padding filled in by `bytes`.
public struct NetlinkMessageBuilder {
    private var buffer: [UInt8]
    private var openNests: [Int] = []

    public init(type: UInt16, flags: MessageFlags, sequence: UInt32 = 0, portID: UInt32 = 0) {
        buffer = []
        buffer.reserveCapacity(64)
        append(UInt32(0))
        append(type)
        append(flags.rawValue)
        append(sequence)
        append(portID)
    }

    /// Appends raw bytes (a family header), padded to 4 bytes.
    public mutating func appendHeader(_ bytes: [UInt8]) {
        buffer += bytes
        pad()
    }

    public mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        append(UInt16(4 + payload.count))
        append(type)
        buffer += payload
        pad()
    }
    public mutating func attribute(_ type: UInt16, uint8 v: UInt8) { attribute(type, [v]) }
    public mutating func attribute(_ type: UInt16, uint16 v: UInt16) { attribute(type, Self.bytes(of: v)) }
    public mutating func attribute(_ type: UInt16, uint32 v: UInt32) {
        append(UInt16(8))
        append(type)
        append(v)
    }
    public mutating func attribute(_ type: UInt16, uint64 v: UInt64) { attribute(type, Self.bytes(of: v)) }
    public mutating func attribute(_ type: UInt16, string: String) { attribute(type, Array(string.utf8) + [0]) }

    /// Opens a nested attribute; close it with `endNest()`.
    public mutating func beginNest(_ type: UInt16) {
        openNests.append(buffer.count)
        append(UInt16(0))
        append(type | 0x8000)
    }

    public mutating func endNest() {
        let start = openNests.removeLast()
        let length = UInt16(buffer.count - start)
        buffer[start] = UInt8(length & 0xFF)
        buffer[start + 1] = UInt8(length >> 8)
    }

    /// The finished message with `nlmsg_len` set.
    public var bytes: [UInt8] {
        var out = buffer
        let length = UInt32(out.count)
        withUnsafeBytes(of: length) { for i in 0..<4 { out[i] = $0[i] } }
        return out
    }

    private mutating func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v) { buffer.append(contentsOf: $0) } }
    private mutating func pad() { while buffer.count % 4 != 0 { buffer.append(0) } }
    static func bytes<T: FixedWidthInteger>(of v: T) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
}
