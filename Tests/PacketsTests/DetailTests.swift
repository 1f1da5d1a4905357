import Foundation
import HopscopeModel
import Packets
import Testing

/// The JSON form: every decoded field, stable names, and it reads back to the same value.
@Suite struct DetailTests {
    @Test(arguments: ["charrua/dhcp2.pcap", "tcpdump/dns_udp.pcap", "tcpdump/vxlan.pcap", "tcpdump/geneve.pcap", "tcpdump/icmpv6.pcap",
                      "gopacket/layers-test-packets/gre_test__testPacketGRE.pcap", "tcpdump/802.1ad_QinQ.pcap", "tcpdump/dns_tcp.pcap"])
    func jsonRoundTrips(_ file: String) throws {
        let (link, frames) = try readCapture(sharedPcapDirectory.appendingPathComponent(file).path)
        for frame in frames.prefix(20) {
            let packet = frame.decode(link)
            let detail = frame.bytes.withUnsafeBytes { packet.detail(in: $0, seconds: frame.seconds, nanoseconds: frame.nanoseconds) }
            let data = try JSONEncoder().encode(detail)
            let back = try JSONDecoder().decode(PacketDetail.self, from: data)
            #expect(back == detail)
        }
    }

    @Test func dhcpJSONCarriesTheCommonOptions() throws {
        let (link, frames) = try readCapture(sharedPcapDirectory.appendingPathComponent("charrua/dhcp2.pcap").path)
        let offer = frames[1]
        let packet = offer.decode(link)
        let detail = offer.bytes.withUnsafeBytes { packet.detail(in: $0) }
        let dhcp = try #require(detail.layers.first { $0.header.protocolID == .dhcp })
        guard case .dhcp(let message) = dhcp.header else { Issue.record("not DHCP"); return }
        #expect(message.messageType == .offer)
        #expect(message.yiaddr == IPv4Address("192.168.0.10"))
        let options = try #require(dhcp.dhcpOptions)
        #expect(options.first { $0.code == DHCPOption.Code.serverIdentifier }?.addresses == [IPv4Address("192.168.0.1")!])
        #expect(options.first { $0.code == DHCPOption.Code.ipAddressLeaseTime }?.number == 3600)
        #expect(options.first { $0.code == DHCPOption.Code.renewalTime }?.number == 1800)
        #expect(options.first { $0.code == DHCPOption.Code.subnetMask }?.addresses == [IPv4Address("255.255.255.0")!])
        // Encoded with the layer name next to the header's own fields.
        let json = try #require(String(data: JSONEncoder().encode(dhcp), encoding: .utf8))
        #expect(json.contains("\"layer\":\"dhcp\""))
        #expect(json.contains("\"yiaddr\":\"192.168.0.10\""))
    }

    @Test func dnsJSONHasQuestionsAndAnswers() throws {
        let (link, frames) = try readCapture(sharedPcapDirectory.appendingPathComponent("tcpdump/dns_udp.pcap").path)
        let packet = frames[1].decode(link)
        let detail = frames[1].bytes.withUnsafeBytes { packet.detail(in: $0) }
        let dns = try #require(detail.layers.first { $0.header.protocolID == .dns })
        #expect(dns.questions?.map(\.name) == ["www.tcpdump.org."])
        #expect(dns.answers?.compactMap(\.address) == [IPAddress("192.139.46.66")!, IPAddress("198.199.88.104")!])
        #expect(dns.authorities?.count == 2)
        #expect(dns.additionals?.count == 5)
    }
}
