// IEEE 802.1Q tag (and 802.1ad QinQ, whose outer tag has TPID 0x88a8)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    TPID (0x8100, 0x88a8)      | PCP |D|         VID           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  EtherType of what follows    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The TPID is the EtherType of the header before; this layer starts at the TCI.

/// One 802.1Q / 802.1ad tag. Stacked tags (QinQ) are consecutive layers, outermost first.
public struct VLANTag: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// Tag protocol identifier: 0x8100 (C-tag), 0x88a8 (S-tag) or 0x9100.
    public var tpid: UInt16
    /// Priority code point (PCP), 0-7.
    public var priority: UInt8
    /// Drop eligible indicator (DEI, formerly CFI).
    public var dropEligible: Bool
    /// VLAN identifier (VID), 0-4095.
    public var vlanID: UInt16
    /// EtherType of the encapsulated frame (or an 802.3 length).
    public var etherType: UInt16

    public static let length = 4

    @inline(__always)
    static func decode(tpid: UInt16, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.vlan, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.vlan, start, end, extra: tpid)) else { return .done }
        let etherType = b.u16(start + 2)
        if etherType <= 1500 { return .payload(start + length, end) }
        return .etherType(etherType, start + length, end)
    }

}

extension VLANTag {
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let tci = b.u16(start)
        self.init(offset: start, tpid: layer.extra, priority: UInt8(tci >> 13), dropEligible: tci & 0x1000 != 0,
                  vlanID: tci & 0x0FFF, etherType: b.u16(start + 2))
    }
}
