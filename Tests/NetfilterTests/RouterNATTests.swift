import Foundation
import HopscopeModel
@testable import Netfilter
import Testing

/// The L3 agent's real qrouter and snat dumps (hotsos): floating IP DNAT, float-snat, metadata
/// REDIRECT, address-scope marks, centralized SNAT.
@Suite struct RouterNATTests {
    static func dump(_ name: String) throws -> FirewallRuleset {
        let url = packageRoot.appendingPathComponent("../shared/data/iptables/hotsos/\(name)")
        return try FirewallRuleset.parse(try String(contentsOf: url, encoding: .utf8))
    }
    let qrouter: FirewallEvaluator
    let snat: FirewallEvaluator
    let qr = "qr-3a70b31c-3f", rfp = "rfp-984c22fd-6"

    init() throws {
        qrouter = FirewallEvaluator(
            ipv4: try Self.dump("ip_netns_exec_qrouter-984c22fd-64b3-4fa1-8ddd-87090f401ce5_iptables-save"),
            interfaceAddresses: ["qr-3a70b31c-3f": [IPPrefix("192.168.21.1/24")!], "rfp-984c22fd-6": [IPPrefix("169.254.106.114/31")!]])
        snat = FirewallEvaluator(ipv4: try Self.dump("ip_netns_exec_snat-984c22fd-64b3-4fa1-8ddd-87090f401ce5_iptables-save"))
    }

    @Test func floatingIPInboundIsTranslatedBeforeRouting() throws {
        let p = try PacketKey(parsing: "icmp,nw_src=203.0.113.9,nw_dst=10.100.0.203,icmp_type=8,icmp_code=0")
        let t = qrouter.trace(p, through: .routed(in: rfp, out: qr))
        #expect(t.verdict == .forward(to: [qr]))
        #expect(t.translatedPacket.ipDst == IPAddress("192.168.21.18"))
        #expect(t.translations.count == 1)
        #expect(t.translations[0].kind == .destination)
        #expect(t.translations[0].hook == "PREROUTING")
        #expect(t.translations[0].rule?.text == "-A neutron-l3-agent-PREROUTING -d 10.100.0.203/32 -i rfp-984c22fd-6 -j DNAT --to-destination 192.168.21.18")
        // The scope mark set for rfp- in mangle keeps the scope DROP in filter from firing.
        #expect(t.decidingRule?.text == ":FORWARD ACCEPT")
        #expect(t.matchedRules.contains { $0.table == "mangle" && $0.chain == "neutron-l3-agent-scope" && $0.position == 2 })
        // POSTROUTING: the ! --ctstate DNAT exemption does not match a DNATed connection; float-snat's -s does not either.
        #expect(!t.matchedRules.contains { $0.chain == "neutron-l3-agent-POSTROUTING" })
        #expect(t.matchedRules.contains { $0.chain == "neutron-l3-agent-snat" })
    }

    @Test func routingIsAskedAfterDNATWhenNoOutputInterfaceIsGiven() throws {
        let p = try PacketKey(parsing: "icmp,nw_src=203.0.113.9,nw_dst=10.100.0.203,icmp_type=8,icmp_code=0")
        let asked = LockedDestinations()
        let t = qrouter.trace(p, through: .routed(in: rfp, out: nil), route: { packet in
            asked.append(packet.ipDst)
            return .forward(outInterface: "qr-3a70b31c-3f")
        })
        #expect(asked.values == [IPAddress("192.168.21.18")], "the route lookup must see the translated destination")
        #expect(t.verdict == .forward(to: [qr]))
    }

    @Test func floatingIPOutboundGetsFloatSnat() throws {
        let p = try PacketKey(parsing: "icmp,nw_src=192.168.21.18,nw_dst=203.0.113.9,icmp_type=8,icmp_code=0")
        let t = qrouter.trace(p, through: .routed(in: qr, out: rfp))
        #expect(t.verdict == .forward(to: [rfp]))
        #expect(t.translatedPacket.ipSrc == IPAddress("10.100.0.203"))
        #expect(t.translations.first?.rule?.chain == "neutron-l3-agent-float-snat")
        #expect(t.translations.first?.hook == "POSTROUTING")
        // And its reply comes back de-SNATed before routing.
        let reply = try PacketKey(parsing: "icmp,nw_src=203.0.113.9,nw_dst=10.100.0.203,icmp_type=0,icmp_code=0")
        let r = qrouter.traceReply(to: t, reply: reply, through: .routed(in: rfp, out: qr))
        #expect(r.verdict == .forward(to: [qr]))
        #expect(r.translatedPacket.ipDst == IPAddress("192.168.21.18"))
        #expect(r.translations.first?.rule == nil)
        #expect(!r.steps.contains { $0.table == "nat" && $0.event == .matched })
    }

    @Test func metadataIsRedirectedToTheLocalProxy() throws {
        let p = try PacketKey(parsing: "tcp,nw_src=192.168.21.18,nw_dst=169.254.169.254,tp_src=40000,tp_dst=80,tcp_flags=+syn")
        let t = qrouter.trace(p, through: .routed(in: qr, out: rfp))
        #expect(t.verdict == .forward(to: ["local"]))
        #expect(t.traversal.kind == .deliveredLocally)
        #expect(t.translatedPacket.ipDst == IPAddress("192.168.21.1"))
        #expect(t.translatedPacket.dstPort == 9697)
        #expect(t.decidingRule?.text == "-A neutron-l3-agent-INPUT -m mark --mark 0x1/0xffff -j ACCEPT")
        // Without the mark (for example from the rfp side) the proxy port is closed.
        let direct = try PacketKey(parsing: "tcp,nw_src=192.168.21.18,nw_dst=192.168.21.1,tp_src=40000,tp_dst=9697,tcp_flags=+syn")
        let d = qrouter.trace(direct, through: .deliveredLocally(in: qr))
        #expect(d.verdict == .drop)
        #expect(d.decidingRule?.text == "-A neutron-l3-agent-INPUT -p tcp -m tcp --dport 9697 -j DROP")
    }

    @Test func addressScopeMismatchIsDropped() throws {
        let p = try PacketKey(parsing: "icmp,nw_src=198.51.100.7,nw_dst=192.168.21.18,icmp_type=8,icmp_code=0")
        let t = qrouter.trace(p, through: .routed(in: "qr-otherscope", out: qr))
        #expect(t.verdict == .drop)
        #expect(t.decidingRule?.text == "-A neutron-l3-agent-scope -o qr-3a70b31c-3f -m mark ! --mark 0x4000000/0xffff0000 -j DROP")
    }

    @Test func centralizedSnatTranslatesTenantTraffic() throws {
        let p = try PacketKey(parsing: "udp,nw_src=192.168.21.30,nw_dst=203.0.113.53,tp_src=5353,tp_dst=53")
        let t = snat.trace(p, through: .routed(in: "sg-189f4c40-9d", out: "qg-14f81a43-69"))
        #expect(t.verdict == .forward(to: ["qg-14f81a43-69"]))
        #expect(t.translatedPacket.ipSrc == IPAddress("10.100.0.204"))
        #expect(t.translatedPacket.srcPort == nil, "--random-fully randomises the source port")
        #expect(t.translations.first?.rule?.text == "-A neutron-l3-agent-snat -o qg-14f81a43-69 -j SNAT --to-source 10.100.0.204 --random-fully")
        #expect(t.translations.first?.note?.contains("randomised") == true)
        // An established packet of the same connection is not re-evaluated by nat rules.
        let est = snat.trace(p, through: .routed(in: "sg-189f4c40-9d", out: "qg-14f81a43-69"),
                             connection: ConnectionContext(state: .established, connectionMark: 0))
        #expect(est.translations.isEmpty)
        #expect(est.steps.contains { $0.table == "nat" && $0.event == .skipped })
    }

    @Test func establishedWithoutConnmarkIsUnknownWhereItMatters() throws {
        let p = try PacketKey(parsing: "icmp,nw_src=203.0.113.9,nw_dst=192.168.21.18,icmp_type=0,icmp_code=0")
        let t = qrouter.trace(p, through: .routed(in: rfp, out: qr), connection: ConnectionContext(state: .established))
        guard case .unknown(let why) = t.verdict else { Issue.record("expected unknown, got \(t.verdict)"); return }
        #expect(why.contains("connection mark"))
        #expect(t.decidingRule?.text.contains("CONNMARK --restore-mark") == true)
    }
}

/// Records what a route lookup was asked, from a @Sendable closure.
final class LockedDestinations: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [IPAddress?] = []
    func append(_ a: IPAddress?) { lock.lock(); list.append(a); lock.unlock() }
    var values: [IPAddress?] { lock.lock(); defer { lock.unlock() }; return list }
}

/// IPv6 through real ip6tables dumps: ICMPv6 types, IPv6 prefixes, and an unmodelled match.
@Suite struct IPv6Tests {
    @Test func ip6tablesDumpDecidesRouterAdvertisementsAndNamesRpfilterAsUnknown() throws {
        let url = packageRoot.appendingPathComponent("../shared/data/iptables/insights-core/test_iptables__IP6TABLES_SAVE.txt")
        let ruleset = try FirewallRuleset.parse(try String(contentsOf: url, encoding: .utf8))
        #expect(ruleset.family == .ipv6)
        let e = FirewallEvaluator(ipv4: nil, ipv6: ruleset)
        let ra = e.trace(try PacketKey(parsing: "icmp6,ipv6_src=fe80::1,ipv6_dst=ff02::1,icmpv6_type=134,icmpv6_code=0"),
                         through: .deliveredLocally(in: "eth0"))
        #expect(ra.verdict == .forward(to: ["local"]))
        #expect(ra.matchedRules.first?.text == "-A PREROUTING -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT")
        #expect(ra.decidingRule?.text == "-A INPUT -s fe80::/64 -j ACCEPT")
        let ping = e.trace(try PacketKey(parsing: "icmp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,icmpv6_type=128,icmpv6_code=0"),
                           through: .deliveredLocally(in: "eth0"))
        guard case .unknown(let why) = ping.verdict else { Issue.record("expected unknown, got \(ping.verdict)"); return }
        #expect(why.contains("rpfilter"))
        #expect(ping.decidingRule?.text == "-A PREROUTING -m rpfilter --invert -j DROP")
        // An IPv4 packet with only an ip6tables dump cannot be judged.
        let v4 = e.trace(try PacketKey(parsing: "icmp,nw_src=192.0.2.1,nw_dst=192.0.2.2,icmp_type=8,icmp_code=0"), through: .deliveredLocally(in: "eth0"))
        #expect(v4.verdict.isUnknown)
    }
}
