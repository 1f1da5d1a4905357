import HopscopeModel

/// Where a packet leaves the switch: a port, with the VLAN tag it carries, or a tunnel with its
/// key and endpoint, or the controller.
public struct OpenFlowOutput: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable { case port, tunnel, controller }
    public var kind: Kind
    public var bridge: String
    public var port: String
    public var ofport: UInt32
    /// The 802.1Q VLAN ID the packet leaves with (nil: untagged).
    public var vlan: UInt16?
    public var tunnel: TunnelOutput?

    public var description: String {
        switch kind {
        case .controller: return "\(bridge): CONTROLLER"
        case .tunnel:
            let t = tunnel!
            return "\(bridge) \(port) (\(t.type) tun_id=0x\(String(t.tunnelID, radix: 16)) to \(t.remoteIP)\(t.localIP.map { " from \($0)" } ?? ""))" + (vlan.map { " vlan \($0)" } ?? "")
        case .port: return "\(bridge) \(port)" + (vlan.map { " vlan \($0)" } ?? " untagged")
        }
    }
}

/// The tunnel a packet leaves through.
public struct TunnelOutput: Hashable, Sendable, Codable {
    public var type: String
    public var tunnelID: UInt64
    public var remoteIP: String
    public var localIP: String?
}

/// One step of an evaluation, in order: a matched flow, a table miss, a NORMAL decision, a patch
/// port crossing, a recirculation after ct(), or a note.
public struct TraceStep: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case flow, tableMiss, normal, patch, output, recirculation, learn, drop, unknown
    }
    public var kind: Kind
    public var bridge: String
    public var table: Int?
    public var priority: Int?
    /// The flow's raw line (for `.flow`).
    public var flow: String?
    /// Line of the flow in its dump.
    public var line: Int?
    /// How deep in resubmits/patches this step happened (0 at the top).
    public var depth: Int
    public var note: String?
}

/// Why an evaluation produced no output, as precisely as the evaluator can say.
public struct DropCause: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// A flow whose actions are `drop` (or empty).
        case dropFlow
        /// No flow matched in a table.
        case tableMiss
        /// NORMAL switching dropped it (VLAN not allowed, learned on the input port, ...).
        case normal
        /// An output went nowhere (to the input port, a missing port, a patch without peer).
        case output
    }
    public var kind: Kind
    public var bridge: String
    public var table: Int?
    public var flow: String?
    public var reason: String
    public var description: String {
        switch kind {
        case .dropFlow: "\(bridge) table \(table ?? 0): flow drops it: \(flow ?? "")"
        case .tableMiss: "\(bridge) table \(table ?? 0): no flow matches (table miss)"
        case .normal, .output: "\(bridge): \(reason)"
        }
    }
}

/// The result of evaluating one packet: the outputs, the ordered steps (matched flows first of
/// all), and a three-valued `Decision`.
///
/// `decision` is `forward(to:)` with output port names, `drop`, or `unknown(reason:)` when any
/// step used something the evaluator does not model (the outputs found are still listed).
public struct OpenFlowTrace: Sendable, Codable {
    public var bridge: String
    public var packet: PacketKey
    public var outputs: [OpenFlowOutput]
    public var steps: [TraceStep]
    public var dropCauses: [DropCause]
    /// Copies that went nowhere while others were output (a patch port without peer, a flooded
    /// copy dropped by a flow of the peer bridge): empty when `dropCauses` explains a drop.
    public var skippedOutputs: [DropCause] = []
    public var unknownReasons: [String]
    /// Flows learn() actions would add (text as `ovs-ofctl add-flow` takes it); not applied.
    public var learnedFlows: [String]

    public var decision: Decision {
        if let first = unknownReasons.first {
            return .unknown(reason: unknownReasons.count == 1 ? first : "\(first) (and \(unknownReasons.count - 1) more)")
        }
        if outputs.isEmpty { return .drop }
        var names: [String] = []
        for o in outputs {
            let n = o.kind == .controller ? "CONTROLLER" : o.port
            if !names.contains(n) { names.append(n) }
        }
        return .forward(to: names)
    }

    /// The matched flows and other decisive facts, in order, as evidence.
    public var evidence: [Evidence] { Self.evidence(of: steps) }

    /// Evidence for some steps of a trace (the path walk splits a trace by bridge).
    public static func evidence(of steps: [TraceStep]) -> [Evidence] {
        steps.compactMap { s in
            switch s.kind {
            case .flow:
                return Evidence(kind: .flow, source: "\(s.bridge) table \(s.table ?? 0)", text: s.flow ?? "",
                                note: s.priority.map { "priority \($0)" + (s.note.map { "; \($0)" } ?? "") })
            case .tableMiss:
                return Evidence(kind: .flow, source: "\(s.bridge) table \(s.table ?? 0)", text: "(no flow matches)", note: s.note)
            case .normal, .drop, .unknown, .patch, .recirculation:
                return Evidence(kind: .note, source: s.bridge, text: s.note ?? s.kind.rawValue)
            case .output, .learn:
                return nil
            }
        }
    }
}

/// Connection-tracking states to assume, one per ct() recirculation in order (like
/// `ofproto/trace --ct-next`). When they run out, `trk|new` is used: a new connection.
public struct ConntrackInput: Hashable, Sendable, Codable {
    public var states: [UInt32]
    public init(states: [UInt32] = []) { self.states = states }
    public static let newConnection = ConntrackInput()
    /// `trk|new`, what ofproto/trace assumes by default.
    public static let defaultState: UInt32 = 0x21
}
