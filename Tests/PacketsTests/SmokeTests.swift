import Foundation
import Packets
import Testing

@Suite struct SmokeTests {
    @Test func decodesVXLANFromGopacket() throws {
        let (link, frames) = try readCapture(sharedPcapDirectory.appendingPathComponent("gopacket/layers-test-packets/vxlan_test__testPacketVXLAN.pcap").path)
        let packet = frames[0].decode(link)
        #expect(packet.issue == nil)
        #expect(packet.layers.map(\.protocolID) == [.ethernet, .ipv4, .udp, .vxlan, .ethernet, .ipv4, .icmp, .payload])
    }
}
