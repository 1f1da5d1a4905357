import HopscopeModel

// Ethernet II encoder (see Protocols/Ethernet.swift for the layout), with an optional 802.1Q tag.

extension EthernetHeader {
    /// The shortest Ethernet frame without its FCS (IEEE 802.3: 64 bytes with it).
    public static let minimumFrameLength = 60

    /// A whole frame: destination, source, an optional 802.1Q tag, the EtherType and `payload`,
    /// padded with zeros to 60 bytes unless `padToMinimum` is false (as a NIC pads on the wire).
    /// Throws `valueOutOfRange` for a bad VLAN id or priority.
    public static func encode(destination: MACAddress, source: MACAddress, etherType: UInt16, payload: [UInt8],
                              vlanID: UInt16? = nil, vlanPriority: UInt8 = 0,
                              padToMinimum: Bool = true) throws(PacketEncodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(max(minimumFrameLength, length + 4 + payload.count))
        out.append(destination)
        out.append(source)
        if let vlanID { out += try VLANTag.encodeTag(vlanID: vlanID, priority: vlanPriority) }
        out.append16(etherType)
        out += payload
        if padToMinimum && out.count < minimumFrameLength {
            out += [UInt8](repeating: 0, count: minimumFrameLength - out.count)
        }
        return out
    }
}
