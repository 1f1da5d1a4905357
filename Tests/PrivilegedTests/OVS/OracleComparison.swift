import Foundation
import HopscopeModel
import OpenVSwitch

/// One packet to trace: the bridge it enters, FLOW text, and ct states for recirculations.
struct OraclePacket: CustomStringConvertible {
    var bridge: String
    var flow: String
    var ctNext: [String] = []
    var description: String { "\(bridge) \(flow)" + (ctNext.isEmpty ? "" : " --ct-next \(ctNext.joined(separator: " --ct-next "))") }
}

/// Compares Hopscope's evaluator with `ovs-appctl ofproto/trace` packet by packet.
struct OracleComparison {
    var agreed = 0
    var agreedForward = 0
    var agreedDrop = 0
    var disagreements: [String] = []
    /// Packets Hopscope answered `unknown` for, with the reason (allowed, but listed).
    var unknowns: [String] = []
    /// Packets whose OVS trace had datapath actions the oracle reader does not understand.
    var unreadable: [String] = []

    static func run(node: OVSNode, model: OpenFlowModel, packets: [OraclePacket], underlay: Set<String>) async throws -> OracleComparison {
        var c = OracleComparison()
        let ports = OFProtoTraceOracle.datapathPorts(dpifShow: try await node.appctl(["dpif/show"]))
        for p in packets {
            let key = try PacketKey(parsing: p.flow)
            let states = try p.ctNext.map { try ConntrackState.parse($0.replacingOccurrences(of: ",", with: "|")) }
            let ours = try model.trace(bridge: p.bridge, packet: key, conntrack: ConntrackInput(states: states))
            let text = try await node.ofprotoTrace(bridge: p.bridge, flow: p.flow, conntrack: p.ctNext)
            let oracle = OFProtoTraceOracle.outputs(trace: text, ports: ports,
                                                    underlayBridges: underlay.union(OFProtoTraceOracle.underlayBridges(trace: text)))
            if !oracle.unreadable.isEmpty {
                c.unreadable.append("\(p): \(oracle.unreadable)")
                continue
            }
            if case .unknown(let reason) = ours.decision {
                c.unknowns.append("\(p): \(reason)")
                continue
            }
            let mine = ours.outputs.map(OFProtoTraceOracle.Output.init).sorted()
            if Set(mine) == Set(oracle.outputs) {
                c.agreed += 1
                if mine.isEmpty { c.agreedDrop += 1 } else { c.agreedForward += 1 }
            } else {
                c.disagreements.append("""
                    \(p)
                      hopscope: \(mine.map(\.text)) \(ours.decision)
                      ovs:      \(oracle.outputs.map(\.text))
                      steps:    \(ours.steps.map { "\($0.bridge)/\($0.table ?? -1):\($0.kind.rawValue)\($0.note.map { "(\($0))" } ?? "")" })
                      trace:
                    \(text.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n"))
                    """)
            }
        }
        return c
    }

    var summary: String {
        "\(agreed) agree (\(agreedForward) forwarded, \(agreedDrop) dropped), \(disagreements.count) disagree, \(unknowns.count) unknown, \(unreadable.count) unreadable oracle"
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) so a failing packet can be reproduced.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// (ofproto/trace reads `tp_src`/`tp_dst` as TCP ports only, so UDP packets use `udp_src`/`udp_dst`.)
/// Packets that exercise Neutron's tables: ARP, ICMP, TCP, UDP (DHCP, DNS), IPv6 ND and DHCPv6,
/// tagged and untagged, from known and unknown MACs, over every input port, with conntrack
/// states new, established, related, reply and invalid.
enum NeutronPackets {
    static let macs = ["fa:16:3e:a7:45:cb", "fa:16:3e:76:19:dd", "fa:16:3e:87:45:fc", "fa:16:3f:9a:5d:e2", "fa:16:3f:0a:04:80",
                       "fa:16:3e:50:61:70", "fa:16:3e:06:b5:50", "fa:16:3e:e8:64:ce", "52:54:00:bf:b2:60", "fa:16:3e:12:34:56"]
    static let ips = ["192.168.21.18", "192.168.21.4", "192.168.21.1", "192.168.21.2", "203.0.113.10", "169.254.192.62", "0.0.0.0"]
    static let ctStates: [[String]] = [[], ["trk,est"], ["trk,est,rpl"], ["trk,rel"], ["trk,inv"], ["trk,new", "trk,est"]]

    static func generate(inputs: [String: [String]], tunnelPorts: Set<String>, count: Int, seed: UInt64) -> [OraclePacket] {
        var rng = SeededGenerator(state: seed)
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        var out: [OraclePacket] = []
        let bridges = inputs.keys.sorted()
        var i = 0
        while out.count < count {
            let bridge = bridges[i % bridges.count]
            let ports = inputs[bridge]!
            let port = ports[(i / bridges.count) % ports.count]
            i += 1
            var items = ["in_port=\(port)"]
            if tunnelPorts.contains(port) { items.append("tun_id=\(pick(["0x3e9", "0x4d1", "0x999"]))") }
            let kind = Int(rng.next() % 10)
            let src = pick(macs)
            let dst = kind < 2 ? "ff:ff:ff:ff:ff:ff" : pick(macs + ["ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01", "01:00:5e:00:00:12"])
            items.append("dl_src=\(src)")
            items.append("dl_dst=\(dst)")
            if rng.next() % 3 == 0 { items.append("dl_vlan=\(pick([1, 2, 3, 4095, 7]))") }
            switch kind {
            case 0, 1:
                items.insert("arp", at: 1)
                items += ["arp_op=\(pick([1, 2]))", "arp_spa=\(pick(ips))", "arp_tpa=\(pick(ips))"]
            case 2, 3:
                items.insert("icmp", at: 1)
                items += ["nw_src=\(pick(ips))", "nw_dst=\(pick(ips))", "icmp_type=\(pick([0, 8, 3]))"]
            case 4, 5:
                items.insert("tcp", at: 1)
                items += ["nw_src=\(pick(ips))", "nw_dst=\(pick(ips))", "tp_src=\(pick([40000, 22, 443]))", "tp_dst=\(pick([22, 53, 80, 443, 8080]))"]
            case 6:
                items.insert("udp", at: 1)
                let (sp, dp) = pick([(68, 67), (67, 68), (40000, 53), (5353, 5353)])
                items += ["nw_src=\(pick(ips))", "nw_dst=\(pick(ips))", "udp_src=\(sp)", "udp_dst=\(dp)"]
            case 7:
                items.insert("icmp6", at: 1)
                let t = pick([130, 133, 134, 135, 136, 128])
                items += ["ipv6_src=\(pick(["fe80::f816:3eff:fea7:45cb", "fe80::1", "2001:db8::5"]))", "ipv6_dst=ff02::1", "icmpv6_type=\(t)"]
                if t == 135 || t == 136 { items.append("nd_target=\(pick(["fe80::f816:3eff:fea7:45cb", "fe80::2"]))") }
            case 8:
                items.insert("udp6", at: 1)
                let (sp, dp) = pick([(546, 547), (547, 546), (40000, 53)])
                items += ["ipv6_src=\(pick(["fe80::f816:3eff:fea7:45cb", "2001:db8::5"]))", "ipv6_dst=\(pick(["ff02::1:2", "2001:db8::6"]))", "udp_src=\(sp)", "udp_dst=\(dp)"]
            default:
                items.insert("tcp6", at: 1)
                items += ["ipv6_src=\(pick(["fe80::f816:3eff:fea7:45cb", "2001:db8::5"]))", "ipv6_dst=2001:db8::6", "tp_dst=\(pick([22, 80]))"]
            }
            out.append(OraclePacket(bridge: bridge, flow: items.joined(separator: ","), ctNext: pick(ctStates)))
        }
        return out
    }
}
