import Foundation
import HopscopeModel
import Namespaces
import Netfilter
import NetfilterTestSupport
import Testing

/// The oracle: real packets through the kernel's rules, one at a time. For each, the rules and
/// policies whose `iptables-save -c` counters moved must be exactly the ones the evaluator says
/// the packet matched (in every namespace it crossed, each as many times as the traces say), and
/// the deciding rule the evaluator names must be among them.
@Suite(.serialized) struct FirewallCounterOracleTests {
    @Test func evaluatorNamesTheRulesWhoseKernelCountersMove() async throws {
        try requireRoot()
        let lab = FirewallOracleLab()
        do {
            try await lab.up()
            var oracle = try await CounterOracle(watching: [lab.cmp, lab.rtr])
            try await oracle.settle()
            try await oracle.runOwnLabProbes(lab, compute: try await LiveFirewall.collect(in: .named(lab.cmp)).evaluator(),
                                             router: try await LiveFirewall.collect(in: .named(lab.rtr)).evaluator())
            oracle.report()
        } catch {
            await lab.down()
            throw error
        }
        await lab.down()
    }
}

/// One traced traversal the kernel should count: in which namespace, and which hooks of it (a
/// broadcast's local copy shares PREROUTING with its bridged copy, so only its INPUT counts).
struct Crossing {
    var namespace: String
    var trace: FirewallTrace
    var hooks: Set<String>? = nil
}

struct CounterOracle {
    /// The namespaces whose counters are read after every probe.
    let watched: [String]
    var before: [String: [String: UInt64]] = [:]
    var probes = 0
    var accepted = 0
    var dropped = 0
    var protocols: Set<String> = []
    var states: Set<String> = []

    init(watching namespaces: [String]) async throws {
        watched = namespaces
        before = try await readAll()
    }

    func readAll() async throws -> [String: [String: UInt64]] {
        var out: [String: [String: UInt64]] = [:]
        for ns in watched { out[ns] = try await Self.counters(ns) }
        return out
    }

    /// Waits until no counter has moved for a second (links coming up can still send a few
    /// frames), so that every later movement belongs to a probe.
    mutating func settle() async throws {
        var quietSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let now = try await readAll()
            if now != before { before = now; quietSince = .now }
            if ContinuousClock.now - quietSince >= .seconds(1) { return }
        }
        Issue.record("the lab's counters kept moving for 20 s without probes: \(before)")
    }

    static func counters(_ ns: String) async throws -> [String: UInt64] {
        let text = try await HostCommand.run(["iptables-save", "-c"], in: .named(ns)).standardOutput
        var out: [String: UInt64] = [:]
        for t in try FirewallRuleset.parse(text).tables {
            for c in t.chains {
                if c.isBuiltin { out["\(t.name) \(c.name) #0"] = c.counters?.packets ?? 0 }
                for r in c.rules { out["\(t.name) \(c.name) #\(r.position)"] = r.counters?.packets ?? 0 }
            }
        }
        return out
    }

    static func key(_ r: FirewallRuleReference) -> String { "\(r.table) \(r.chain) #\(r.position)" }

    /// The counters the traces say move, per namespace.
    static func expected(_ crossings: [Crossing]) -> [String: [String: UInt64]] {
        var out: [String: [String: UInt64]] = [:]
        for c in crossings {
            for s in c.trace.steps where (s.event == .matched || s.event == .policy) && (c.hooks?.contains(s.hook) ?? true) {
                if let r = s.rule { out[c.namespace, default: [:]][key(r), default: 0] += 1 }
            }
        }
        return out
    }

    /// Sends one frame and checks the counters against the crossings it should make.
    mutating func probe(_ name: String, from sender: String, _ interface: String, _ packet: PacketKey, to mac: MACAddress,
                        _ extras: ProbeFrames.Extras = .init(), state: String, crossings: [Crossing]) async throws {
        for c in crossings {
            #expect(!c.trace.verdict.isUnknown, "\(name): the evaluator could not decide in \(c.namespace): \(c.trace.verdict)")
        }
        let want = Self.expected(crossings).filter { !$0.value.isEmpty }
        try await ProbeFrames.send(ProbeFrames.frame(packet, to: mac, extras), namespace: sender, interface: interface)
        var moved: [String: [String: UInt64]] = [:]
        var after = before
        for attempt in 0..<80 {
            after = try await readAll()
            moved = [:]
            for ns in watched {
                for (k, v) in after[ns]! where v != before[ns]?[k] { moved[ns, default: [:]][k] = v - (before[ns]?[k] ?? 0) }
            }
            if moved == want { break }
            try await Task.sleep(for: .milliseconds(attempt < 10 ? 5 : 25))
        }
        before = after
        probes += 1
        protocols.insert(packet.ipProto == 1 ? "icmp" : packet.ipProto == 6 ? "tcp" : packet.dstPort == 67 || packet.dstPort == 68 ? "dhcp" : "udp")
        states.insert(state)
        let last = crossings.last?.trace
        if last?.verdict.isDrop == true { dropped += 1 } else { accepted += 1 }
        #expect(moved == want, """
            \(name): kernel counters and evaluator disagree.
            moved:     \(moved.mapValues { $0.sorted { $0.key < $1.key } })
            evaluator: \(want.mapValues { $0.sorted { $0.key < $1.key } })
            """)
        if let deciding = last?.decidingRule, let ns = crossings.last?.namespace {
            #expect(moved[ns]?[Self.key(deciding)] != nil, "\(name): deciding rule \(deciding) did not count the packet")
        }
    }

    func report(_ label: String = "own namespaces") {
        print("firewall oracle (\(label)): \(probes) packets, \(accepted) accepted, \(dropped) dropped; protocols \(protocols.sorted()); states \(states.sorted())")
        #expect(probes >= 150)
        #expect(accepted > 30 && dropped > 30)
        #expect(protocols == ["dhcp", "icmp", "tcp", "udp"])
        #expect(states == ["established", "new"])
    }

    // MARK: The probes

    /// Traces `packet` through consecutive crossings, feeding each the packet as the previous one
    /// left it, and stops at the first that does not pass it on.
    func path(_ packet: PacketKey, _ steps: [(String, (PacketKey) -> FirewallTrace)]) -> [Crossing] {
        var out: [Crossing] = []
        var p = packet
        for (ns, trace) in steps {
            let t = trace(p)
            out.append(Crossing(namespace: ns, trace: t))
            guard t.verdict.isForward else { break }
            p = t.translatedPacket
        }
        return out
    }

    mutating func runOwnLabProbes(_ l: FirewallOracleLab, compute: FirewallEvaluator, router: FirewallEvaluator) async throws {
        let reply = ConnectionContext(state: .established, isReply: true)
        let outOf1 = Traversal.bridged(bridge: l.p1.qbr, from: l.p1.tap, to: l.p1.qvb)
        let into1 = Traversal.bridged(bridge: l.p1.qbr, from: l.p1.qvb, to: l.p1.tap)
        let outOf2 = Traversal.bridged(bridge: l.p2.qbr, from: l.p2.tap, to: l.p2.qvb)
        let into2 = Traversal.bridged(bridge: l.p2.qbr, from: l.p2.qvb, to: l.p2.tap)
        let fromTenant = Traversal.routed(in: l.qr, out: l.qg)
        let toTenant = Traversal.routed(in: l.qg, out: l.qr)
        let c = compute, r = router
        func k(_ s: String) throws -> PacketKey { try PacketKey(parsing: s) }
        let vm1 = "dl_src=\(l.vm1MAC),nw_src=10.0.0.5", vm2 = "dl_src=\(l.vm2MAC),nw_src=10.0.0.6", ext = "dl_src=\(l.extMAC),nw_src=203.0.113.9"

        for v in 0..<7 {
            let id = UInt16(100 + v * 40)
            let port = UInt16(41000 + v * 40)
            var x = ProbeFrames.Extras()

            // East-west between the two instances: out of vm1's bridge, into vm2's.
            x.icmpID = id
            var p = try k("icmp,\(vm1),nw_dst=10.0.0.6,icmp_type=8,icmp_code=0")
            try await probe("vm1->vm2 ping (vm2 allows only UDP 53)", from: l.vm1, "eth0", p, to: l.vm2MAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.cmp, { c.trace($0, through: into2) })]))
            p = try k("udp,\(vm1),nw_dst=10.0.0.6,tp_src=\(port),tp_dst=53")
            try await probe("vm1->vm2 dns", from: l.vm1, "eth0", p, to: l.vm2MAC, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.cmp, { c.trace($0, through: into2) })]))
            p = try k("udp,\(vm2),nw_dst=10.0.0.5,tp_src=53,tp_dst=\(port)")
            try await probe("vm2->vm1 dns answer", from: l.vm2, "eth0", p, to: l.vm1MAC, state: "established",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf2, connection: reply) }),
                                                (l.cmp, { c.trace($0, through: into1, connection: reply) })]))
            p = try k("udp,\(vm1),nw_dst=10.0.0.6,tp_src=\(port + 1),tp_dst=54")
            try await probe("vm1->vm2 udp 54", from: l.vm1, "eth0", p, to: l.vm2MAC, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.cmp, { c.trace($0, through: into2) })]))
            x.icmpID = id + 1
            p = try k("icmp,\(vm2),nw_dst=10.0.0.5,icmp_type=8,icmp_code=0")
            try await probe("vm2->vm1 ping", from: l.vm2, "eth0", p, to: l.vm1MAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf2) }), (l.cmp, { c.trace($0, through: into1) })]))
            p = try k("icmp,\(vm1),nw_dst=10.0.0.6,icmp_type=0,icmp_code=0")
            try await probe("vm1->vm2 ping reply", from: l.vm1, "eth0", p, to: l.vm2MAC, x, state: "established",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1, connection: reply) }),
                                                (l.cmp, { c.trace($0, through: into2, connection: reply) })]))
            x.tcpSeq = 1000 + UInt32(v)
            p = try k("tcp,\(vm2),nw_dst=10.0.0.5,tp_src=\(port + 2),tp_dst=22,tcp_flags=+syn")
            try await probe("vm2->vm1 ssh syn", from: l.vm2, "eth0", p, to: l.vm1MAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf2) }), (l.cmp, { c.trace($0, through: into1) })]))
            var synAck = ProbeFrames.Extras()
            synAck.tcpSeq = 9000
            synAck.tcpAck = x.tcpSeq + 1
            p = try k("tcp,\(vm1),nw_dst=10.0.0.6,tp_src=22,tp_dst=\(port + 2),tcp_flags=+syn+ack")
            try await probe("vm1->vm2 ssh syn-ack", from: l.vm1, "eth0", p, to: l.vm2MAC, synAck, state: "established",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1, connection: reply) }),
                                                (l.cmp, { c.trace($0, through: into2, connection: reply) })]))
            p = try k("tcp,\(vm2),nw_dst=10.0.0.5,tp_src=\(port + 3),tp_dst=80,tcp_flags=+syn")
            try await probe("vm2->vm1 http syn (not allowed)", from: l.vm2, "eth0", p, to: l.vm1MAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf2) }), (l.cmp, { c.trace($0, through: into1) })]))

            // Anti-spoofing and DHCP.
            x.icmpID = id + 2
            p = try k("icmp,dl_src=\(l.vm1MAC),nw_src=10.0.0.99,nw_dst=203.0.113.9,icmp_type=8,icmp_code=0")
            try await probe("vm1 spoofed source", from: l.vm1, "eth0", p, to: l.qrMAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) })]))
            p = try k("icmp,dl_src=fa:16:3e:aa:bb:99,nw_src=10.0.0.5,nw_dst=203.0.113.9,icmp_type=8,icmp_code=0")
            try await probe("vm1 spoofed MAC", from: l.vm1, "eth0", p, to: l.qrMAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) })]))
            p = try k("udp,dl_src=\(l.vm1MAC),nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67")
            let discover = path(p, [(l.cmp, { c.trace($0, through: outOf1) })])
                + [Crossing(namespace: l.cmp, trace: c.trace(p, through: .deliveredLocally(in: l.p1.qbr, physdevIn: l.p1.tap)), hooks: ["INPUT"])]
            try await probe("vm1 dhcp discover (bridged and up to the bridge)", from: l.vm1, "eth0", p, to: .broadcast, state: "new", crossings: discover)
            p = try k("udp,dl_src=\(l.qrMAC),nw_src=10.0.0.1,nw_dst=10.0.0.5,tp_src=67,tp_dst=68")
            try await probe("dhcp offer to vm1", from: l.rtr, l.qr, p, to: l.vm1MAC, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: into1) })]))
            p = try k("udp,\(vm1),nw_dst=10.0.0.6,tp_src=67,tp_dst=68")
            try await probe("vm1 acting as dhcp server", from: l.vm1, "eth0", p, to: l.vm2MAC, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) })]))

            // North-south through the router: floating IP, gateway SNAT, metadata, the router itself.
            x.icmpID = id + 3
            p = try k("icmp,\(vm1),nw_dst=203.0.113.9,icmp_type=8,icmp_code=0")
            let out1 = path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.rtr, { r.trace($0, through: fromTenant) })])
            try await probe("vm1 ping outside (float-snat)", from: l.vm1, "eth0", p, to: l.qrMAC, x, state: "new", crossings: out1)
            p = try k("icmp,\(ext),nw_dst=203.0.113.10,icmp_type=0,icmp_code=0")
            let fipOriginal = out1.last!.trace
            try await probe("outside ping reply to the floating IP", from: l.ext, "eth0", p, to: l.qgMAC, x, state: "established",
                            crossings: path(p, [(l.rtr, { r.traceReply(to: fipOriginal, reply: $0, through: toTenant) }),
                                                (l.cmp, { c.trace($0, through: into1, connection: reply) })]))
            p = try k("udp,\(vm2),nw_dst=203.0.113.9,tp_src=\(port + 4),tp_dst=53")
            let out2 = path(p, [(l.cmp, { c.trace($0, through: outOf2) }), (l.rtr, { r.trace($0, through: fromTenant) })])
            try await probe("vm2 dns outside (gateway snat)", from: l.vm2, "eth0", p, to: l.qrMAC, state: "new", crossings: out2)
            p = try k("udp,\(ext),nw_dst=203.0.113.2,tp_src=53,tp_dst=\(port + 4)")
            let snatOriginal = out2.last!.trace
            try await probe("outside dns answer to the gateway", from: l.ext, "eth0", p, to: l.qgMAC, state: "established",
                            crossings: path(p, [(l.rtr, { r.traceReply(to: snatOriginal, reply: $0, through: toTenant) }),
                                                (l.cmp, { c.trace($0, through: into2, connection: reply) })]))
            x.tcpSeq = 2000 + UInt32(v)
            p = try k("tcp,\(ext),nw_dst=203.0.113.10,tp_src=\(port + 5),tp_dst=22,tcp_flags=+syn")
            let in1 = path(p, [(l.rtr, { r.trace($0, through: toTenant) }), (l.cmp, { c.trace($0, through: into1) })])
            try await probe("outside ssh to the floating IP", from: l.ext, "eth0", p, to: l.qgMAC, x, state: "new", crossings: in1)
            synAck.tcpAck = x.tcpSeq + 1
            p = try k("tcp,\(vm1),nw_dst=203.0.113.9,tp_src=22,tp_dst=\(port + 5),tcp_flags=+syn+ack")
            let dnatOriginal = in1.first!.trace
            try await probe("vm1 ssh syn-ack through the floating IP", from: l.vm1, "eth0", p, to: l.qrMAC, synAck, state: "established",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1, connection: reply) }),
                                                (l.rtr, { r.traceReply(to: dnatOriginal, reply: $0, through: fromTenant) })]))
            p = try k("tcp,\(ext),nw_dst=203.0.113.10,tp_src=\(port + 6),tp_dst=80,tcp_flags=+syn")
            try await probe("outside http to the floating IP (not allowed)", from: l.ext, "eth0", p, to: l.qgMAC, x, state: "new",
                            crossings: path(p, [(l.rtr, { r.trace($0, through: toTenant) }), (l.cmp, { c.trace($0, through: into1) })]))
            for (src, what) in [("10.0.1.5", "a remote-group member"), ("10.0.1.200", "the remote group's nomatch hole")] {
                p = try k("udp,dl_src=\(l.extMAC),nw_src=\(src),nw_dst=203.0.113.10,tp_src=\(port + 9),tp_dst=9999")
                try await probe("udp 9999 from \(what) to the floating IP", from: l.ext, "eth0", p, to: l.qgMAC, state: "new",
                                crossings: path(p, [(l.rtr, { r.trace($0, through: toTenant) }), (l.cmp, { c.trace($0, through: into1) })]))
            }
            var silent = x
            silent.badTransportChecksum = true
            p = try k("tcp,\(vm1),nw_dst=169.254.169.254,tp_src=\(port + 7),tp_dst=80,tcp_flags=+syn")
            try await probe("vm1 metadata request (redirected to the proxy)", from: l.vm1, "eth0", p, to: l.qrMAC, silent, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.rtr, { r.trace($0, through: fromTenant) })]))
            p = try k("tcp,\(vm1),nw_dst=10.0.0.1,tp_src=\(port + 8),tp_dst=9697,tcp_flags=+syn")
            try await probe("vm1 straight to the metadata proxy port", from: l.vm1, "eth0", p, to: l.qrMAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.rtr, { r.trace($0, through: .deliveredLocally(in: l.qr)) })]))
            x.icmpID = id + 4
            p = try k("icmp,\(vm1),nw_dst=10.0.0.1,icmp_type=8,icmp_code=0")
            try await probe("vm1 ping the router", from: l.vm1, "eth0", p, to: l.qrMAC, x, state: "new",
                            crossings: path(p, [(l.cmp, { c.trace($0, through: outOf1) }), (l.rtr, { r.trace($0, through: .deliveredLocally(in: l.qr)) })]))
        }
    }
}
