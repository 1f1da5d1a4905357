import HopscopeModel

// IPv4 encoder (see Protocols/IPv4.swift for the layout): a 20-byte header without options,
// with its header checksum.

extension IPv4Header {
    /// The largest payload an IPv4 datagram without options can carry.
    public static let maximumPayload = 65_535 - minimumLength

    /// A datagram: the header (version 4, IHL 5, no options, header checksum computed) and
    /// `payload`. Throws `payloadTooLarge` beyond 65,515 bytes.
    public static func encode(source: IPv4Address, destination: IPv4Address, protocol proto: UInt8, payload: [UInt8],
                              timeToLive: UInt8 = 64, identification: UInt16 = 0, dontFragment: Bool = false,
                              typeOfService: UInt8 = 0) throws(PacketEncodeError) -> [UInt8] {
        guard payload.count <= maximumPayload else {
            throw .payloadTooLarge(layer: .ipv4, bytes: payload.count, limit: maximumPayload)
        }
        var header: [UInt8] = []
        header.reserveCapacity(minimumLength + payload.count)
        header.append(0x45)
        header.append(typeOfService)
        header.append16(UInt16(minimumLength + payload.count))
        header.append16(identification)
        header.append16(dontFragment ? 0x4000 : 0)
        header.append(timeToLive)
        header.append(proto)
        header.append16(0)
        header.append(source)
        header.append(destination)
        header.store16(InternetChecksum.checksum(header), at: 10)
        return header + payload
    }
}
