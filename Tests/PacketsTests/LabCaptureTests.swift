import Foundation
import HopscopeModel
import Packets
import Testing

/// The lab's reference captures (captures/, recorded in a healthy lab) decode to what the lab
/// did: DHCP with the MTU option, a ping and a DNS forward at the router, VXLAN on the underlay.
/// Their every field is also compared with tshark in TsharkOracleTests.
@Suite struct LabCaptureTests {
    func decoded(_ name: String) throws -> [(Packet, StoredFrame)] {
        let (link, frames) = try readCapture(labCaptureDirectory.appendingPathComponent(name).path)
        return frames.map { ($0.decode(link), $0) }
    }

    @Test func instanceDHCPAtTheTapIsAFullExchangeWithTheMTU() throws {
        let packets = try decoded("dhcp-instance-tap.pcap")
        #expect(packets.count == 4)
        var types: [DHCPMessageType] = []
        for (packet, frame) in packets {
            #expect(packet.issue == nil)
            for layer in packet.layers {
                guard case .dhcp(let m) = frame.bytes.withUnsafeBytes({ layer.header(in: $0) }) else { continue }
                if let t = m.messageType { types.append(t) }
                if m.messageType == .offer || m.messageType == .ack {
                    let options = try frame.bytes.withUnsafeBytes { try DHCPOption.all(in: $0, of: m) }
                    #expect(options.first { $0.code == DHCPOption.Code.interfaceMTU }?.number == 1450)
                    #expect(m.yiaddr == IPv4Address("10.0.0.11"))
                }
            }
        }
        #expect(types == [.discover, .offer, .request, .ack])
    }

    @Test func routerSeesThePingAndTheDNSForward() throws {
        let packets = try decoded("router-qr-ping-dns.pcap")
        let lines = packets.map { p, f in f.bytes.withUnsafeBytes { p.summary(in: $0) } }
        #expect(lines.contains { $0.contains("ICMP echo request") && $0.contains("> 203.0.113.1") })
        #expect(lines.contains { $0.contains("ICMP echo reply") })
        #expect(lines.contains { $0.contains("A? ntp.example.org.") })
        #expect(lines.contains { $0.contains(".53 > ") && $0.contains(" A ") })
    }

    @Test func underlayCarriesTheInstancePingInVXLAN() throws {
        let packets = try decoded("underlay-vxlan.pcap")
        #expect(packets.count == 2)
        for (packet, frame) in packets {
            let ids = frame.bytes.withUnsafeBytes { packet.identities(in: $0) }
            #expect(ids.tunnel == PacketIdentities.Tunnel(kind: .vxlan, id: 1001))
            #expect(ids.inner?.ipProtocol == 1)
            #expect(ids.outer?.destinationPort == 4789)
            let addresses = [ids.outer?.source, ids.outer?.destination].compactMap { $0 }
            #expect(Set(addresses) == [IPAddress("198.18.0.1")!, IPAddress("198.18.0.2")!])
        }
    }
}
