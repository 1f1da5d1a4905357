import HopscopeModel
import PathTrace
import Topology

/// OVS_FLOW_DROP: a walk stops in an Open vSwitch bridge: a flow whose actions drop the packet,
/// or a table where no flow matches. The finding names the bridge, table and flow; a more
/// specific check (dead VLAN, wrong tag, broken patch) says why when it can.
public struct OVSFlowDropCheck: DiagnosisCheck {
    public let code = DiagnosisCode.ovsFlowDrop
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            guard s.dropped, s.hop.decision.isDrop, s.hop.role.hasPrefix("OVS bridge"), let bridge = s.hop.device else { return nil }
            let flows = s.hop.evidence.filter { $0.kind == .flow }
            let last = flows.last
            let miss = last?.text == "(no flow matches)"
            let table = last.map { $0.source.split(separator: " ").last.map(String.init) ?? "?" } ?? "?"
            let si = c.switchIndex(of: s.hop)
            let ovs = { (cmd: String) in si.map { c.ovsCommand($0, cmd) } ?? cmd }
            let match = s.hop.packet.description
            let what = miss ? "no flow of \(bridge) table \(table) matches it (table miss)" : "\(bridge) table \(table) drops it: \(last?.text ?? s.hop.summary)"
            return Finding(
                code: code, title: "\(s.hop.packet.shortText): \(what) on \(s.hop.node)", relevance: .mechanism,
                location: c.location(walk: s.walk, hop: s.hop),
                headline: "the packet is dropped on \(s.hop.node) in \(bridge): \(s.hop.summary)",
                evidence: flows.isEmpty ? s.hop.evidence : flows,
                advice: Advice(summary: miss ? "the flow the agent should have written for this traffic is missing: restart or resync the Open vSwitch agent on \(s.hop.node)"
                                             : "find why the agent wrote this drop flow (a dead port, port security, a missing network on the node)",
                               confirm: [ovs("ovs-ofctl dump-flows \(bridge) table=\(table)"),
                                         ovs("ovs-appctl ofproto/trace \(bridge) '\(match)'")],
                               fix: ["systemctl restart neutron-openvswitch-agent   # on \(s.hop.node): the agent rewrites its flows"]))
        }
    }
}
