// IEEE 802.1Q tag encoder (see Protocols/VLAN.swift for the layout).

extension VLANTag {
    /// The four bytes of one tag as they sit before the encapsulated EtherType: TPID, then the
    /// TCI (priority, drop eligible, VLAN id). Throws `valueOutOfRange` for a VLAN id above
    /// 4095 or a priority above 7.
    public static func encodeTag(vlanID: UInt16, priority: UInt8 = 0, dropEligible: Bool = false,
                                 tpid: UInt16 = EtherType.vlan) throws(PacketEncodeError) -> [UInt8] {
        guard vlanID <= 0x0FFF else { throw .valueOutOfRange(field: "VLAN id", value: Int(vlanID), allowed: 0...4095) }
        guard priority <= 7 else { throw .valueOutOfRange(field: "VLAN priority", value: Int(priority), allowed: 0...7) }
        var out: [UInt8] = []
        out.append16(tpid)
        out.append16(UInt16(priority) << 13 | (dropEligible ? 0x1000 : 0) | vlanID)
        return out
    }
}
