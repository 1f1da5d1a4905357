import Foundation
import HopscopeModel
import Packets
import Testing

/// The fields correlation matches on survive NAT and encapsulation, and tell packets apart.
@Suite struct FlowIdentityTests {
    typealias B = FrameBuilder

    func identities(_ frame: [UInt8], wireLength: Int? = nil) -> PacketIdentities {
        let packet = Packet(decoding: frame, linkType: .ethernet, wireLength: wireLength)
        return frame.withUnsafeBytes { packet.identities(in: $0) }
    }

    @Test func pingIdentityHasIPIDIcmpIdSequenceAndDigest() throws {
        let ids = identities(B.ethernet(B.ipv4("10.0.0.11", "203.0.113.1", proto: 1, id: 0x4321, B.icmpEcho(id: 7, seq: 3))))
        let outer = try #require(ids.outer)
        #expect(ids.inner == nil && ids.tunnel == nil)
        #expect(outer.source == IPAddress("10.0.0.11") && outer.destination == IPAddress("203.0.113.1"))
        #expect(outer.ipProtocol == 1 && outer.ipIdentification == 0x4321 && outer.ttl == 64)
        #expect(outer.icmpType == 8 && outer.icmpIdentifier == 7 && outer.icmpSequence == 3)
        #expect(outer.payloadLength == 56, "the echo data after the 8-byte ICMP header")
        #expect(outer.payloadDigest != nil)
    }

    @Test func snatAndRoutingKeepTheInvariantFields() throws {
        let before = identities(B.ethernet(B.ipv4("10.0.0.12", "203.0.113.1", proto: 1, id: 77, ttl: 64, B.icmpEcho(id: 9, seq: 1))))
        // Past the router: source translated to the gateway address, TTL one less, new MACs.
        let after = identities(B.ethernet(src: 0xFA163E0000AA, dst: 0xFA163E0000BB,
                                          B.ipv4("203.0.113.10", "203.0.113.1", proto: 1, id: 77, ttl: 63, B.icmpEcho(id: 9, seq: 1))))
        let a = try #require(before.outer), b = try #require(after.outer)
        #expect(a.invariant == b.invariant)
        #expect(a.source != b.source)
        #expect(a.ttl == b.ttl + 1)
        // The next ping differs.
        let next = identities(B.ethernet(B.ipv4("10.0.0.12", "203.0.113.1", proto: 1, id: 78, B.icmpEcho(id: 9, seq: 2))))
        #expect(next.outer?.invariant != a.invariant)
    }

    @Test func vxlanInnerIdentityMatchesTheBarePacket() throws {
        let bare = B.ethernet(B.ipv4("10.0.0.12", "10.0.0.1", proto: 1, id: 5, B.icmpEcho(id: 1, seq: 42)))
        let tunnelled = B.ethernet(src: 0x0201, dst: 0x0202,
                                   B.ipv4("198.18.0.1", "198.18.0.2", proto: 17, id: 900, B.udp(49152, 4789, B.vxlan(vni: 1001, bare))))
        let plain = identities(bare), wrapped = identities(tunnelled)
        let inner = try #require(wrapped.inner)
        #expect(wrapped.tunnel == PacketIdentities.Tunnel(kind: .vxlan, id: 1001))
        #expect(inner == plain.outer)
        #expect(wrapped.outer?.destinationPort == 4789)
        #expect(wrapped.outer?.invariant != inner.invariant)
    }

    @Test func digestNeedsTheCapturedBytes() throws {
        var frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1)))
        let whole = frame.count
        frame.removeLast(whole - 14 - 20 - 8 - 4)
        let ids = identities(frame, wireLength: whole)
        #expect(ids.outer?.payloadLength == 56)
        #expect(ids.outer?.payloadDigest == nil, "4 of 56 payload bytes captured: no digest rather than a wrong one")
        #expect(ids.outer?.icmpSequence == 1)
    }

    @Test func differentPayloadsDifferentDigests() {
        let a = identities(B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1, data: Array(repeating: 1, count: 56)))))
        let b = identities(B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1, data: Array(repeating: 2, count: 56)))))
        #expect(a.outer?.payloadDigest != b.outer?.payloadDigest)
    }

    @Test func realVXLANCaptureHasOuterAndInnerIdentities() throws {
        let path = sharedPcapDirectory.appendingPathComponent("tcpdump/vxlan.pcap").path
        let (link, frames) = try readCapture(path)
        let packet = frames[0].decode(link)
        let ids = frames[0].bytes.withUnsafeBytes { packet.identities(in: $0) }
        #expect(ids.tunnel?.kind == .vxlan && ids.tunnel?.id == 100)
        #expect(ids.inner?.source == IPAddress("192.168.203.3"))
        #expect(ids.inner?.icmpIdentifier == 1292 && ids.inner?.icmpSequence == 1)
        #expect(ids.outer?.destinationPort == 4789)
    }
}
