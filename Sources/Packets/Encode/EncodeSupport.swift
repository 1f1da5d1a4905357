import HopscopeModel

// What every encoder shares: the one error type they throw, big-endian appends, and the
// Internet checksum (RFC 1071) that IPv4, ICMP and UDP carry (the decoders' `InternetChecksum.sum`).
//
// Encoders build whole headers into `[UInt8]` values: they run once per probe packet, not per
// captured frame, so clarity wins over the decoders' allocation-free style.

/// Why a packet could not be encoded: a value that does not fit its field, or a name or option
/// the protocol cannot carry. The message says which field and what is allowed.
public enum PacketEncodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A numeric field given a value outside its range (a VLAN id above 4095, say).
    case valueOutOfRange(field: String, value: Int, allowed: ClosedRange<Int>)
    /// A payload larger than the header's length field can describe.
    case payloadTooLarge(layer: ProtocolID, bytes: Int, limit: Int)
    /// A DNS name that cannot be written as labels.
    case badName(String, reason: String)
    /// A DHCP option whose value is longer than 255 bytes.
    case optionTooLong(code: UInt8, bytes: Int)

    public var description: String {
        switch self {
        case .valueOutOfRange(let field, let value, let allowed):
            "\(field) \(value) is out of range: use \(allowed.lowerBound)-\(allowed.upperBound)"
        case .payloadTooLarge(let layer, let bytes, let limit):
            "\(layer.rawValue) payload of \(bytes) bytes is too large: at most \(limit) bytes fit"
        case .badName(let name, let reason):
            "cannot encode the DNS name '\(name)': \(reason)"
        case .optionTooLong(let code, let bytes):
            "DHCP option \(code) is \(bytes) bytes long: an option holds at most 255 bytes"
        }
    }
}

extension Array where Element == UInt8 {
    @inline(__always) mutating func append16(_ v: UInt16) {
        append(UInt8(v >> 8)); append(UInt8(v & 0xFF))
    }

    @inline(__always) mutating func append32(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8(v >> 16 & 0xFF)); append(UInt8(v >> 8 & 0xFF)); append(UInt8(v & 0xFF))
    }

    @inline(__always) mutating func append(_ address: IPv4Address) { append32(address.value) }

    @inline(__always) mutating func append(_ mac: MACAddress) {
        for shift in stride(from: 40, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: mac.value >> UInt64(shift))) }
    }

    /// Writes a big-endian 16-bit value over two existing bytes.
    @inline(__always) mutating func store16(_ v: UInt16, at offset: Int) {
        self[offset] = UInt8(v >> 8)
        self[offset + 1] = UInt8(v & 0xFF)
    }
}

extension InternetChecksum {
    /// The checksum to store in a header whose checksum field is zero: the ones' complement of
    /// the ones' complement sum (RFC 1071), starting from `initial` (a pseudo-header's sum).
    static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
        bytes.withUnsafeBytes { ~sum($0, 0..<$0.count, initial: initial) }
    }

    /// The sum of the IPv4 pseudo-header UDP and TCP checksums cover (RFC 768): source,
    /// destination, zero, protocol, transport length.
    static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address, protocol proto: UInt8, length: Int) -> UInt32 {
        (source.value >> 16) + (source.value & 0xFFFF) + (destination.value >> 16) + (destination.value & 0xFFFF)
            + UInt32(proto) + UInt32(length)
    }
}
