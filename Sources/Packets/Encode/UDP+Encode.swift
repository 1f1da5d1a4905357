import HopscopeModel

// UDP encoder (see Protocols/UDP.swift for the layout), with the checksum over the IPv4
// pseudo-header, header and data (RFC 768).

extension UDPHeader {
    /// The largest payload the 16-bit UDP length can describe.
    public static let maximumPayload = 65_535 - headerLength

    /// A datagram from `source:sourcePort` to `destination:destinationPort` carrying `payload`,
    /// checksummed with the pseudo-header of those addresses (a computed 0 is sent as 0xFFFF,
    /// since 0 means "no checksum"). Throws `payloadTooLarge` beyond 65,527 bytes.
    public static func encode(sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8],
                              source: IPv4Address, destination: IPv4Address) throws(PacketEncodeError) -> [UInt8] {
        guard payload.count <= maximumPayload else {
            throw .payloadTooLarge(layer: .udp, bytes: payload.count, limit: maximumPayload)
        }
        let length = headerLength + payload.count
        var out: [UInt8] = []
        out.reserveCapacity(length)
        out.append16(sourcePort)
        out.append16(destinationPort)
        out.append16(UInt16(length))
        out.append16(0)
        out += payload
        let pseudo = InternetChecksum.pseudoHeaderSum(source: source, destination: destination, protocol: IPProtocolNumber.udp, length: length)
        let sum = InternetChecksum.checksum(out, initial: pseudo)
        out.store16(sum == 0 ? 0xFFFF : sum, at: 6)
        return out
    }
}
