import HopscopeModel

/// One OpenFlow flow as `ovs-ofctl dump-flows` (or `ovs-appctl bridge/dump-flows`) prints it:
/// counters, table, priority, typed match items and typed actions, with the raw line and its line
/// number kept.
///
/// Every piece keeps the exact text it was read from, so `reconstructedText == raw` for every
/// line the parser accepts: nothing is dropped, and whatever Hopscope does not model stays as an
/// opaque match item or action (which makes an evaluation `unknown`, never a guess).
public struct OpenFlowRule: Hashable, Sendable, Codable {
    /// The line exactly as printed.
    public var raw: String
    /// 1-based line number in the dump it came from.
    public var line: Int
    public var cookie: UInt64
    public var table: Int
    public var priority: Int
    public var packets: UInt64?
    public var bytes: UInt64?
    public var idleTimeout: Int?
    public var hardTimeout: Int?
    /// Counters and options before the match (`cookie=0x0`, `duration=1.2s`, `reset_counts`), in order.
    public var header: [HeaderItem]
    public var match: [MatchItem]
    public var actions: [FlowAction]
    /// Whitespace before the first item (ovs-ofctl indents flows by one space).
    public var indentation: String
    /// What separates the match from `actions=`: a space, a comma (bridge/dump-flows), or nothing.
    public var actionsSeparator: String

    /// OVS's default priority when a flow does not give one.
    public static let defaultPriority = 32768

    public struct HeaderItem: Hashable, Sendable, Codable {
        /// `key=value` or a flag word, as written.
        public var text: String
        /// The separator that followed it (`, `, `,  ` or ` `).
        public var separator: String
        public var key: String { text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text }
        public var value: String? {
            let parts = text.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? String(parts[1]) : nil
        }
    }

    /// The line rebuilt from its parts; equals `raw` for every parsed line.
    public var reconstructedText: String {
        var s = indentation
        for h in header { s += h.text + h.separator }
        s += match.map(\.text).joined(separator: ",")
        s += actionsSeparator + "actions=" + actions.map(\.text).joined(separator: ",")
        return s
    }

    /// The match as text (`priority=…` excluded), or `(any)` for a flow that matches everything.
    public var matchText: String {
        let items = match.filter {
            switch $0.kind {
            case .priority, .table: false
            default: true
            }
        }.map(\.text)
        return items.isEmpty ? "(any)" : items.joined(separator: ",")
    }
    public var actionsText: String { actions.map(\.text).joined(separator: ",") }

    /// True when every match item and action is one Hopscope models.
    public var isFullyModelled: Bool {
        !match.contains { if case .unknown = $0.kind { true } else { false } }
            && !actions.contains { $0.containsOpaque }
    }
}

/// One item of a flow's match: a protocol shorthand (`tcp`), the priority, a field (`reg5=0x9`,
/// `nw_src=10.0.0.0/24`) or something Hopscope does not model (kept as text).
public struct MatchItem: Hashable, Sendable, Codable {
    public enum Kind: Hashable, Sendable, Codable {
        case shorthand(ProtocolShorthand)
        case priority(Int)
        /// `table=N` written inside the match, as `ovs-ofctl add-flow` syntax allows.
        case table(Int)
        case field(FlowField)
        /// A field or shorthand Hopscope does not model; a table holding it evaluates to unknown.
        case unknown
    }
    public var kind: Kind
    /// Exactly as written (`reg5=0x9`, `ip`, `in_port="tap1"`).
    public var text: String
    /// The value (for `.field`); for ports given by name, 0 until resolved against the bridge.
    public var value: Bits128
    /// The mask; nil for an exact match.
    public var mask: Bits128?
    /// For port fields written as a name (`in_port="tap1"`), the name.
    public var portName: String?

    public init(kind: Kind, text: String, value: Bits128 = .zero, mask: Bits128? = nil, portName: String? = nil) {
        self.kind = kind
        self.text = text
        self.value = value
        self.mask = mask
        self.portName = portName
    }
}

/// An OpenFlow port as actions and matches name it: a number, a name, or a reserved port.
public enum PortReference: Hashable, Sendable, Codable, CustomStringConvertible {
    case number(UInt32)
    case name(String)
    case reserved(ReservedPort)

    public var description: String {
        switch self {
        case .number(let n): String(n)
        case .name(let n): n
        case .reserved(let r): r.rawValue
        }
    }
}

/// OpenFlow's reserved ports with OVS's 16-bit numbers.
public enum ReservedPort: String, Sendable, Codable, CaseIterable {
    case inPort = "IN_PORT", table = "TABLE", normal = "NORMAL", flood = "FLOOD", all = "ALL"
    case controller = "CONTROLLER", local = "LOCAL", none = "NONE", unset = "UNSET"

    public var number: UInt32 {
        switch self {
        case .unset: 0xfff7
        case .inPort: 0xfff8
        case .table: 0xfff9
        case .normal: 0xfffa
        case .flood: 0xfffb
        case .all: 0xfffc
        case .controller: 0xfffd
        case .local: 0xfffe
        case .none: 0xffff
        }
    }
    public init?(number: UInt32) {
        guard let r = ReservedPort.allCases.first(where: { $0.number == number }) else { return nil }
        self = r
    }
}

/// A field or a bit range of one, as actions write it: `NXM_NX_REG6[0..15]`, `NXM_NX_TUN_ID[]`,
/// `reg0[5]`. Bits are counted from 0 (least significant); `end` is inclusive.
public struct FieldReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public var field: FlowField
    public var start: Int
    public var end: Int
    public var width: Int { end - start + 1 }
    public init(field: FlowField, start: Int = 0, end: Int? = nil) {
        self.field = field
        self.start = start
        self.end = end ?? field.width - 1
    }
    public var description: String {
        start == 0 && end == field.width - 1 ? "\(field.name)[]" : (start == end ? "\(field.name)[\(start)]" : "\(field.name)[\(start)..\(end)]")
    }
}

/// One action, typed, with the text it was read from.
public struct FlowAction: Hashable, Sendable, Codable {
    public var kind: FlowActionKind
    public var text: String

    public init(_ kind: FlowActionKind, text: String) {
        self.kind = kind
        self.text = text
    }

    /// True when this action, or one nested in it, is opaque to Hopscope.
    public var containsOpaque: Bool {
        switch kind {
        case .opaque: true
        case .clone(let nested): nested.contains { $0.containsOpaque }
        case .conntrack(let ct): ct.unmodelled != nil || ct.execute.contains { $0.containsOpaque }
        case .learn(let l): l.unmodelled != nil
        default: false
        }
    }
}

/// What an action does (ovs-actions(7)). Anything not listed is `.opaque` with the reason.
public indirect enum FlowActionKind: Hashable, Sendable, Codable {
    /// `output:PORT`, `PORT`, or a reserved port (`NORMAL`, `IN_PORT`, `LOCAL`, `FLOOD`, `ALL`).
    case output(PortReference)
    /// `output:FIELD[]`: to the port number held in a field.
    case outputField(FieldReference)
    /// `CONTROLLER:LEN` or `controller(...)`: a packet-in to the OpenFlow controller.
    case controller
    case drop
    /// `resubmit(PORT,TABLE[,ct])`, `resubmit:PORT`. A nil table is the current table.
    case resubmit(port: PortReference?, table: Int?, ct: Bool)
    case gotoTable(Int)
    case modVlanVid(UInt16)
    case modVlanPcp(UInt8)
    case stripVlan
    case pushVlan(UInt16)
    case setField(field: FlowField, value: Bits128, mask: Bits128?)
    case load(value: Bits128, destination: FieldReference)
    case move(source: FieldReference, destination: FieldReference)
    case setTunnel(UInt64)
    case modDataLinkSource(MACAddress)
    case modDataLinkDestination(MACAddress)
    case modNetworkSource(IPv4Address)
    case modNetworkDestination(IPv4Address)
    case modTransportSource(UInt16)
    case modTransportDestination(UInt16)
    case modNetworkTOS(UInt8)
    case decrementTTL
    case learn(LearnAction)
    case conntrack(ConntrackAction)
    case conntrackClear
    /// `conjunction(ID,CLAUSE/N)` with CLAUSE counted from 1 as written.
    case conjunction(id: UInt32, clause: Int, clauses: Int)
    case note
    case setQueue
    case popQueue
    case writeMetadata(value: UInt64, mask: UInt64)
    case clone([FlowAction])
    case exit
    /// An action Hopscope does not model; evaluating it makes the verdict `unknown`.
    case opaque(reason: String)
}

/// `learn(...)`: the flow it would add, in terms of the packet that runs it.
public struct LearnAction: Hashable, Sendable, Codable {
    public var table: Int = 1
    public var priority: Int = OpenFlowRule.defaultPriority
    public var idleTimeout: Int?
    public var hardTimeout: Int?
    public var cookie: UInt64 = 0
    public var specs: [Spec] = []
    /// Set when an argument could not be read; the learn action is then opaque.
    public var unmodelled: String?

    public enum Spec: Hashable, Sendable, Codable {
        /// `FIELD[range]`: match the learned flow's field on this packet's value of it.
        case matchSame(FieldReference)
        /// `DST[range]=SRC[range]`: match DST on this packet's SRC.
        case matchField(destination: FieldReference, source: FieldReference)
        /// `DST[range]=VALUE` or `field=value`.
        case matchValue(destination: FieldReference, value: Bits128)
        /// `load:SRC[range]->DST[range]`.
        case loadField(source: FieldReference, destination: FieldReference)
        /// `load:VALUE->DST[range]`.
        case loadValue(value: Bits128, destination: FieldReference)
        /// `output:SRC[range]`.
        case output(FieldReference)
    }
}

/// `ct(...)`: send the packet through connection tracking.
public struct ConntrackAction: Hashable, Sendable, Codable {
    public var commit = false
    public var force = false
    /// Recirculate to this table after tracking (the packet resumes there with ct_state set).
    public var table: Int?
    public var zone: Zone?
    public var execute: [FlowAction] = []
    public var nat: String?
    public var alg: String?
    /// Set when the action uses something the evaluator does not model (NAT, unknown arguments).
    public var unmodelled: String?

    public enum Zone: Hashable, Sendable, Codable {
        case value(UInt16)
        case field(FieldReference)
    }
}
