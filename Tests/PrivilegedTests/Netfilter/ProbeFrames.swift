import Foundation
import HopscopeModel
import Namespaces

/// Builds Ethernet/IPv4 frames (ICMP, UDP, TCP) for the counter oracle and sends them with an
/// AF_PACKET socket, so every header field (MACs, spoofed sources, checksums) is exactly as the
/// probe says and the sender's own netfilter never sees them.
enum ProbeFrames {
    struct Extras {
        var icmpID: UInt16 = 1
        var icmpSeq: UInt16 = 1
        var tcpSeq: UInt32 = 0
        var tcpAck: UInt32 = 0
        /// A wrong TCP/UDP checksum makes the receiving stack drop the packet silently (no RST,
        /// no ICMP error) after netfilter has seen it.
        var badTransportChecksum = false
    }

    static func checksum(_ bytes: ArraySlice<UInt8>, initial: UInt32 = 0) -> UInt16 {
        var sum = initial
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.endIndex { sum += UInt32(bytes[i]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    /// The frame for `p` (an IPv4 packet key with dl_src, nw_src/dst, protocol fields) to `dstMAC`.
    static func frame(_ p: PacketKey, to dstMAC: MACAddress, _ x: Extras = Extras()) -> [UInt8] {
        let src = p.ipSrc?.ipv4 ?? .any, dst = p.ipDst?.ipv4 ?? .any
        var l4: [UInt8]
        switch p.ipProto {
        case 1:
            l4 = [p.icmpType ?? 8, p.icmpCode ?? 0, 0, 0] + be16(x.icmpID) + be16(x.icmpSeq) + Array("hopscope".utf8)
            let c = checksum(l4[...])
            l4[2] = UInt8(c >> 8); l4[3] = UInt8(c & 0xFF)
        case 17:
            let payload = Array("hopscope-probe".utf8)
            l4 = be16(p.srcPort ?? 0) + be16(p.dstPort ?? 0) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
            var c = checksum(l4[...], initial: pseudo(src, dst, 17, l4.count))
            if c == 0 { c = 0xFFFF }
            if x.badTransportChecksum { c ^= 0x5A5A }
            l4[6] = UInt8(c >> 8); l4[7] = UInt8(c & 0xFF)
        case 6:
            l4 = be16(p.srcPort ?? 0) + be16(p.dstPort ?? 0) + be32(x.tcpSeq) + be32(x.tcpAck)
                + [0x50, UInt8(truncatingIfNeeded: p.tcpFlags ?? 0x02)] + be16(64240) + [0, 0, 0, 0]
            var c = checksum(l4[...], initial: pseudo(src, dst, 6, l4.count))
            if x.badTransportChecksum { c ^= 0x5A5A }
            l4[16] = UInt8(c >> 8); l4[17] = UInt8(c & 0xFF)
        default:
            l4 = []
        }
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + l4.count)) + be16(UInt16.random(in: 1...0xFFFF)) + [0x40, 0]
            + [p.ttl ?? 64, p.ipProto, 0, 0] + be32(src.value) + be32(dst.value)
        let c = checksum(ip[...])
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xFF)
        return dstMAC.bytes + (p.ethSrc ?? .zero).bytes + [0x08, 0x00] + ip + l4
    }

    static func pseudo(_ s: IPv4Address, _ d: IPv4Address, _ proto: UInt8, _ length: Int) -> UInt32 {
        UInt32(s.value >> 16) + UInt32(s.value & 0xFFFF) + UInt32(d.value >> 16) + UInt32(d.value & 0xFFFF) + UInt32(proto) + UInt32(length)
    }

    /// Sends `frame` out of `interface` inside namespace `ns`, on a thread that enters it.
    static func send(_ frame: [UInt8], namespace ns: String, interface: String) async throws {
        try await withNetworkNamespace(.named(ns)) {
            let fd = try systemCall("socket(AF_PACKET)", context: ns) {
                socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(UInt16(0x0003).bigEndian))
            }
            defer { close(fd) }
            let index = if_nametoindex(interface)
            guard index != 0 else { throw SystemCallError(operation: "if_nametoindex \(interface)", errno: errno, context: ns) }
            // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
            var sll = [UInt8](repeating: 0, count: 20)
            withUnsafeBytes(of: UInt16(AF_PACKET)) { for (i, b) in $0.enumerated() { sll[i] = b } }
            sll[2] = 0x00; sll[3] = 0x03
            withUnsafeBytes(of: Int32(index)) { for (i, b) in $0.enumerated() { sll[4 + i] = b } }
            sll[11] = 6
            for i in 0..<6 { sll[12 + i] = frame[i] }
            let sent = try systemCall("sendto \(interface)", context: ns) {
                frame.withUnsafeBytes { f in
                    sll.withUnsafeBytes { a in
                        sendto(fd, f.baseAddress, f.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(20))
                    }
                }
            }
            precondition(sent == frame.count, "short send")
        }
    }
}
