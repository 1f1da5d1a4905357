// VXLAN, RFC 7348 section 5 (UDP destination port 4789; Linux's default is 8472)
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Inner Ethernet frame ...
//
// The I flag says the VNI is valid; without it the frame is still decoded (tcpdump does too) and
// the flag is shown, so an operator sees the sender's mistake.

/// The VXLAN header; the inner Ethernet frame follows as further layers.
public struct VXLANHeader: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// The 8 flag bits (0x08 is I).
    public var flags: UInt8
    /// The 24 reserved bits after the flags (Group Based Policy extensions use them).
    public var reserved1: UInt32
    /// VXLAN Network Identifier (Neutron's segmentation id, OVS's tun_id).
    public var vni: UInt32
    public var reserved2: UInt8

    public static let length = 8
    public var vniIsValid: Bool { flags & 0x08 != 0 }

    @inline(__always)
    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        guard end - start >= length else {
            return packet.fail(.truncated(.vxlan, at: start, needed: length, available: end - start))
        }
        guard packet.push(Layer(.vxlan, start, end)) else { return .done }
        return .ethernet(start + length, end)
    }

}

extension VXLANHeader {
    @inline(__always)
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset
        let second = b.u32(start + 4)
        self.init(offset: start, flags: b.u8(start), reserved1: b.u24(start + 1), vni: second >> 8, reserved2: UInt8(second & 0xFF))
    }
}

extension VXLANHeader {
    /// `VXLAN, flags [I] (0x08), vni 100: IP ...` (tcpdump starts a new line for the inner frame;
    /// here it stays on the same line after `: `).
    func summarize(writer w: SummaryWriter, index i: Int, end: Int, to t: TextBuffer) {
        t.append("VXLAN, flags [")
        t.append(vniIsValid ? "I" : ".")
        t.append("] (0x"); t.hex(flags, width: 2); t.append("), vni "); t.decimal(vni)
        w.writeInner(from: i + 1, end: end, to: t)
    }
}
