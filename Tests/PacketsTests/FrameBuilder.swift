import HopscopeModel

/// Builds test frames byte by byte (Ethernet, IPv4, UDP, ICMP, VXLAN) with correct lengths.
enum FrameBuilder {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func ethernet(src: UInt64 = 0xFA163E000001, dst: UInt64 = 0xFA163E000002, type: UInt16 = 0x0800, _ payload: [UInt8]) -> [UInt8] {
        MACAddress(value: dst).bytes + MACAddress(value: src).bytes + be16(type) + payload
    }

    static func ipv4(_ src: String, _ dst: String, proto: UInt8, id: UInt16 = 0x1234, ttl: UInt8 = 64, ihl: UInt8 = 5,
                     totalLength: UInt16? = nil, _ payload: [UInt8]) -> [UInt8] {
        let options = [UInt8](repeating: 1, count: max(0, Int(ihl) - 5) * 4)
        let length = totalLength ?? UInt16(20 + options.count + payload.count)
        return [0x40 | ihl, 0] + be16(length) + be16(id) + [0x40, 0, ttl, proto, 0, 0]
            + IPv4Address(src)!.bytes + IPv4Address(dst)!.bytes + options + payload
    }

    static func icmpEcho(id: UInt16, seq: UInt16, data: [UInt8] = Array(0..<56)) -> [UInt8] {
        [8, 0, 0, 0] + be16(id) + be16(seq) + data
    }

    static func udp(_ sport: UInt16, _ dport: UInt16, length: UInt16? = nil, _ payload: [UInt8]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(length ?? UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func vxlan(vni: UInt32, _ inner: [UInt8]) -> [UInt8] {
        [0x08, 0, 0, 0] + be32(vni << 8) + inner
    }

    /// A DNS query for `name` (labels split on dots).
    static func dnsQuery(id: UInt16, name: String) -> [UInt8] {
        var out = be16(id) + [0x01, 0x00] + be16(1) + be16(0) + be16(0) + be16(0)
        for label in name.split(separator: ".") { out += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return out + [0] + be16(1) + be16(1)
    }
}
