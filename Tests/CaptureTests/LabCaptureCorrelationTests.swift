import Capture
import Foundation
import Namespaces
import Testing

/// Correlation on real captures recorded by `hopscope capture` in the lab (Fixtures/lab-ping-*):
/// vm1 pings out through tap, qvo (mirror), the VXLAN underlay, qr- and qg-, and the same with
/// the `sg-drops-icmp` fault while the external network pings vm1's floating IP. tshark is the
/// oracle for which hop saw which echo.
@Suite struct LabCaptureCorrelationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    let labels = ["tap", "qvo", "underlay", "qr", "qg"]

    func timeline(_ name: String) throws -> PacketTimeline {
        try PacketCorrelator.timeline(of: (1...5).map { (labels[$0 - 1], "\(Self.fixtures)/\(name)/hop\($0).pcap", 100) })
    }

    /// (ICMP type, sequence) -> indices of the hops tshark saw it at, from the merged pcapng.
    func tsharkSightings(_ name: String) async throws -> [String: [Int]] {
        let out = try await HostCommand.run(["tshark", "-r", "\(Self.fixtures)/\(name)/all-hops.pcapng", "-T", "fields",
                                             "-e", "frame.interface_id", "-e", "icmp.type", "-e", "icmp.seq", "icmp"]).standardOutput
        var seen: [String: [Int]] = [:]
        for line in out.split(separator: "\n") {
            let f = line.split(separator: "\t").map(String.init)
            seen["\(f[1])/\(f[2])", default: []].append(Int(f[0])!)
        }
        return seen.mapValues { $0.sorted() }
    }

    func key(_ journey: PacketJourney) -> String {
        let type = journey.summary.contains("echo request") ? "8" : "0"
        let seq = journey.summary.components(separatedBy: "seq ")[1].prefix { $0.isNumber }
        return "\(type)/\(seq)"
    }

    @Test func healthyPingMatchesTsharkAtEveryHopThroughMirrorVxlanAndSnat() async throws {
        let t = try timeline("lab-ping-healthy")
        let oracle = try await tsharkSightings("lab-ping-healthy")
        #expect(t.journeys.count == 6)
        #expect(oracle.count == 6)
        for journey in t.journeys {
            #expect(journey.sightings.map(\.hop).sorted() == oracle[key(journey)], "\(journey.summary)")
            #expect(journey.arrived)
        }
        let requests = t.journeys.filter { key($0).hasPrefix("8/") }
        #expect(requests.allSatisfy { $0.direction == .forward && $0.answered == true })
        #expect(requests.allSatisfy { $0.sightings[2].tunnel == "vxlan 1001" && $0.sightings[1].vlan == 1 })
        #expect(requests.allSatisfy { $0.sightings[4].translation == "src 10.0.0.11 > 203.0.113.20" })
        #expect(t.journeys.filter { key($0).hasPrefix("0/") }.allSatisfy { $0.direction == .reverse })
        // Time moves forward along the path except at the mirror, whose copies are a little late.
        #expect(requests.allSatisfy { $0.sightings[3].sincePreviousNanoseconds! > 0 && $0.sightings[4].sincePreviousNanoseconds! > 0 })
    }

    @Test func securityGroupFaultStopsPingsAfterTheQvo() async throws {
        let t = try timeline("lab-ping-sg-drops-icmp")
        let oracle = try await tsharkSightings("lab-ping-sg-drops-icmp")
        #expect(t.journeys.count == 2)
        for journey in t.journeys {
            #expect(journey.sightings.map(\.hop).sorted() == oracle[key(journey)])
        }
        #expect(t.stopped.count == 2)
        #expect(t.stopped.allSatisfy { $0.direction == .reverse && $0.lastSeenHop == 1 && $0.missedHops == [0] && $0.answered == false })
        #expect(t.stopped.allSatisfy { $0.sightings[1].translation == "dst 203.0.113.20 > 10.0.0.11" }, "DNAT of the floating IP at qr-")
    }
}

/// The lab's reference captures (`captures/`, recorded with tcpdump by scripts/record-captures):
/// one hop each, so the correlator's part is pairing each echo request with its reply, through
/// the VXLAN encapsulation on the underlay.
@Suite struct ReferenceCaptureCorrelationTests {
    static let captures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("captures").path

    @Test(arguments: [("underlay-vxlan.pcap", "10.0.0.12 > 10.0.0.1", "vxlan 1001"), ("router-qr-ping-dns.pcap", "10.0.0.12 > 203.0.113.1", nil)])
    func pairsEchoRequestsWithTheirReplies(file: String, flow: String, tunnel: String?) throws {
        let timeline = try PacketCorrelator.timeline(of: [("hop", "\(Self.captures)/\(file)", 4)])
        let requests = timeline.journeys.filter { $0.summary.contains("ICMP echo request") }
        #expect(requests.count == 1)
        #expect(requests.first?.summary.hasPrefix("IP \(flow):") == true, "\(requests.first?.summary ?? "")")
        #expect(requests.first?.answered == true)
        #expect(requests.first?.sightings.first?.tunnel == tunnel)
    }
}
