import HopscopeModel
import Testing

@Suite struct PacketKeyTests {
    @Test func parsesIcmpWithAddresses() throws {
        let k = try PacketKey(parsing: "in_port=qvo1234,icmp,dl_src=fa:16:3e:00:00:01,nw_src=10.10.0.11,nw_dst=203.0.113.1,icmp_type=8")
        #expect(k.inPort == "qvo1234")
        #expect(k.ethType == 0x0800)
        #expect(k.ipProto == 1)
        #expect(k.ethSrc == MACAddress("fa:16:3e:00:00:01"))
        #expect(k.ipSrc == IPAddress("10.10.0.11"))
        #expect(k.ipDst == IPAddress("203.0.113.1"))
        #expect(k.icmpType == 8)
        #expect(k.isICMP)
    }

    @Test func aliasesMapToTheSameField() throws {
        let a = try PacketKey(parsing: "tcp,ip_src=10.0.0.1,tcp_dst=22,eth_dst=fa:16:3e:00:00:02")
        let b = try PacketKey(parsing: "tcp,nw_src=10.0.0.1,tp_dst=22,dl_dst=fa:16:3e:00:00:02")
        #expect(a == b)
        #expect(a.dstPort == 22)
    }

    @Test func vlanForms() throws {
        #expect(try PacketKey(parsing: "dl_vlan=1").vlanTCI == 0x1001)
        #expect(try PacketKey(parsing: "vlan_tci=0x1001").vlanID == 1)
        #expect(try PacketKey(parsing: "ip").vlanID == nil)
        #expect(throws: PacketKey.ParseError.self) { try PacketKey(parsing: "dl_vlan=4096") }
    }

    @Test func conntrackAndRegisters() throws {
        let k = try PacketKey(parsing: "ip,ct_state=+trk+est,reg5=0x3,metadata=0x10,tun_id=0x3e9")
        #expect(k.ctState == 0x22)
        #expect(k.registers[5] == 3)
        #expect(k.metadata == 0x10)
        #expect(k.tunnelID == 1001)
        #expect(ConntrackState.format(0x21) == "+new+trk")
    }

    @Test func unknownFieldsAreKeptInOrder() throws {
        let k = try PacketKey(parsing: "ip,pkt_mark=0x5,nw_frag=no")
        #expect(k.extraFields.map(\.name) == ["pkt_mark", "nw_frag"])
        #expect(k.description.hasSuffix("pkt_mark=0x5,nw_frag=no"))
    }

    @Test func errorsNameFieldAndColumn() {
        do {
            _ = try PacketKey(parsing: "icmp,nw_src=10.0.0.300")
            Issue.record("expected an error")
        } catch let e as PacketKey.ParseError {
            #expect(e.column == 6)
            #expect(e.message.contains("nw_src"))
        } catch { Issue.record("wrong error \(error)") }
        #expect(throws: PacketKey.ParseError.self) { try PacketKey(parsing: "icmpp") }
        #expect(throws: PacketKey.ParseError.self) { try PacketKey(parsing: "tcp,tcp_flags=+syn+bogus") }
    }

    @Test(arguments: [
        "icmp,nw_src=10.10.0.11,nw_dst=203.0.113.1,icmp_type=8,icmp_code=0",
        "in_port=1,tcp,dl_src=fa:16:3e:00:00:01,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=22",
        "arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=fa:16:3e:00:00:01",
        "udp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tp_src=546,tp_dst=547",
        "ip,vlan_tci=0x1005,nw_proto=47,nw_src=198.18.0.1,nw_dst=198.18.0.2",
    ])
    func descriptionReparsesToTheSameKey(_ text: String) throws {
        let k = try PacketKey(parsing: text)
        #expect(try PacketKey(parsing: k.description) == k)
    }
}
