import Capture
import Foundation
import HopscopeModel
import Packets
import Testing

/// Builds frames for correlation tests: Ethernet (optionally 802.1Q), IPv4, ICMP echo, and VXLAN
/// around any of them. Checksums are left zero: correlation does not read them.
enum FrameBuilder {
    static func ipv4(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }

    static func ethernet(vlan: UInt16? = nil, type: UInt16 = 0x0800, _ payload: [UInt8]) -> [UInt8] {
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]
        if let vlan { f += [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] }
        return f + [UInt8(type >> 8), UInt8(type & 0xFF)] + payload
    }

    static func ip(_ src: String, _ dst: String, id: UInt16, ttl: UInt8, protocol p: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let total = 20 + payload.count
        return [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), UInt8(id >> 8), UInt8(id & 0xFF), 0x40, 0, ttl, p, 0, 0]
            + ipv4(src) + ipv4(dst) + payload
    }

    static func echo(request: Bool = true, id: UInt16, seq: UInt16, data: [UInt8]) -> [UInt8] {
        [request ? 8 : 0, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(seq >> 8), UInt8(seq & 0xFF)] + data
    }

    static func udp(_ sport: UInt16, _ dport: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let len = 8 + payload.count
        return [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF), UInt8(len >> 8), UInt8(len & 0xFF), 0, 0] + payload
    }

    static func vxlan(vni: UInt32, outerSource: String, outerDestination: String, _ inner: [UInt8]) -> [UInt8] {
        let header: [UInt8] = [0x08, 0, 0, 0, UInt8(vni >> 16), UInt8((vni >> 8) & 0xFF), UInt8(vni & 0xFF), 0]
        return ethernet(ip(outerSource, outerDestination, id: 0x7777, ttl: 64, protocol: 17, udp(54321, 4789, header + inner)))
    }
}

@Suite struct PacketCorrelatorTests {
    let hops = ["tap1@compute1", "qvo1@compute1", "eth1@compute1", "qr-1@qrouter-1", "qg-1@qrouter-1"]
    let data = Array(0..<56).map { UInt8($0) }

    /// One ICMP echo as each hop of an instance-to-external path sees it: the tap, the qvo mirror
    /// (VLAN 3), the VXLAN underlay, the router's qr- and, after SNAT, its qg-.
    func requestSeenAlongThePath(id: UInt16, seq: UInt16, ipID: UInt16, upTo lastHop: Int) -> [(Int, [UInt8])] {
        let icmp = FrameBuilder.echo(id: id, seq: seq, data: data)
        let inside = FrameBuilder.ip("10.0.0.5", "198.51.100.7", id: ipID, ttl: 64, protocol: 1, icmp)
        let natted = FrameBuilder.ip("203.0.113.10", "198.51.100.7", id: ipID, ttl: 63, protocol: 1, icmp)
        let frames: [[UInt8]] = [
            FrameBuilder.ethernet(inside),
            FrameBuilder.ethernet(vlan: 3, inside),
            FrameBuilder.vxlan(vni: 100, outerSource: "192.0.2.1", outerDestination: "192.0.2.2", FrameBuilder.ethernet(inside)),
            FrameBuilder.ethernet(inside),
            FrameBuilder.ethernet(natted),
        ]
        return Array(frames.enumerated().prefix(lastHop + 1))
    }

    func replySeenAlongThePath(id: UInt16, seq: UInt16, ipID: UInt16) -> [(Int, [UInt8])] {
        let icmp = FrameBuilder.echo(request: false, id: id, seq: seq, data: data)
        let outside = FrameBuilder.ip("198.51.100.7", "203.0.113.10", id: ipID, ttl: 60, protocol: 1, icmp)
        let inside = FrameBuilder.ip("198.51.100.7", "10.0.0.5", id: ipID, ttl: 59, protocol: 1, icmp)
        return [(4, FrameBuilder.ethernet(outside)), (3, FrameBuilder.ethernet(inside)),
                (2, FrameBuilder.vxlan(vni: 100, outerSource: "192.0.2.2", outerDestination: "192.0.2.1", FrameBuilder.ethernet(inside))),
                (1, FrameBuilder.ethernet(vlan: 3, inside)), (0, FrameBuilder.ethernet(inside))]
    }

    func feed(_ correlator: PacketCorrelator, _ frames: [(Int, [UInt8])], start: Int64, step: Int64 = 40_000) {
        for (i, (hop, frame)) in frames.enumerated() {
            frame.withUnsafeBytes {
                correlator.add(hop: hop, timestampNanoseconds: start + Int64(i) * step, frame: $0, linkType: .ethernet, wireLength: frame.count)
            }
        }
    }

    @Test func followsAPingThroughVlanVxlanAndSnatInPathOrder() throws {
        let correlator = PacketCorrelator(hops: hops)
        let t0: Int64 = 1_700_000_000_000_000_000
        feed(correlator, requestSeenAlongThePath(id: 7, seq: 1, ipID: 0x1111, upTo: 4), start: t0)
        feed(correlator, replySeenAlongThePath(id: 7, seq: 1, ipID: 0x2222), start: t0 + 1_000_000)
        let timeline = correlator.timeline()
        #expect(timeline.journeys.count == 2)
        let request = timeline.journeys[0]
        #expect(request.direction == .forward)
        #expect(request.arrived)
        #expect(request.sightings.map(\.hop) == [0, 1, 2, 3, 4])
        #expect(request.sightings.map(\.sincePreviousNanoseconds) == [nil, 40_000, 40_000, 40_000, 40_000])
        #expect(request.sightings[1].vlan == 3)
        #expect(request.sightings[2].tunnel == "vxlan 100")
        #expect(request.sightings[2].tunnelEndpoints == "192.0.2.1 > 192.0.2.2")
        #expect(request.sightings[2].source == "10.0.0.5", "the inner packet is followed, not the underlay's")
        #expect(request.sightings[4].translation == "src 10.0.0.5 > 203.0.113.10")
        #expect(request.summary.contains("ICMP echo request"), "\(request.summary)")
        let reply = timeline.journeys[1]
        #expect(reply.direction == .reverse)
        #expect(reply.arrived)
        #expect(reply.sightings.map(\.hop) == [4, 3, 2, 1, 0])
        #expect(reply.sightings[1].translation == "dst 203.0.113.10 > 10.0.0.5")
        #expect(reply.summary.hasPrefix("IP 198.51.100.7 > 203.0.113.10"), "summarised as it entered the path: \(reply.summary)")

        // Files are read one hop after the other, in hop order: a reply is met at its last hop first.
        let byFile = PacketCorrelator(hops: hops)
        for (hop, frame) in replySeenAlongThePath(id: 7, seq: 1, ipID: 0x2222).sorted(by: { $0.0 < $1.0 }) {
            frame.withUnsafeBytes {
                byFile.add(hop: hop, timestampNanoseconds: t0 + Int64(4 - hop) * 40_000, frame: $0, linkType: .ethernet, wireLength: frame.count)
            }
        }
        let fromFiles = try #require(byFile.timeline().journeys.first)
        #expect(fromFiles.direction == .reverse)
        #expect(fromFiles.sightings.map(\.sincePreviousNanoseconds) == [nil, 40_000, 40_000, 40_000, 40_000])
        #expect(fromFiles.summary.hasPrefix("IP 198.51.100.7 > 203.0.113.10"), "\(fromFiles.summary)")
        #expect(timeline.stopped.isEmpty)
        #expect(request.answered == true)
        #expect(reply.answered == nil)
        #expect(timeline.unanswered.isEmpty)
    }

    @Test func notesEchoRequestsThatArrivedButWereNeverAnswered() throws {
        // A router without SNAT: the request leaves qg- with its private source, no reply comes back.
        let correlator = PacketCorrelator(hops: hops)
        let icmp = FrameBuilder.echo(id: 2, seq: 1, data: data)
        let inside = FrameBuilder.ip("10.0.0.5", "198.51.100.7", id: 77, ttl: 64, protocol: 1, icmp)
        let leaving = FrameBuilder.ip("10.0.0.5", "198.51.100.7", id: 77, ttl: 63, protocol: 1, icmp)
        feed(correlator, [(0, FrameBuilder.ethernet(inside)), (1, FrameBuilder.ethernet(vlan: 3, inside)),
                          (2, FrameBuilder.vxlan(vni: 100, outerSource: "192.0.2.1", outerDestination: "192.0.2.2", FrameBuilder.ethernet(inside))),
                          (3, FrameBuilder.ethernet(inside)), (4, FrameBuilder.ethernet(leaving))], start: 1_700_000_000_000_000_000)
        let timeline = correlator.timeline()
        #expect(timeline.stopped.isEmpty)
        #expect(timeline.unanswered.count == 1)
        #expect(timeline.unanswered.first?.lastSeenHop == 4)
        #expect(timeline.unanswered.first?.sightings.last?.translation == nil, "no NAT on the way out")
    }

    @Test func namesTheLastHopThatSawAPacketThatStopped() throws {
        let correlator = PacketCorrelator(hops: hops)
        let t0: Int64 = 1_700_000_000_000_000_000
        // seq 1 goes through; seq 2 is dropped after the qvo (a security group, say).
        feed(correlator, requestSeenAlongThePath(id: 9, seq: 1, ipID: 1, upTo: 4), start: t0)
        feed(correlator, requestSeenAlongThePath(id: 9, seq: 2, ipID: 2, upTo: 1), start: t0 + 1_000_000_000)
        let timeline = correlator.timeline()
        #expect(timeline.journeys.count == 2)
        let stopped = try #require(timeline.stopped.first)
        #expect(timeline.stopped.count == 1)
        #expect(stopped.direction == .forward)
        #expect(!stopped.arrived)
        #expect(stopped.lastSeenHop == 1)
        #expect(stopped.missedHops == [2, 3, 4])
    }

    @Test func keepsIdenticalPacketsApartByHopAndTime() throws {
        // The same bytes sent twice, 5 s apart (a retransmission with the same IP id), are two packets.
        let correlator = PacketCorrelator(hops: hops, window: .seconds(2))
        let t0: Int64 = 1_700_000_000_000_000_000
        feed(correlator, requestSeenAlongThePath(id: 1, seq: 1, ipID: 5, upTo: 4), start: t0)
        feed(correlator, requestSeenAlongThePath(id: 1, seq: 1, ipID: 5, upTo: 0), start: t0 + 5_000_000_000)
        let timeline = correlator.timeline()
        #expect(timeline.journeys.count == 2)
        #expect(timeline.journeys[0].sightings.count == 5)
        #expect(timeline.journeys[1].sightings.count == 1)
        #expect(timeline.journeys[1].direction == .forward, "its flow went forward at that hop")
        #expect(timeline.journeys[1].lastSeenHop == 0)
    }

    @Test func tellsTheWayOfAPacketSeenAtOneHopFromItsFlowOrItsPlace() throws {
        let correlator = PacketCorrelator(hops: hops)
        let t0: Int64 = 1_700_000_000_000_000_000
        // Every request dies after the tap (no other packet of the flow got further): forward from hop 0.
        feed(correlator, requestSeenAlongThePath(id: 3, seq: 1, ipID: 30, upTo: 0), start: t0)
        // A reply seen only at qr-: its flow's other replies went backwards there.
        feed(correlator, replySeenAlongThePath(id: 4, seq: 1, ipID: 40), start: t0 + 1_000_000)
        let reply = replySeenAlongThePath(id: 4, seq: 2, ipID: 41)
        feed(correlator, [reply[1]], start: t0 + 2_000_000)
        // A packet only ever seen in the middle, with no flow to compare: unknown.
        let lone = FrameBuilder.ethernet(FrameBuilder.ip("10.9.9.9", "10.8.8.8", id: 99, ttl: 64, protocol: 1, FrameBuilder.echo(id: 5, seq: 5, data: data)))
        feed(correlator, [(2, lone)], start: t0 + 3_000_000)
        let timeline = correlator.timeline()
        #expect(timeline.journeys.map(\.direction) == [.forward, .reverse, .reverse, .unknown])
        #expect(timeline.journeys.map(\.arrived) == [false, true, false, false])
        #expect(timeline.stopped.map(\.lastSeenHop) == [0, 3])
        #expect(timeline.stopped.map(\.missedHops) == [[1, 2, 3, 4], [2, 1, 0]])
    }

    @Test func leavesArpAndUndecodableFramesOut() throws {
        let correlator = PacketCorrelator(hops: hops)
        let arp = FrameBuilder.ethernet(type: 0x0806, [0, 1, 8, 0, 6, 4, 0, 1] + [UInt8](repeating: 0, count: 20))
        let garbage: [UInt8] = [1, 2, 3]
        for frame in [arp, garbage] {
            frame.withUnsafeBytes { correlator.add(hop: 0, timestampNanoseconds: 1, frame: $0, linkType: .ethernet, wireLength: frame.count) }
        }
        let timeline = correlator.timeline()
        #expect(timeline.journeys.isEmpty)
        #expect(timeline.framesNotFollowed == 2)
    }
}
