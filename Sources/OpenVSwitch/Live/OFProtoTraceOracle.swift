import HopscopeModel

/// Reads `ovs-appctl ofproto/trace` output as an oracle: every `Datapath actions:` line (one per
/// recirculation pass) turned into the ports, VLANs and tunnels a packet leaves with, in the same
/// terms as `OpenFlowOutput`, so the evaluator can be compared with OVS itself.
public enum OFProtoTraceOracle {
    /// One output, comparable between OVS and Hopscope: `port NAME vlan V`, `tunnel DST vni N
    /// vlan V`, or `controller`. Tunnels are named by endpoint and key because all VXLAN ports
    /// share one datapath port.
    public struct Output: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var text: String
        public var description: String { text }
        public static func < (a: Output, b: Output) -> Bool { a.text < b.text }

        static func port(_ name: String, vlan: UInt16?) -> Output { Output(text: "port \(name) vlan \(vlan.map(String.init) ?? "-")") }
        static func tunnel(remote: String, key: UInt64, vlan: UInt16?) -> Output {
            Output(text: "tunnel \(remote) vni 0x\(String(key, radix: 16)) vlan \(vlan.map(String.init) ?? "-")")
        }
        static let controller = Output(text: "controller")

        /// The same form for one of Hopscope's outputs.
        public init(_ o: OpenFlowOutput) {
            switch o.kind {
            case .port: self = .port(o.port, vlan: o.vlan)
            case .tunnel: self = .tunnel(remote: o.tunnel!.remoteIP, key: o.tunnel!.tunnelID, vlan: o.vlan)
            case .controller: self = .controller
            }
        }
        init(text: String) { self.text = text }
    }

    /// Datapath port number -> (bridge, port name), from `ovs-appctl dpif/show`.
    public static func datapathPorts(dpifShow: String) -> [UInt32: (bridge: String, port: String)] {
        var out: [UInt32: (String, String)] = [:]
        var bridge = ""
        for raw in dpifShow.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if raw.hasPrefix("  ") && !raw.hasPrefix("    ") && line.hasSuffix(":") {
                bridge = String(line.dropLast())
                continue
            }
            // `    NAME OFPORT/DPPORT: (type...)`
            guard raw.hasPrefix("    "), let colon = line.firstIndex(of: ":") else { continue }
            let head = line[..<colon].split(separator: " ")
            guard head.count == 2, let slash = head[1].firstIndex(of: "/"), let dp = UInt32(head[1][head[1].index(after: slash)...]) else { continue }
            out[dp] = (bridge, String(head[0]))
        }
        return out
    }

    /// What the trace says the packet does: its outputs (ignoring those into `underlayBridges`,
    /// which carry tunnel packets after `tnl_push`), and any datapath action this reader does not
    /// understand (which makes the comparison unreliable).
    public static func outputs(trace: String, ports: [UInt32: (bridge: String, port: String)],
                               underlayBridges: Set<String>) -> (outputs: [Output], unreadable: [String]) {
        var outs: [Output] = []
        var unreadable: [String] = []
        // Each pass starts with a `Flow:` line giving the packet as it enters, tags included.
        var entering: [UInt16] = []
        for line in trace.split(separator: "\n") {
            if line.hasPrefix("Flow: ") {
                entering = []
                if let r = line.range(of: ",dl_vlan=") ?? line.range(of: " dl_vlan=") {
                    entering = [UInt16(line[r.upperBound...].prefix { $0.isNumber }) ?? 0]
                }
            } else if line.hasPrefix("Datapath actions:") {
                let actions = line.dropFirst("Datapath actions:".count).trimmingCharacters(in: .whitespaces)
                var vlans = entering
                walk(actions, vlans: &vlans, ports: ports, underlay: underlayBridges, outs: &outs, unreadable: &unreadable)
            }
        }
        return (outs.sorted(), unreadable)
    }

    static func split(_ s: Substring) -> [Substring] {
        var out: [Substring] = []
        var depth = 0
        var start = s.startIndex
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 } else if c == "," && depth == 0 {
                out.append(s[start..<i])
                start = s.index(after: i)
            }
            i = s.index(after: i)
        }
        if start < s.endIndex { out.append(s[start..<s.endIndex]) }
        return out
    }

    static func walk(_ actions: String, vlans: inout [UInt16], ports: [UInt32: (bridge: String, port: String)], underlay: Set<String>,
                     outs: inout [Output], unreadable: inout [String]) {
        for a in split(Substring(actions)) {
            let action = a.trimmingCharacters(in: .whitespaces)
            if let n = UInt32(action) {
                guard let p = ports[n] else { unreadable.append("output to unknown datapath port \(n)"); continue }
                if underlay.contains(p.bridge) { continue }
                outs.append(.port(p.port, vlan: vlans.last))
            } else if action.hasPrefix("push_vlan(") {
                let vid = action.split(separator: "vid=").dropFirst().first.flatMap { UInt16($0.prefix { $0.isNumber }) } ?? 0
                vlans.append(vid)
            } else if action == "pop_vlan" {
                _ = vlans.popLast()
            } else if action.hasPrefix("tnl_push(") {
                let vni = action.range(of: "vni=0x").map { UInt64(action[$0.upperBound...].prefix { $0.isHexDigit }, radix: 16) ?? 0 } ?? 0
                var dst = "?"
                if let ip = action.range(of: "ipv4(") ?? action.range(of: "ipv6("), let d = action[ip.upperBound...].range(of: "dst=") {
                    dst = String(action[d.upperBound...].prefix { $0 != "," && $0 != ")" })
                }
                outs.append(.tunnel(remote: dst, key: vni, vlan: vlans.last))
            } else if action.hasPrefix("clone(") {
                var inner = vlans
                walk(String(action.dropFirst(6).dropLast()), vlans: &inner, ports: ports, underlay: underlay, outs: &outs, unreadable: &unreadable)
            } else if action.hasPrefix("userspace(") {
                if action.contains("controller(") { outs.append(.controller) } else { unreadable.append(action) }
            } else if action == "drop" || action.hasPrefix("ct(") || action.hasPrefix("recirc(") || action.hasPrefix("set(")
                        || action.hasPrefix("ct_clear") || action.hasPrefix("hash(") || action.hasPrefix("meter(") {
                continue
            } else {
                unreadable.append(action)
            }
        }
    }

    /// The bridges tunnel packets go out through (`-> tunneling to X via BRIDGE`).
    public static func underlayBridges(trace: String) -> Set<String> {
        var out = Set<String>()
        for line in trace.split(separator: "\n") {
            if let r = line.range(of: "-> tunneling to "), let via = line[r.upperBound...].range(of: " via ") {
                out.insert(String(line[via.upperBound...]).trimmingCharacters(in: .whitespaces))
            }
        }
        return out
    }
}
