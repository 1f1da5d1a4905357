import HopscopeModel

/// How a port treats VLANs in NORMAL switching (the Port table's `vlan_mode`, `tag`, `trunks`).
public enum PortVLANMode: String, Hashable, Sendable, Codable {
    case access, trunk, nativeTagged = "native-tagged", nativeUntagged = "native-untagged", dot1qTunnel = "dot1q-tunnel"
}

/// What kind of port an OpenFlow port is, for the evaluator.
public enum BridgePortKind: Hashable, Sendable, Codable {
    /// A system device, internal port or anything else that leaves the switch.
    case device(type: String)
    /// A patch port; packets continue in the bridge that holds the interface named `peer`.
    case patch(peer: String)
    /// A tunnel port (vxlan, gre, geneve, ...).
    case tunnel(TunnelConfiguration)
}

/// A tunnel port's options: where it sends and which key it uses.
public struct TunnelConfiguration: Hashable, Sendable, Codable {
    public var type: String
    /// `options:remote_ip` (an address, or `flow`).
    public var remoteIP: String?
    public var localIP: String?
    /// `options:out_key` or `options:key` (a number, or `flow`); nil is key 0.
    public var outKey: String?

    public init(type: String, remoteIP: String?, localIP: String?, outKey: String?) {
        self.type = type
        self.remoteIP = remoteIP
        self.localIP = localIP
        self.outKey = outKey
    }
}

/// One port of a bridge as the evaluator sees it.
public struct BridgePort: Hashable, Sendable, Codable {
    public var name: String
    public var ofport: UInt32
    public var kind: BridgePortKind
    public var vlanMode: PortVLANMode
    /// Access or native VLAN.
    public var tag: UInt16?
    /// VLANs a trunk carries; empty means all.
    public var trunks: [UInt16]
    /// False when the port has OpenFlow's NO_FLOOD set.
    public var floodable: Bool
    /// False when the port has NO_FWD set (outputs to it are skipped).
    public var forwards: Bool
    /// True for a mirror's output port: NORMAL never sends to it and drops what it receives.
    public var isMirrorOutput: Bool

    public init(name: String, ofport: UInt32, kind: BridgePortKind = .device(type: ""), vlanMode: PortVLANMode = .trunk,
                tag: UInt16? = nil, trunks: [UInt16] = [], floodable: Bool = true, forwards: Bool = true, isMirrorOutput: Bool = false) {
        self.name = name
        self.ofport = ofport
        self.kind = kind
        self.vlanMode = vlanMode
        self.tag = tag
        self.trunks = trunks
        self.floodable = floodable
        self.forwards = forwards
        self.isMirrorOutput = isMirrorOutput
    }

    /// True when NORMAL may send a packet of internal VLAN `vlan` out of this port
    /// (`xbundle_includes_vlan`).
    func includes(vlan: UInt16) -> Bool {
        switch vlanMode {
        case .access: return vlan == (tag ?? 0)
        case .dot1qTunnel: return vlan == (tag ?? 0)
        case .trunk, .nativeTagged, .nativeUntagged: return trunks(vlan: vlan)
        }
    }

    /// `xbundle_trunks_vlan`, with the native-VLAN adjustments OVS makes in `bundle_set`.
    func trunks(vlan: UInt16) -> Bool {
        switch vlanMode {
        case .access: return false
        case .trunk, .dot1qTunnel: return trunks.isEmpty || trunks.contains(vlan)
        case .nativeTagged, .nativeUntagged:
            let native = tag ?? 0
            if native != 0 && (trunks.isEmpty || !trunks.contains(native) || trunks.contains(0)) {
                // OVS forces the native VLAN in and VLAN 0 out of the trunk set.
                if vlan == native { return true }
                if vlan == 0 { return false }
            }
            return trunks.isEmpty || trunks.contains(vlan)
        }
    }
}

/// Everything the evaluator needs about one bridge.
public struct BridgeDescription: Sendable {
    public var name: String
    public var ports: [BridgePort]
    public var flows: [OpenFlowRule]
    public var fdb: [OVSFDBEntry]
    /// `other_config:forward-bpdu`: when false NORMAL drops reserved multicast destinations.
    public var forwardBPDU: Bool
    /// `mcast_snooping_enable`: NORMAL's multicast snooping is not modelled.
    public var multicastSnooping: Bool
    /// Mirrors on the bridge (their copies are not part of the forwarding decision).
    public var mirrorCount: Int

    public init(name: String, ports: [BridgePort], flows: [OpenFlowRule], fdb: [OVSFDBEntry] = [],
                forwardBPDU: Bool = false, multicastSnooping: Bool = false, mirrorCount: Int = 0) {
        self.name = name
        self.ports = ports
        self.flows = flows
        self.fdb = fdb
        self.forwardBPDU = forwardBPDU
        self.multicastSnooping = multicastSnooping
        self.mirrorCount = mirrorCount
    }
}

/// A compiled bridge: ports by OpenFlow number, flows indexed by table, the MAC table.
final class CompiledBridge: Sendable {
    let name: String
    let index: Int
    let rules: [OpenFlowRule]
    /// Per rule, the action program.
    let programs: [[FlowAction]]
    /// Per rule, its raw line (kept apart so evaluation never copies a whole rule).
    let raws: [String]
    let lines: [Int]
    let tables: [Classifier?]
    /// Per table, the highest priority of a flow whose match Hopscope cannot read (or Int.min).
    let unreadablePriority: [Int]
    let unreadableExample: [Int: Int]
    let ports: [UInt32: BridgePort]
    let portOrder: [UInt32]
    let portsByName: [String: UInt32]
    /// (vlan << 48 | mac) -> OpenFlow port.
    let fdb: [UInt64: UInt32]
    let forwardBPDU: Bool
    let multicastSnooping: Bool
    let mirrorCount: Int
    /// `br-int table 0` style labels, made once so evaluation does no string work.
    let tableLabels: [String]
    /// Resolved patch peers: ofport -> (bridge index, peer ofport).
    var patchPeers: [UInt32: (bridge: Int, ofport: UInt32)] { patchPeerStorage.value }
    let patchPeerStorage: PatchPeerBox

    init(_ d: BridgeDescription, index: Int) throws {
        name = d.name
        self.index = index
        rules = d.flows
        var ports: [UInt32: BridgePort] = [:]
        var byName: [String: UInt32] = [:]
        for p in d.ports {
            ports[p.ofport] = p
            byName[p.name] = p.ofport
        }
        self.ports = ports
        portOrder = d.ports.map(\.ofport)
        portsByName = byName
        var fdb: [UInt64: UInt32] = [:]
        for e in d.fdb { fdb[UInt64(e.vlan & 0xFFF) << 48 | e.mac.value] = UInt32(e.port) }
        self.fdb = fdb
        forwardBPDU = d.forwardBPDU
        multicastSnooping = d.multicastSnooping
        mirrorCount = d.mirrorCount
        tableLabels = (0..<256).map { "\(d.name) table \($0)" }
        patchPeerStorage = PatchPeerBox()

        var perTable: [[(ruleIndex: Int, priority: Int, conjunctions: [(id: UInt32, clause: Int, clauses: Int)],
                         match: [(slot: Int, mask: UInt64, value: UInt64)])]] = Array(repeating: [], count: 256)
        var unreadable = Array(repeating: Int.min, count: 256)
        var unreadableExample: [Int: Int] = [:]
        var programs: [[FlowAction]] = []
        for (i, rule) in d.flows.enumerated() {
            programs.append(rule.actions)
            guard let match = CompiledBridge.compileMatch(rule, portsByName: byName) else {
                if rule.priority > unreadable[rule.table] {
                    unreadable[rule.table] = rule.priority
                    unreadableExample[rule.table] = i
                }
                continue
            }
            var conj: [(id: UInt32, clause: Int, clauses: Int)] = []
            for a in rule.actions {
                if case .conjunction(let id, let k, let n) = a.kind { conj.append((id, k - 1, n)) }
            }
            perTable[rule.table].append((i, rule.priority, conj, match))
        }
        self.programs = programs
        raws = d.flows.map(\.raw)
        lines = d.flows.map(\.line)
        tables = perTable.map { $0.isEmpty ? nil : Classifier(rules: $0) }
        unreadablePriority = unreadable
        self.unreadableExample = unreadableExample
    }

    /// The (slot, mask, value) triples of a flow's match, or nil when it uses something the
    /// evaluator cannot read (an unknown field, a port name the bridge does not have).
    static func compileMatch(_ rule: OpenFlowRule, portsByName: [String: UInt32]) -> [(slot: Int, mask: UInt64, value: UInt64)]? {
        var bySlot: [Int: (mask: UInt64, value: UInt64)] = [:]
        func add(_ slot: PacketSlot, _ mask: UInt64, _ value: UInt64) {
            let old = bySlot[slot.rawValue] ?? (0, 0)
            bySlot[slot.rawValue] = (old.mask | mask, (old.value & ~mask) | (value & mask))
        }
        for item in rule.match {
            switch item.kind {
            case .priority, .table: continue
            case .unknown: return nil
            case .shorthand(let s):
                if let t = s.ethType { add(.ethType, 0xFFFF, UInt64(t)) }
                if let p = s.ipProtocol { add(.nwProto, 0xFF, UInt64(p)) }
            case .field(let field):
                var value = item.value
                if let name = item.portName {
                    guard let n = portsByName[name] else { return nil }
                    value = Bits128(low: UInt64(n))
                }
                let d = field.descriptor
                switch d.matchKind {
                case .dlVlan:
                    if value.low == 0xFFFF {
                        add(.vlanTCI, 0xFFFF, 0)
                    } else {
                        add(.vlanTCI, 0x1FFF, 0x1000 | (value.low & 0xFFF))
                    }
                    continue
                case .dlVlanPcp:
                    add(.vlanTCI, 0xF000, 0x1000 | (value.low & 7) << 13)
                    continue
                case .plain: break
                }
                var mask = (item.mask ?? .ones(d.width)) & .ones(d.width)
                if let m = d.matchableMask { mask = mask & m }
                var shift = d.width
                for p in d.parts {
                    shift -= p.bits
                    let pm = ((mask >> shift) & .ones(p.bits)).low
                    let pv = ((value >> shift) & .ones(p.bits)).low
                    if pm == 0 { continue }
                    add(p.slot, p.bits == 64 ? pm : pm << UInt64(p.offset), p.bits == 64 ? pv : pv << UInt64(p.offset))
                }
            }
        }
        return bySlot.map { (slot: $0.key, mask: $0.value.mask, value: $0.value.value) }
    }
}

/// Patch peers are resolved after every bridge is compiled; the box lets a `Sendable` bridge hold
/// them. Written once while the model is built, before it is shared.
final class PatchPeerBox: @unchecked Sendable {
    var value: [UInt32: (bridge: Int, ofport: UInt32)] = [:]
}

/// The OpenFlow evaluator's model of one Open vSwitch instance: every bridge's ports and flows,
/// compiled for fast lookup, with patch ports joined.
///
/// Build it once from collected state (`init(bridges:)` or `init(database:openFlow:)`), then call
/// `trace(bridge:packet:conntrack:)` as often as needed. Immutable after init and `Sendable`:
/// traces may run concurrently.
public final class OpenFlowModel: Sendable {
    let bridges: [CompiledBridge]
    let bridgeIndex: [String: Int]

    /// Compiles bridge descriptions. Patch ports are joined to the bridge holding their peer.
    public init(bridges descriptions: [BridgeDescription]) throws {
        var compiled: [CompiledBridge] = []
        var index: [String: Int] = [:]
        for (i, d) in descriptions.enumerated() {
            compiled.append(try CompiledBridge(d, index: i))
            index[d.name] = i
        }
        var owner: [String: (bridge: Int, ofport: UInt32)] = [:]
        for b in compiled { for (n, p) in b.portsByName { owner[n] = (b.index, p) } }
        for b in compiled {
            for (ofport, port) in b.ports {
                if case .patch(let peer) = port.kind, let target = owner[peer] {
                    b.patchPeerStorage.value[ofport] = target
                }
            }
        }
        bridges = compiled
        bridgeIndex = index
    }

    /// Builds the model from an OVSDB read and the per-bridge OpenFlow state (flow dumps, ports,
    /// MAC tables). Throws `FlowParseError` for a dump that cannot be read.
    public convenience init(database: OVSDatabase, openFlow: [OVSBridgeOpenFlow]) throws {
        var descriptions: [BridgeDescription] = []
        let mirrorOutputs = Set(database.mirrors.compactMap(\.outputPort))
        for bridge in database.bridges.sorted(by: { $0.name < $1.name }) {
            let of = openFlow.first { $0.bridge == bridge.name }
            let flows = try of.map { try FlowDump(parsing: $0.flowDump).flows } ?? []
            var ports: [BridgePort] = []
            for port in database.ports(of: bridge) {
                let ifaces = database.interfaces(of: port)
                guard let iface = ifaces.first else { continue }
                let ofctl = of?.ports.first { $0.name == iface.name }
                guard let number = ofctl?.number ?? iface.ofport, number >= 0 else { continue }
                let kind: BridgePortKind
                if iface.isPatch {
                    kind = .patch(peer: iface.options["peer"] ?? "")
                } else if iface.isTunnel {
                    kind = .tunnel(TunnelConfiguration(type: iface.type, remoteIP: iface.options["remote_ip"],
                                                       localIP: iface.options["local_ip"],
                                                       outKey: iface.options["out_key"] ?? iface.options["key"]))
                } else {
                    kind = .device(type: iface.type)
                }
                let mode: PortVLANMode
                if let m = port.vlanMode, let parsed = PortVLANMode(rawValue: m) {
                    mode = parsed
                } else {
                    mode = port.tag != nil ? .access : .trunk
                }
                ports.append(BridgePort(
                    name: port.name == iface.name ? port.name : iface.name, ofport: UInt32(number), kind: kind, vlanMode: mode,
                    tag: port.tag.map { UInt16(clamping: $0) }, trunks: port.trunks.map { UInt16(clamping: $0) },
                    floodable: !(ofctl?.config.contains("NO_FLOOD") ?? false),
                    forwards: !(ofctl?.config.contains("NO_FWD") ?? false),
                    isMirrorOutput: mirrorOutputs.contains(port.uuid)))
            }
            descriptions.append(BridgeDescription(
                name: bridge.name, ports: ports, flows: flows, fdb: of?.fdb ?? [],
                forwardBPDU: bridge.otherConfig["forward-bpdu"] == "true",
                multicastSnooping: bridge.otherConfig["mcast-snooping-enable"] == "true",
                mirrorCount: bridge.mirrors.count))
        }
        try self.init(bridges: descriptions)
    }

    public var bridgeNames: [String] { bridges.map(\.name) }

    /// The port names of a bridge with their OpenFlow numbers.
    public func ports(of bridge: String) -> [BridgePort] {
        guard let b = bridgeIndex[bridge].map({ bridges[$0] }) else { return [] }
        return b.portOrder.compactMap { b.ports[$0] }
    }
}
