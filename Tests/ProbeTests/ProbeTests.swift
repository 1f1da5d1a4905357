import Diagnosis
import Foundation
import HopscopeModel
import Packets
import PathTrace
@testable import Probe
import Testing
import Topology

/// Root-free tests of the Probe module: recognising a probe's packets on any hop (also inside
/// VXLAN), reading DHCP and DNS answers, planning captures on a recorded lab snapshot, turning
/// per-point captures into hop sightings and observations, and checking offered DHCP options.
@Suite struct ProbeRecognitionTests {
    let mac = MACAddress("fa:16:3e:00:00:11")!
    let server = MACAddress("fa:16:3e:00:00:02")!
    let vm = IPv4Address(10, 0, 0, 11)
    let gateway = IPv4Address(10, 0, 0, 1)

    /// `frame` as the underlay carries it: in UDP 4789 with a VXLAN header (VNI 1001).
    func vxlan(_ frame: [UInt8]) throws -> [UInt8] {
        let header: [UInt8] = [0x08, 0, 0, 0, 0x00, 0x03, 0xE9, 0]
        return try Frames.udp(from: MACAddress("02:00:00:00:00:01")!, to: MACAddress("02:00:00:00:00:02")!,
                              source: IPv4Address(198, 18, 0, 1), destination: IPv4Address(198, 18, 0, 2),
                              sourcePort: 40_000, destinationPort: 4789, payload: header + frame)
    }

    @Test func echoRequestsAndRepliesAreRecognisedByTheirPayloadAlsoInsideVXLAN() throws {
        let probe = Probe(kind: .ping(count: 1), destination: gateway)
        let request = try Frames.icmpEcho(from: mac, to: server, source: vm, destination: gateway, identifier: 7, sequence: 1, data: probe.marker)
        let reply = try Frames.icmpEcho(reply: true, from: server, to: mac, source: gateway, destination: vm, identifier: 7, sequence: 1, data: probe.marker)
        let stranger = try Frames.icmpEcho(from: mac, to: server, source: vm, destination: gateway, identifier: 7, sequence: 1, data: Array(repeating: 1, count: 16))
        #expect(probe.leg(of: request) == .request)
        #expect(probe.leg(of: reply) == .answer)
        #expect(probe.leg(of: stranger) == nil, "another ping with the same addresses is not the probe")
        #expect(probe.leg(of: try vxlan(request)) == .request, "the tunnelled copy on the underlay is the same packet")
        // NAT changes addresses and the identifier, never the payload.
        let natted = try Frames.icmpEcho(from: mac, to: server, source: IPv4Address(203, 0, 113, 10), destination: gateway,
                                         identifier: 9, sequence: 1, data: probe.marker)
        #expect(probe.leg(of: natted) == .request)
    }

    @Test func dhcpMessagesAreRecognisedByTransactionID() throws {
        let probe = Probe(kind: .dhcp, destination: nil, clientMAC: mac)
        func udp(_ payload: [UInt8], fromServer: Bool) throws -> [UInt8] {
            try Frames.udp(from: fromServer ? server : mac, to: .broadcast, source: fromServer ? IPv4Address(10, 0, 0, 2) : .any,
                           destination: .broadcast, sourcePort: fromServer ? 67 : 68, destinationPort: fromServer ? 68 : 67, payload: payload)
        }
        let lease = DHCPMessage.LeaseOptions(subnetMask: IPv4Address(255, 255, 255, 0), routers: [gateway],
                                             dnsServers: [IPv4Address(10, 0, 0, 2)], mtu: 1450, leaseSeconds: 86_400)
        let discover = try udp(DHCPMessage.discover(xid: probe.transactionID, clientMAC: mac, broadcast: true), fromServer: false)
        let offer = try udp(DHCPMessage.offer(xid: probe.transactionID, clientMAC: mac, yourAddress: vm,
                                              serverID: IPv4Address(10, 0, 0, 2), lease: lease), fromServer: true)
        let other = try udp(DHCPMessage.discover(xid: probe.transactionID &+ 1, clientMAC: mac), fromServer: false)
        #expect(probe.leg(of: discover) == .request)
        #expect(probe.leg(of: offer) == .answer)
        #expect(probe.leg(of: try vxlan(offer)) == .answer)
        #expect(probe.leg(of: other) == nil)

        // What the prober reads from the offer.
        let packet = Packet(decoding: offer, linkType: .ethernet)
        guard case .dhcp(let m)? = packet.headers(in: offer).last(where: { if case .dhcp = $0 { true } else { false } }) else {
            Issue.record("the offer does not decode as DHCP")
            return
        }
        let reply = ProbeSender.dhcpReply(m, frame: offer)
        #expect(reply.messageType == "DHCPOFFER")
        #expect(reply.yourAddress == vm)
        #expect(reply.router == [gateway])
        #expect(reply.dnsServers == [IPv4Address(10, 0, 0, 2)])
        #expect(reply.mtu == 1450)
        #expect(reply.subnetMask == IPv4Address(255, 255, 255, 0))
        #expect(reply.serverID == IPv4Address(10, 0, 0, 2))
    }

    @Test func dnsQueriesAndResponsesAreRecognisedByTheQuestion() throws {
        let probe = Probe(kind: .dns(name: "www.example.org"), destination: IPv4Address(10, 0, 0, 2))
        let query = try DNSMessage.encodeQuery(id: probe.identifier, name: "www.example.org")
        // A response: the query with QR set, one answer (a pointer to the question's name), A 198.51.100.10.
        var response = query
        response[2] |= 0x80
        response[7] = 1
        response += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 10]
        let q = try Frames.udp(from: mac, to: server, source: vm, destination: IPv4Address(10, 0, 0, 2), sourcePort: probe.sourcePort,
                               destinationPort: 53, payload: query)
        let r = try Frames.udp(from: server, to: mac, source: IPv4Address(10, 0, 0, 2), destination: vm, sourcePort: 53,
                               destinationPort: probe.sourcePort, payload: response)
        // dnsmasq forwards with its own id and port: the question still tells it.
        let forwarded = try Frames.udp(from: server, to: mac, source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(198, 51, 100, 53),
                                       sourcePort: 33_333, destinationPort: 53, payload: DNSMessage.encodeQuery(id: 4242, name: "WWW.example.org."))
        let other = try Frames.udp(from: mac, to: server, source: vm, destination: IPv4Address(10, 0, 0, 2), sourcePort: probe.sourcePort,
                                   destinationPort: 53, payload: DNSMessage.encodeQuery(id: probe.identifier, name: "ntp.example.org"))
        #expect(probe.leg(of: q) == .request)
        #expect(probe.leg(of: r) == .answer)
        #expect(probe.leg(of: forwarded) == .request)
        #expect(probe.leg(of: other) == nil)
        let decoded = try #require(ProbeSender.decodeDNS(response, from: IPv4Address(10, 0, 0, 2)))
        #expect(decoded.rcode == "NOERROR")
        #expect(decoded.addresses == [IPAddress("198.51.100.10")!])
    }

    @Test func arpRequestsAndRepliesAreRecognisedByTheAddressAskedFor() throws {
        let probe = Probe(kind: .arp, destination: gateway)
        let request = try Frames.arpRequest(senderMAC: mac, senderIP: vm, targetIP: gateway)
        let reply = try Frames.arpReply(senderMAC: server, senderIP: gateway, targetMAC: mac, targetIP: vm)
        let other = try Frames.arpRequest(senderMAC: mac, senderIP: vm, targetIP: IPv4Address(10, 0, 0, 2))
        #expect(probe.leg(of: request) == .request)
        #expect(probe.leg(of: reply) == .answer)
        #expect(probe.leg(of: other) == nil)
    }

    @Test func udpProbesCarryTheirMarkerAndAnswersComeBackToTheirPort() throws {
        let probe = Probe(kind: .udp(port: 5000), destination: gateway)
        let out = try Frames.udp(from: mac, to: server, source: vm, destination: gateway, sourcePort: probe.sourcePort, destinationPort: 5000,
                                 payload: probe.marker)
        let back = try Frames.udp(from: server, to: mac, source: gateway, destination: vm, sourcePort: 5000, destinationPort: probe.sourcePort,
                                  payload: [1, 2, 3])
        #expect(probe.leg(of: out) == .request)
        #expect(probe.leg(of: back) == .answer)
        // Port unreachable, quoting the probe's IP header and first 8 bytes: also its answer.
        let quoted = Array(out[14..<(14 + 28)])
        let unreachable = try Frames.ipv4(from: server, to: mac, source: gateway, destination: vm, protocol: 1,
                                          payload: ICMPHeader.encode(type: 3, code: 3, restOfHeader: 0, data: quoted))
        #expect(probe.leg(of: unreachable) == .answer)
    }
}

/// Capture planning and sightings on the lab snapshot recorded by scripts/record-snapshots.
@Suite struct ProbeCapturePlanTests {
    static let healthy: Snapshot = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../PathTraceTests/Fixtures/healthy.json")
        return try! Snapshot.decode(Data(contentsOf: url))
    }()

    func gatewayWalk() throws -> (Topology, PathResult) {
        let topology = Topology(snapshots: [Self.healthy])
        let result = try PathTracer(topology: topology).trace(PathRequest(instance: "vm1", direction: .to("10.0.0.1")))
        return (topology, result)
    }

    @Test func everyLinuxDeviceOfTheWalkIsCapturedAndEverythingElseSaysWhyNot() throws {
        let (topology, result) = try gatewayWalk()
        let plan = HopCapturePlan(walk: result, topology: topology)
        let devices = Set(plan.points.map(\.interface))
        #expect(devices.contains("eth0"), "the instance NIC")
        #expect(devices.contains { $0.hasPrefix("tap") } && devices.contains { $0.hasPrefix("qvb") } && devices.contains { $0.hasPrefix("qvo") })
        #expect(devices.contains { $0.hasPrefix("qr-") }, "the router port at the end")
        #expect(devices.contains("eth1"), "the underlay NICs")
        #expect(!devices.contains { $0.hasPrefix("qbr") || $0.hasPrefix("br-") }, "bridges are not captured: \(devices)")
        for hop in result.hops {
            #expect((plan.hopPoints[hop.index] != nil) != (plan.skipped[hop.index] != nil), "hop \(hop.index) \(hop.device ?? "-") is either captured or says why not")
        }
        #expect(plan.skipped.values.contains { $0.contains("OVS internal port br-phy") })
        // A device seen forward and back is one capture point.
        #expect(plan.points.count == Set(plan.points.map { "\($0.interface)@\($0.namespace)" }).count)
        #expect(plan.points.allSatisfy { $0.namespace != .current }, "lab namespaces are entered by name")
    }

    @Test func forwardHopsLookForRequestsAndReplyHopsForAnswers() throws {
        let (topology, result) = try gatewayWalk()
        let plan = HopCapturePlan(walk: result, topology: topology)
        // Every point saw the request; only the instance NIC saw the answer.
        var seen = [PointSightings](repeating: PointSightings(requests: ["echo request"], answers: []), count: plan.points.count)
        let nic = try #require(plan.points.firstIndex { $0.interface == "eth0" })
        seen[nic].answers = ["echo reply"]
        let sightings = ProbeCapture.hopSightings(result, plan: plan, seen: seen, forwardLeg: .request)
        for s in sightings {
            let hop = result.hops[s.hop - 1]
            if hop.direction == .forward {
                #expect(s.seen)
            } else {
                #expect(s.seen == (hop.device == "eth0" && plan.hopPoints[s.hop] == nic), "reply hop \(s.hop) \(hop.device ?? "-")")
            }
        }
        // One observation per leg: the requests on the forward hops, all seen; the answers on the
        // reply hops, seen only at the end: in index order the loss comes right after the router.
        let sent = ProbeResult(probe: Probe(kind: .ping(count: 1), destination: IPv4Address(10, 0, 0, 1)),
                               origin: ProbeOrigin(kind: .instance, namespaceName: "x", interface: "eth0", mac: .zero, address: nil, label: "vm1"),
                               answered: false, detail: "")
        let probe = WalkProbe(walk: 0, result: sent, notProbed: nil,
                              sightings: sightings.map { ProbeObservation.HopSighting(hop: $0.hop, seen: $0.seen, evidence: [$0.evidence]) },
                              uncaptured: plan.skipped, replyHops: Set(result.hops.filter { $0.direction == .reply }.map(\.index)), forwardLeg: .request)
        let observations = ActiveProber.observations([probe])
        #expect(observations.count == 2)
        #expect(observations[0].sightings.allSatisfy { $0.seen })
        #expect(observations[1].probe.hasPrefix("the answers to"))
        #expect(observations[1].sightings.allSatisfy { result.hops[$0.hop - 1].direction == .reply })
        #expect(observations[1].sightings.last?.seen == true && observations[1].sightings.first?.seen == false)
    }
}

/// Offered DHCP options against the recorded lab: the healthy offer passes, a wrong one is named.
@Suite struct DHCPOptionCheckTests {
    @Test func theLabsOfferPassesAndAWrongRouterOrMTUIsNamed() throws {
        let topology = Topology(snapshots: [ProbeCapturePlanTests.healthy])
        let vm1 = try topology.findInstance("vm1")
        let services = InstanceServices(topology: topology, instance: vm1)
        var reply = DHCPReply(messageType: "DHCPACK", yourAddress: IPv4Address(10, 0, 0, 11), serverID: IPv4Address(10, 0, 0, 2),
                              subnetMask: IPv4Address(255, 255, 255, 0), router: [IPv4Address(10, 0, 0, 1)],
                              dnsServers: [IPv4Address(10, 0, 0, 2)], mtu: 1450, leaseSeconds: 86_400, summary: "")
        let healthy = DHCPOptionCheck.check(reply, instance: vm1, services: services, topology: topology)
        #expect(Set(healthy.map(\.option)) == ["address", "subnet mask", "router", "dns-server", "mtu"])
        #expect(healthy.allSatisfy { $0.ok }, "\(healthy)")
        reply.router = [IPv4Address(10, 0, 0, 254)]
        reply.mtu = 1500
        reply.yourAddress = IPv4Address(10, 0, 0, 12)
        let wrong = DHCPOptionCheck.check(reply, instance: vm1, services: services, topology: topology).filter { !$0.ok }.map(\.option)
        #expect(wrong == ["address", "router", "mtu"])
    }
}
