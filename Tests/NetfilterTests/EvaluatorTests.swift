import Foundation
import HopscopeModel
@testable import Netfilter
import NetfilterTestSupport
import Testing

/// Fixture ruleset + packet + traversal -> verdict and deciding rule.
@Suite struct ComputeNodeSecurityGroupTests {
    let evaluator: FirewallEvaluator
    let vm1Tap = "tap\(NeutronRules.vm1.id10)d", vm1Qvb = "qvb\(NeutronRules.vm1.id10)d", vm1Bridge = "qbr\(NeutronRules.vm1.id10)d"
    let vm2Tap = "tap\(NeutronRules.vm2.id10)d", vm2Qvb = "qvb\(NeutronRules.vm2.id10)d"

    init() throws {
        evaluator = FirewallEvaluator(ipv4: try FirewallRuleset.parse(NeutronRules.computeNode),
                                      ipsets: try IPSetDump.parse(NeutronRules.remoteGroupIPSets))
    }

    /// From vm1 out through its bridge to the integration bridge.
    var fromVM1: Traversal { .bridged(bridge: vm1Bridge, from: vm1Tap, to: vm1Qvb) }
    /// From the integration bridge in to vm1.
    var toVM1: Traversal { .bridged(bridge: vm1Bridge, from: vm1Qvb, to: vm1Tap) }

    func flow(_ s: String) throws -> PacketKey { try PacketKey(parsing: s) }

    @Test func fixtureRoundTrips() throws {
        let r = try #require(evaluator.ipv4)
        for rule in r.allRules { #expect(rule.formatted() == rule.text) }
        #expect(r.table("filter")?.chains.count == 16)
    }

    @Test func egressFromTheRightAddressIsAllowedBySgChain() throws {
        let t = evaluator.trace(try flow("icmp,dl_src=fa:16:3e:aa:bb:01,nw_src=10.0.0.5,nw_dst=10.0.0.6,icmp_type=8,icmp_code=0"), through: fromVM1)
        #expect(t.verdict == .forward(to: [vm1Qvb]))
        #expect(t.decidingRule?.chain == "neutron-openvswi-sg-chain")
        #expect(t.decidingRule?.text == "-A neutron-openvswi-sg-chain -j ACCEPT")
        // The path: FORWARD -> neutron-openvswi-FORWARD -> sg-chain -> o-chain -> s-chain RETURN -> o-chain RETURN -> sg-chain ACCEPT.
        let filterRules = t.matchedRules.filter { $0.table == "filter" }.map { "\($0.chain)#\($0.position)" }
        #expect(filterRules == ["FORWARD#1", "neutron-filter-top#1", "FORWARD#2", "neutron-openvswi-FORWARD#2", "neutron-openvswi-sg-chain#2",
                                "neutron-openvswi-o3f6a2b1c-9#2", "neutron-openvswi-s3f6a2b1c-9#1",
                                "neutron-openvswi-o3f6a2b1c-9#6", "neutron-openvswi-sg-chain#5"])
        // The raw table set the port's conntrack zone on the way in.
        #expect(t.steps.contains { $0.table == "raw" && $0.detail == "conntrack zone 4097" })
    }

    @Test func spoofedSourceIsDroppedByTheIPMACRule() throws {
        let t = evaluator.trace(try flow("icmp,dl_src=fa:16:3e:aa:bb:01,nw_src=10.0.0.99,nw_dst=10.0.0.6,icmp_type=8,icmp_code=0"), through: fromVM1)
        #expect(t.verdict == .drop)
        #expect(t.decidingRule?.chain == "neutron-openvswi-s3f6a2b1c-9")
        #expect(t.decidingRule?.comment == "Drop traffic without an IP/MAC allow rule.")
        let wrongMAC = evaluator.trace(try flow("icmp,dl_src=fa:16:3e:aa:bb:99,nw_src=10.0.0.5,nw_dst=10.0.0.6,icmp_type=8,icmp_code=0"), through: fromVM1)
        #expect(wrongMAC.verdict == .drop)
        #expect(wrongMAC.decidingRule?.position == 2)
    }

    @Test func dhcpDiscoverIsAllowedBeforeTheSpoofCheck() throws {
        let t = evaluator.trace(try flow("udp,dl_src=fa:16:3e:aa:bb:01,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67"), through: fromVM1)
        #expect(t.verdict.isForward)
        let returned = t.matchedRules.first { $0.chain == "neutron-openvswi-o3f6a2b1c-9" }
        #expect(returned?.position == 1)
        #expect(returned?.comment == "Allow DHCP client traffic.")
    }

    @Test func dhcpServerFromAnInstanceIsDropped() throws {
        let t = evaluator.trace(try flow("udp,dl_src=fa:16:3e:aa:bb:01,nw_src=10.0.0.5,nw_dst=10.0.0.6,tp_src=67,tp_dst=68"), through: fromVM1)
        #expect(t.verdict == .drop)
        #expect(t.decidingRule?.comment == "Prevent DHCP Spoofing by VM.")
    }

    @Test func ingressNotAllowedFallsToTheFallbackChain() throws {
        let t = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=80"), through: toVM1)
        #expect(t.verdict == .drop)
        #expect(t.decidingRule?.chain == "neutron-openvswi-sg-fallback")
        #expect(t.decidingRule?.comment == "Default drop rule for unmatched traffic.")
        #expect(t.decidingRule?.location == "filter neutron-openvswi-sg-fallback #1")
    }

    @Test func ingressAllowedBySecurityGroupRules() throws {
        let ssh = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=22"), through: toVM1)
        #expect(ssh.verdict.isForward)
        #expect(ssh.matchedRules.contains { $0.chain == "neutron-openvswi-i3f6a2b1c-9" && $0.text.contains("--dport 22") })
        let established = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=80"), through: toVM1,
                                          connection: ConnectionContext(state: .established, isReply: true))
        #expect(established.verdict.isForward)
        #expect(established.matchedRules.contains { $0.chain == "neutron-openvswi-i3f6a2b1c-9" && $0.position == 1 })
        let invalid = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=80"), through: toVM1,
                                      connection: ConnectionContext(state: .invalid))
        #expect(invalid.decidingRule?.comment?.hasPrefix("Drop packets that appear related") == true)
    }

    @Test func remoteGroupMembershipComesFromTheIPSet() throws {
        let member = evaluator.trace(try flow("udp,nw_src=10.0.1.5,nw_dst=10.0.0.5,tp_src=1000,tp_dst=9999"), through: toVM1)
        #expect(member.verdict.isForward)
        #expect(member.matchedRules.contains { $0.text.contains("--match-set") })
        // 10.0.1.200 is in the nomatch hole of 10.0.1.0/24.
        let hole = evaluator.trace(try flow("udp,nw_src=10.0.1.200,nw_dst=10.0.0.5,tp_src=1000,tp_dst=9999"), through: toVM1)
        #expect(hole.verdict == .drop)
        let noSets = FirewallEvaluator(ipv4: evaluator.ipv4)
        let t = noSets.trace(try flow("udp,nw_src=10.0.1.5,nw_dst=10.0.0.5,tp_src=1000,tp_dst=9999"), through: toVM1)
        guard case .unknown(let why) = t.verdict else { Issue.record("expected unknown, got \(t.verdict)"); return }
        #expect(why.contains("ipset"))
        #expect(t.decidingRule?.text.contains("--match-set") == true)
    }

    @Test func brNetfilterOffSkipsIptables() throws {
        let t = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=80"),
                                through: .bridged(bridge: vm1Bridge, from: vm1Qvb, to: vm1Tap, netfilter: false))
        #expect(t.verdict == .forward(to: [vm1Tap]))
        #expect(t.matchedRules.isEmpty)
        #expect(t.notes.contains { $0.contains("bridge-nf-call-iptables=0") })
    }

    @Test func missingFieldsGiveUnknownNamingTheRule() throws {
        // The destination port is not given, and the first rule that needs it decides nothing
        // else: the trace must say unknown rather than guess.
        let t = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000"), through: toVM1)
        guard case .unknown(let why) = t.verdict else { Issue.record("expected unknown, got \(t.verdict)"); return }
        #expect(why.contains("tp_dst"))
        #expect(t.decidingRule?.text.contains("--dport 22") == true)
        let noPort = evaluator.trace(try flow("tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=22"),
                                     through: .bridged(bridge: vm1Bridge, from: vm1Qvb, to: nil))
        #expect(noPort.verdict.isUnknown)
        #expect(noPort.decidingRule?.text.contains("--physdev-out") == true)
    }

    @Test func localDeliveryFromAnInstanceUsesTheInputChain() throws {
        // A DHCP broadcast also goes up to the bridge device: INPUT with the tap as physdev-in.
        // Neutron's INPUT rule also asks --physdev-is-bridged, which is false in INPUT, so it never matches.
        let t = evaluator.trace(try flow("udp,dl_src=fa:16:3e:aa:bb:01,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67"),
                                through: .deliveredLocally(in: vm1Bridge, physdevIn: vm1Tap))
        #expect(t.verdict == .forward(to: ["local"]))
        #expect(t.decidingRule?.isPolicy == true)
        #expect(t.decidingRule?.chain == "INPUT")
        #expect(!t.matchedRules.contains { $0.chain == "neutron-openvswi-INPUT" })
    }
}

@Suite struct TargetAndMatchSemanticsTests {
    func ruleset(_ filter: String, table: String = "filter", chains: String = "") throws -> FirewallEvaluator {
        let builtins = table == "nat" ? ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]"
            : ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]"
        return FirewallEvaluator(ipv4: try FirewallRuleset.parse("*\(table)\n\(builtins)\n\(chains)\(filter)\nCOMMIT\n"))
    }

    @Test func gotoDoesNotComeBackAndReturnInBuiltinAppliesPolicy() throws {
        let e = FirewallEvaluator(ipv4: try FirewallRuleset.parse("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            :a - [0:0]
            :b - [0:0]
            -A FORWARD -g a
            -A FORWARD -j ACCEPT
            -A a -j b
            -A a -p udp -j ACCEPT
            -A b -p tcp -j RETURN
            -A b -p icmp -j ACCEPT
            COMMIT
            """))
        let p = try PacketKey(parsing: "tcp,nw_src=192.0.2.1,nw_dst=198.51.100.1,tp_src=1,tp_dst=2")
        let t = e.trace(p, through: .routed(in: "eth0", out: "eth1"))
        // tcp: b RETURNs to a, a has no match, a falls off; goto means back to FORWARD's caller: the policy.
        #expect(t.verdict == .drop)
        #expect(t.decidingRule?.isPolicy == true)
        #expect(t.decidingRule?.text == ":FORWARD DROP")
        let icmp = e.trace(try PacketKey(parsing: "icmp,nw_src=192.0.2.1,nw_dst=198.51.100.1,icmp_type=8,icmp_code=0"), through: .routed(in: "eth0", out: "eth1"))
        #expect(icmp.decidingRule?.chain == "b")
    }

    @Test func interfaceWildcardsAndNegation() throws {
        let e = try ruleset("-A FORWARD ! -i qr-+ -o qg-+ -j DROP\n-A FORWARD -i qr-+ -j ACCEPT")
        let p = try PacketKey(parsing: "icmp,nw_src=192.0.2.1,nw_dst=198.51.100.1,icmp_type=8,icmp_code=0")
        #expect(e.trace(p, through: .routed(in: "eth0", out: "qg-1234")).verdict == .drop)
        let ok = e.trace(p, through: .routed(in: "qr-abcd", out: "qg-1234"))
        #expect(ok.verdict == .forward(to: ["qg-1234"]))
        #expect(ok.decidingRule?.position == 2)
    }

    @Test func multiportTcpFlagsIcmpAndRanges() throws {
        let e = try ruleset("""
            -A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m multiport --dports 22,80,8000:8100 -j ACCEPT
            -A INPUT -p icmp -m icmp --icmp-type 3/4 -j ACCEPT
            -A INPUT -m iprange --src-range 192.0.2.10-192.0.2.20 -j ACCEPT
            -A INPUT -j DROP
            """)
        func verdict(_ f: String) throws -> Decision { e.trace(try PacketKey(parsing: f), through: .deliveredLocally(in: "eth0")).verdict }
        #expect(try verdict("tcp,nw_src=198.51.100.1,nw_dst=192.0.2.1,tp_src=1000,tp_dst=8050,tcp_flags=+syn") == .forward(to: ["local"]))
        #expect(try verdict("tcp,nw_src=198.51.100.1,nw_dst=192.0.2.1,tp_src=1000,tp_dst=8050,tcp_flags=+syn+ack") == .drop)
        #expect(try verdict("icmp,nw_src=198.51.100.1,nw_dst=192.0.2.1,icmp_type=3,icmp_code=4") == .forward(to: ["local"]))
        #expect(try verdict("icmp,nw_src=198.51.100.1,nw_dst=192.0.2.1,icmp_type=3,icmp_code=1") == .drop)
        #expect(try verdict("udp,nw_src=192.0.2.15,nw_dst=192.0.2.1,tp_src=1,tp_dst=2") == .forward(to: ["local"]))
        #expect(try verdict("udp,nw_src=192.0.2.21,nw_dst=192.0.2.1,tp_src=1,tp_dst=2") == .drop)
    }

    @Test func opaqueTargetsAndModulesAreUnknownNamingTheRule() throws {
        let e = try ruleset("""
            -A INPUT -p tcp -j NFQUEUE --queue-num 1
            -A INPUT -m rpfilter --invert -j DROP
            -A INPUT -j ACCEPT
            """)
        let tcp = e.trace(try PacketKey(parsing: "tcp,nw_src=198.51.100.1,nw_dst=192.0.2.1,tp_src=1,tp_dst=2"), through: .deliveredLocally(in: "eth0"))
        guard case .unknown(let why) = tcp.verdict else { Issue.record("expected unknown"); return }
        #expect(why.contains("NFQUEUE"))
        #expect(tcp.decidingRule?.position == 1)
        let udp = e.trace(try PacketKey(parsing: "udp,nw_src=198.51.100.1,nw_dst=192.0.2.1,tp_src=1,tp_dst=2"), through: .deliveredLocally(in: "eth0"))
        guard case .unknown(let why2) = udp.verdict else { Issue.record("expected unknown"); return }
        #expect(why2.contains("rpfilter"))
        #expect(udp.decidingRule?.position == 2)
    }

    @Test func unknownMatchOnALogRuleDoesNotStopTheTrace() throws {
        let e = try ruleset("-A INPUT -m owner --uid-owner 0 -j LOG\n-A OUTPUT -m owner --uid-owner 0 -j LOG\n-A OUTPUT -j DROP")
        let p = try PacketKey(parsing: "udp,nw_src=192.0.2.1,nw_dst=198.51.100.1,tp_src=1,tp_dst=2")
        let t = e.trace(p, through: .sentLocally(out: "eth0"))
        #expect(t.verdict == .drop)
        #expect(t.steps.contains { $0.event == .unknown && $0.detail?.contains("only logs") == true })
    }

    @Test func markAndConnmarkTargets() throws {
        let e = FirewallEvaluator(ipv4: try FirewallRuleset.parse("""
            *mangle
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -i eth0 -j MARK --set-xmark 0x4000000/0xffff0000
            -A PREROUTING -j MARK --or-mark 0x1
            -A POSTROUTING -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m mark --mark 0x4000001 -j ACCEPT
            COMMIT
            """))
        let p = try PacketKey(parsing: "udp,nw_src=192.0.2.1,nw_dst=198.51.100.1,tp_src=1,tp_dst=2")
        let t = e.trace(p, through: .routed(in: "eth0", out: "eth1"))
        #expect(t.verdict == .forward(to: ["eth1"]))
        #expect(t.packetMarkAfter == 0x4000001)
        #expect(t.connectionMarkAfter == 0x4000000)
        let other = e.trace(p, through: .routed(in: "eth2", out: "eth1"))
        #expect(other.verdict == .drop)
    }

    @Test func rawNotrackMakesPacketsUntrackedAndSkipsNAT() throws {
        let e = FirewallEvaluator(ipv4: try FirewallRuleset.parse("""
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -j CT --notrack
            COMMIT
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A PREROUTING -j DNAT --to-destination 192.0.2.99
            COMMIT
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -m state --state UNTRACKED -j DROP
            COMMIT
            """))
        let t = e.trace(try PacketKey(parsing: "udp,nw_src=192.0.2.1,nw_dst=198.51.100.1,tp_src=1,tp_dst=2"), through: .routed(in: "eth0", out: "eth1"))
        #expect(t.verdict == .drop)
        #expect(t.translations.isEmpty)
        #expect(t.translatedPacket.ipDst == IPAddress("198.51.100.1"))
    }

    @Test func parseErrorsCiteLineAndColumn() throws {
        do {
            _ = try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n")
            Issue.record("expected an error")
        } catch let e as FirewallParseError {
            #expect(e.line == 3)
            #expect(e.column == 13)
            #expect(e.description.contains("10.0.0.300"))
        }
        do {
            _ = try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --dport 22 -j ACCEPT\nCOMMIT\n")
            Issue.record("expected an error")
        } catch let e as FirewallParseError {
            #expect(e.column == 10)
            #expect(e.message.contains("-m"))
        }
        #expect(throws: FirewallParseError.self) { try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n[1:x] -A INPUT -j ACCEPT\nCOMMIT\n") }
        #expect(throws: FirewallParseError.self) { try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open -j ACCEPT\nCOMMIT\n") }
        #expect(throws: FirewallParseError.self) { try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n") }
    }

    @Test func quotingRoundTripsLikeIptablesSave() throws {
        let line = #"[5:300] -A INPUT -m comment --comment "say \"hi\" and it\'s a \\ test" -m comment --comment plain -j LOG --log-prefix "drop: ""#
        let r = try FirewallRuleset.parse("*filter\n:INPUT ACCEPT [0:0]\n\(line)\nCOMMIT\n")
        let rule = try #require(r.allRules.first)
        #expect(rule.formatted() == line)
        #expect(rule.comment == #"say "hi" and it's a \ test; plain"#)
        #expect(rule.counters == PacketCounters(packets: 5, bytes: 300))
        #expect(rule.ruleText.hasPrefix("-A INPUT"))
    }
}

@Suite struct ParserTests {
    @Test func wordHashConstantsMatchTheirWords() {
        for (constant, word) in W.all { #expect(constant == wordHash(word.utf8), "\(word)") }
        #expect(Set(W.all.map(\.0)).count == W.all.count, "two dispatch words share a hash")
    }

    @Test func repeatedCommentsAndLongWordsAreSharedNotReparsedWrongly() throws {
        let text = """
            *filter
            :INPUT ACCEPT [0:0]
            :a-chain-with-a-long-name-xyz - [0:0]
            -A INPUT -m comment --comment "same words here" -j a-chain-with-a-long-name-xyz
            -A INPUT -m comment --comment "same words here!" -j a-chain-with-a-long-name-xyz
            -A a-chain-with-a-long-name-xyz -m comment --comment "same words here" -j ACCEPT
            COMMIT
            """
        let r = try FirewallRuleset.parse(text)
        let rules = r.allRules
        #expect(rules.map(\.comment) == ["same words here", "same words here!", "same words here"])
        #expect(rules[0].target.action == .jump("a-chain-with-a-long-name-xyz"))
        for rule in rules { #expect(rule.formatted() == rule.text) }
    }
}
