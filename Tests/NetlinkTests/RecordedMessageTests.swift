import Foundation
import HopscopeModel
import Netlink
import Testing

/// Decoding real kernel messages from netlink-packet-route's captures. Expected values come from
/// the `ip` commands that made them (quoted in shared/data/netlink/MANIFEST.md) and the upstream
/// test's expected struct.
@Suite struct RecordedMessageTests {
    @Test func vxlanWithEndpointsAndUnderlyingDevice() throws {
        let bytes = try Fixture.route("link_vxlan__test_parsing_link_vxlan__raw.bin")
        let (link, ipv4) = try withPayload(bytes) { try LinkMessage.decodeWithSettings($0) }
        #expect(link.name == "vxlan0")
        #expect(link.index == 23)
        #expect(link.kind == .vxlan)
        #expect(link.mtu == 1450)
        #expect(link.mac == MACAddress("00:23:45:67:89:1c"))
        #expect(link.operState == .unknown)
        #expect(link.carrier == true)
        #expect(link.adminUp && link.lowerUp)
        #expect(link.txQueueLength == 1000)
        let t = try #require(link.tunnel)
        #expect(t.vni == 101)
        #expect(t.tunnelRemoteIP == IPAddress("8.8.8.8"))
        #expect(t.tunnelLocalIP == IPAddress("1.1.1.1"))
        #expect(t.underlyingDeviceIndex == 20)
        #expect(t.destinationPort == 4789)
        #expect(t.learning == true)
        #expect(t.externalControl == false)
        #expect(ipv4 == LinkMessage.IPv4Settings(forwarding: true, proxyARP: false, rpFilter: 2))
    }

    @Test func vxlanCreateRequestWithMulticastGroup() throws {
        // ip link add vxlan0 type vxlan id 100 remote 192.0.2.1 dstport 10240 ttl ... (request, no ifname index)
        let bytes = try Fixture.route("link_vxlan__test_create_vxlan_with_mcroute__raw.bin")
        let link = try withPayload(bytes) { try LinkMessage.decode($0) }
        #expect(link.kind == .vxlan)
        #expect(link.tunnel?.vni == 100)
        #expect(link.tunnel?.destinationPort == 10240)
    }

    @Test func greKeysAndEndpoints() throws {
        // ip link add name foo type gre ikey 42 okey 42 local 192.0.2.1 remote 192.0.2.2 ttl 64; the
        // captured bytes carry 192.0.2.1 as IFLA_GRE_REMOTE (upstream's expected decode agrees).
        let link = try withPayload(try Fixture.route("link_gre__test_create_gre__raw.bin")) { try LinkMessage.decode($0) }
        #expect(link.name == "foo")
        #expect(link.kind == .gre)
        let t = try #require(link.tunnel)
        #expect(t.inputKey == 42 && t.outputKey == 42)
        #expect(t.tunnelLocalIP == IPAddress("192.0.2.1"))
        #expect(t.tunnelRemoteIP == IPAddress("192.0.2.1"))
        #expect(t.ttl == 64)
    }

    @Test func gretapExternalHasNoEndpoints() throws {
        // ip link add name foo type gretap external
        let link = try withPayload(try Fixture.route("link_gre__test_create_gretap_external__raw.bin")) { try LinkMessage.decode($0) }
        #expect(link.kind == .gretap)
        #expect(link.tunnel?.externalControl == true)
        #expect(link.tunnel?.tunnelRemoteIP == nil)
    }

    @Test func vethKind() throws {
        let link = try withPayload(try Fixture.route("link_veth__test_crate_veth__raw.bin")) { try LinkMessage.decode($0) }
        #expect(link.kind == .veth)
    }

    @Test func bridgePortState() throws {
        let link = try withPayload(try Fixture.route("link_bridge__test_bridge_port_link_info__raw.bin")) { try LinkMessage.decode($0) }
        #expect(link.portKind == "bridge")
        let port = try #require(link.bridgePort)
        // A port message of a bridge with STP off and the port down: state disabled (0).
        #expect(port.stpState == .disabled)
        #expect(port.learning == true)
        #expect(port.unicastFlood == true)
        #expect(port.hairpin == false)
    }

    @Test func vlanIDAndProtocol() throws {
        let link = try withPayload(try Fixture.route("link_vlan__test_parsing_link_vlan__raw.bin")) { try LinkMessage.decode($0) }
        #expect(link.kind == .vlan)
        #expect(link.vlan?.id == 101)
        #expect(link.vlan?.tagProtocol == "802.1Q")
    }

    @Test func statisticsAreSixtyFourBit() throws {
        let link = try withPayload(try Fixture.route("link_statistics__test_parsing_link_statistics__raw.bin")) { try LinkMessage.decode($0) }
        let s = try #require(link.statistics)
        #expect(s.rxPackets > 0 && s.rxBytes > s.rxPackets)
        #expect(s.rxNoHandler != nil)
    }

    @Test func loopbackIPv4Address() throws {
        let a = try #require(try withPayload(try Fixture.route("address_ipv4__test_ipv4_get_loopback_address__raw.bin")) { try AddressMessage.decode($0) })
        #expect(a.prefix == IPPrefix("127.0.0.1/8"))
        #expect(a.scope == .host)
        #expect(a.label == "lo")
        #expect(a.interfaceIndex == 1)
        #expect(a.flags.contains("permanent"))
        #expect(a.validLifetime == nil)
    }

    @Test func loopbackIPv6Address() throws {
        let a = try #require(try withPayload(try Fixture.route("address_ipv6__test_get_loopback_ipv6_addr__raw.bin")) { try AddressMessage.decode($0) })
        #expect(a.prefix == IPPrefix("::1/128"))
        #expect(a.scope == .host)
    }

    @Test func multipathRoute() throws {
        // ip route add 10.109.0.0/16 nexthop via 10.0.0.254 dev test-dummy weight 1 nexthop via ...
        let r = try #require(try withPayload(try Fixture.route("route_multipath__test_route_multipath_two_nexthops__raw.bin")) { try RouteMessage.decode($0) })
        #expect(r.destination == IPPrefix("10.109.0.0/16"))
        #expect(r.nexthops.count == 2)
        #expect(r.nexthops.first?.gateway == IPAddress("10.0.0.254"))
        #expect(r.nexthops.first?.weight == 1)
    }

    @Test func ipv4RouteViaIPv6Gateway() throws {
        // ip route add 192.0.2.1 via inet6 2001:db8:1:: dev lo
        let r = try #require(try withPayload(try Fixture.route("route_via__test_ipv4_route_via__raw.bin")) { try RouteMessage.decode($0) })
        #expect(r.destination == IPPrefix("192.0.2.1/32"))
        #expect(r.gateway == IPAddress("2001:db8:1::"))
        #expect(r.table == RoutingTable.main)
    }

    @Test func blackholeRule() throws {
        // ip rule add priority 1000 from 192.0.2.1 to 203.0.113.1 blackhole
        let rule = try #require(try withPayload(try Fixture.route("rule_src_dst__test_ipv4_src_dst_blackhole__raw.bin")) { try RuleMessage.decode($0) })
        #expect(rule.priority == 1000)
        #expect(rule.from == IPPrefix("192.0.2.1/32"))
        #expect(rule.to == IPPrefix("203.0.113.1/32"))
        #expect(rule.action == .blackhole)
    }

    @Test func prohibitRuleWithInterfaces() throws {
        // ip rule add priority 9000 from 192.0.2.1 to 203.0.113.1 iif lo oif lo protocol dhcp prohibit
        let rule = try #require(try withPayload(try Fixture.route("rule_iif_oif__test_ipv4_iif_oif_prohibit__raw.bin")) { try RuleMessage.decode($0) })
        #expect(rule.priority == 9000)
        #expect(rule.inputInterface == "lo" && rule.outputInterface == "lo")
        #expect(rule.ruleProtocol.description == "dhcp")
        #expect(rule.action == .prohibit)
    }

    @Test func fwmarkRule() throws {
        // ip rule add priority 1001 fwmark 0x20 suppress_prefixlength 8
        let rule = try #require(try withPayload(try Fixture.route("rule_fw_mark__test_ipv4_fwmark_suppress_prefixlength__raw.bin")) { try RuleMessage.decode($0) })
        #expect(rule.fwmark == 0x20)
        #expect(rule.suppressPrefixLength == 8)
        #expect(rule.action == .lookup)
        #expect(rule.table == RoutingTable.main)
    }

    @Test func portRangeRule() throws {
        // ip -4 rule add priority 1020 sport 80-8080 dport 8080-9090 ipproto udp realms 199/200
        let rule = try #require(try withPayload(try Fixture.route("rule_sport_dport__test_ipv4_udp_sport_range_dport_range_reals_src_dst__raw.bin")) { try RuleMessage.decode($0) })
        #expect(rule.sourcePorts == 80...8080)
        #expect(rule.destinationPorts == 8080...9090)
        #expect(rule.ipProtocol == 17)
    }

    @Test func ipv4Neighbour() throws {
        let n = try #require(try withPayload(try Fixture.route("neighbour_ip__test_ipv4_neighbour_show__raw.bin")) { try NeighborMessage.decodeNeighbor($0) })
        #expect(n.address.isIPv4)
        #expect(n.mac != nil)
        #expect(n.state.isUsable)
    }

    @Test func ipv6Neighbour() throws {
        let n = try #require(try withPayload(try Fixture.route("neighbour_ip__test_ipv6_neighbour_show__raw.bin")) { try NeighborMessage.decodeNeighbor($0) })
        #expect(!n.address.isIPv4)
    }

    @Test func bridgeNeighbourIsAnFDBEntry() throws {
        let bytes = try Fixture.route("neighbour_bridge__test_bridge_neighbour_show__raw.bin")
        #expect(try withPayload(bytes) { try NeighborMessage.decodeNeighbor($0) } == nil)
        let e = try #require(try withPayload(bytes) { try NeighborMessage.decodeFDB($0) })
        #expect(e.state.contains(.permanent))
    }

    @Test func namespaceIDReply() throws {
        // ip netns set abc 99; ip netns list
        let nsid = try withPayload(try Fixture.route("nsid_tests__test_ip_netns_query_reply__raw.bin")) { try NamespaceIDMessage.decode($0) }
        #expect(nsid == 99)
    }
}
