import HopscopeModel

// ICMPv6, RFC 4443, with Neighbor Discovery, RFC 4861
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  type-specific word: Identifier|Sequence (echo 128/129), MTU   |
//  |  (packet too big 2), Pointer (4), R|S|O flags (NA 136),        |
//  |  Cur Hop Limit|M|O|Router Lifetime (RA 134), reserved (NS/RS)  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  RA: Reachable Time, Retrans Timer | NS/NA/Redirect: Target    |
//  |  Address | Redirect: Destination Address | then ND options:    |
//  |  Type (8) | Length (8, in units of 8 octets) | value ...        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// The ICMPv6 header with the Neighbor Discovery fields decoded; ND options stay in the frame
/// (`options`), read with `NDOption.all(in:of:)`.
public struct ICMPv6Header: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    public var type: UInt8
    public var code: UInt8
    public var checksum: UInt16
    /// The 4 bytes after the checksum.
    public var word: UInt32
    /// Router Advertisement: Reachable Time and Retrans Timer (milliseconds).
    public var reachableTime: UInt32?
    public var retransTimer: UInt32?
    /// Neighbor Solicitation/Advertisement and Redirect: Target Address.
    public var targetAddress: IPv6Address?
    /// Redirect: Destination Address.
    public var destinationAddress: IPv6Address?
    /// Neighbor Discovery options (types 133-137), in the frame.
    public var options: ByteRange
    /// What follows the type-specific part: echo data, or the invoking packet of an error.
    public var data: ByteRange

    public static let length = 8

    public var isEcho: Bool { type == 128 || type == 129 }
    public var identifier: UInt16 { UInt16(word >> 16) }
    public var sequenceNumber: UInt16 { UInt16(word & 0xFFFF) }
    /// Packet Too Big: the MTU of the next-hop link.
    public var mtu: UInt32 { word }
    /// Neighbor Advertisement flags.
    public var router: Bool { word & 0x8000_0000 != 0 }
    public var solicited: Bool { word & 0x4000_0000 != 0 }
    public var override: Bool { word & 0x2000_0000 != 0 }
    /// Router Advertisement fields.
    public var curHopLimit: UInt8 { UInt8(word >> 24) }
    public var managedFlag: Bool { word & 0x0080_0000 != 0 }
    public var otherConfigFlag: Bool { word & 0x0040_0000 != 0 }
    public var routerLifetime: UInt16 { UInt16(word & 0xFFFF) }
    public var isError: Bool { type < 128 }

    /// Where the Neighbor Discovery options of a message of `type` start, relative to the header;
    /// nil for messages without options.
    @inline(__always)
    static func optionsOffset(type: UInt8) -> Int? {
        switch type {
        case 133: 8
        case 134: 16
        case 135, 136: 24
        case 137: 40
        default: nil
        }
    }

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.icmpv6, at: start, needed: length, available: end - start))
        }
        let layer = Layer(.icmpv6, start, end)
        guard let optionsOffset = optionsOffset(type: b.u8(start)) else {
            guard packet.push(layer) else { return .done }
            return end - start == length ? .done : .payload(start + length, end)
        }
        guard end - start >= optionsOffset else {
            return packet.fail(.truncated(.icmpv6, at: start, needed: optionsOffset, available: end - start, .fieldCutShort), after: layer)
        }
        if let error = NDOption.validate(b, ByteRange(offset: start + optionsOffset, count: end - start - optionsOffset)) {
            return packet.fail(error, after: layer)
        }
        _ = packet.push(layer)
        return .done
    }

}

extension ICMPv6Header {
    /// The fields as decoding saw them: a Neighbor Discovery message cut inside its fixed part
    /// keeps only the first 8 bytes' fields, with `data` after them.
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset, end = layer.end
        let type = b.u8(start)
        self.init(offset: start, type: type, code: b.u8(start + 1), checksum: b.u16(start + 2),
                  word: b.u32(start + 4), reachableTime: nil, retransTimer: nil, targetAddress: nil,
                  destinationAddress: nil, options: .empty,
                  data: ByteRange(offset: start + Self.length, count: end - start - Self.length))
        guard let optionsOffset = Self.optionsOffset(type: type), end - start >= optionsOffset else { return }
        switch type {
        case 134:
            reachableTime = b.u32(start + 8)
            retransTimer = b.u32(start + 12)
        case 135, 136:
            targetAddress = b.ipv6(start + 8)
        case 137:
            targetAddress = b.ipv6(start + 8)
            destinationAddress = b.ipv6(start + 24)
        default:
            break
        }
        options = ByteRange(offset: start + optionsOffset, count: end - start - optionsOffset)
        data = ByteRange(offset: end, count: 0)
    }

    /// Decodes the packet quoted by an ICMPv6 error message (types 1-4).
    public func quotedPacket(in b: UnsafeRawBufferPointer) -> Packet? {
        guard isError, data.count > 0, data.end <= b.count else { return nil }
        return Packet(quotedIn: b, range: data, version: 6)
    }
}

/// One Neighbor Discovery option (RFC 4861 section 4.6).
public struct NDOption: Hashable, Sendable, Codable {
    public var type: UInt8
    /// Length in units of 8 octets, as on the wire.
    public var length: UInt8
    /// Source/Target Link-Layer Address (types 1, 2) when 6 bytes long.
    public var linkLayerAddress: MACAddress?
    /// Prefix Information (type 3).
    public var prefixLength: UInt8?
    public var onLink: Bool?
    public var autonomous: Bool?
    public var validLifetime: UInt32?
    public var preferredLifetime: UInt32?
    public var prefix: IPv6Address?
    /// MTU (type 5).
    public var mtu: UInt32?
    /// Value bytes of any other option, as hex.
    public var value: String?

    public var name: String {
        switch type {
        case 1: "source link-address"
        case 2: "target link-address"
        case 3: "prefix info"
        case 4: "redirected header"
        case 5: "mtu"
        case 14: "nonce"
        case 25: "rdnss"
        case 31: "dnssl"
        case 38: "pref64"
        default: "option \(type)"
        }
    }

    static func validate(_ b: UnsafeRawBufferPointer, _ range: ByteRange) -> DecodeError? {
        var i = range.offset
        let rangeEnd = min(range.end, b.count)
        while i < rangeEnd {
            guard i + 2 <= rangeEnd else { return .truncated(.icmpv6, at: i, needed: 2, available: rangeEnd - i, .optionCutShort) }
            let units = Int(b.u8(i + 1))
            guard units > 0 else { return .malformed(.icmpv6, at: i, .badOptionLength) }
            guard i + units * 8 <= rangeEnd else {
                return .truncated(.icmpv6, at: i, needed: units * 8, available: rangeEnd - i, .optionCutShort)
            }
            i += units * 8
        }
        return nil
    }

    /// Every ND option of the message, in order.
    public static func all(in b: UnsafeRawBufferPointer, of header: ICMPv6Header) throws(DecodeError) -> [NDOption] {
        if let error = validate(b, header.options) { throw error }
        var out: [NDOption] = []
        var i = header.options.offset
        let optionsEnd = min(header.options.end, b.count)
        while i < optionsEnd {
            let type = b.u8(i), units = b.u8(i + 1)
            let valueStart = i + 2, end = i + Int(units) * 8
            var option = NDOption(type: type, length: units)
            switch type {
            case 1 where end - valueStart >= 6, 2 where end - valueStart >= 6:
                option.linkLayerAddress = b.mac(valueStart)
            case 3 where units == 4:
                option.prefixLength = b.u8(i + 2)
                option.onLink = b.u8(i + 3) & 0x80 != 0
                option.autonomous = b.u8(i + 3) & 0x40 != 0
                option.validLifetime = b.u32(i + 4)
                option.preferredLifetime = b.u32(i + 8)
                option.prefix = b.ipv6(i + 16)
            case 5 where units == 1:
                option.mtu = b.u32(i + 4)
            default:
                option.value = b.hexString(valueStart..<end)
            }
            out.append(option)
            i = end
        }
        return out
    }

    init(type: UInt8, length: UInt8) {
        self.type = type
        self.length = length
    }
}

extension ICMPv6Header {
    /// `ICMP6, echo request, id 1, seq 1, length 64`, `ICMP6, neighbor solicitation, who has fe80::1, length 32`.
    func summarize(length: Int, to t: TextBuffer) {
        t.append("ICMP6, ")
        switch type {
        case 1:
            t.append("destination unreachable")
            switch code {
            case 0: t.append(", unreachable route")
            case 1: t.append(", unreachable prohibited")
            case 3: t.append(", unreachable address")
            case 4: t.append(", unreachable port")
            default: t.append(", code "); t.decimal(code)
            }
        case 2: t.append("packet too big, mtu "); t.decimal(mtu)
        case 3: t.append(code == 1 ? "time exceeded in-transit (reassembly)" : "time exceeded in-transit")
        case 4: t.append("parameter problem, pointer "); t.decimal(word)
        case 128, 129:
            t.append(type == 128 ? "echo request, id " : "echo reply, id ")
            t.decimal(identifier); t.append(", seq "); t.decimal(sequenceNumber)
        case 130: t.append("multicast listener query")
        case 131: t.append("multicast listener report")
        case 132: t.append("multicast listener done")
        case 133: t.append("router solicitation")
        case 134: t.append("router advertisement")
        case 135:
            t.append("neighbor solicitation, who has ")
            if let targetAddress { t.ipv6(targetAddress) }
        case 136:
            t.append("neighbor advertisement, tgt is ")
            if let targetAddress { t.ipv6(targetAddress) }
        case 137:
            t.append("redirect, ")
            if let destinationAddress { t.ipv6(destinationAddress) }
            t.append(" to ")
            if let targetAddress { t.ipv6(targetAddress) }
        case 143:
            t.append("multicast listener report v2, "); t.decimal(UInt16(word & 0xFFFF)); t.append(" group record(s)")
        default:
            t.append("unknown icmp6 type ("); t.decimal(type); t.append(")")
        }
        t.append(", length "); t.decimal(max(0, length))
    }
}
