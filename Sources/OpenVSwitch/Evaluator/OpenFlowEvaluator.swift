import HopscopeModel

extension OpenFlowModel {
    /// Evaluates what `bridge` does with `packet` (in ofproto/trace flow syntax, `in_port` naming a
    /// port of that bridge) the way `ovs-vswitchd`'s translation does: tables by priority, masks,
    /// resubmit/goto_table, registers and metadata, actions in order, patch ports into the peer
    /// bridge, NORMAL switching with port VLANs and the MAC table, tunnel outputs, ct() with
    /// recirculation (states from `conntrack`, `trk|new` by default), learn() reported but not
    /// applied, conjunctive matches.
    ///
    /// Never throws for what the flows do: anything not modelled makes the decision `unknown`
    /// with the reason. Throws `PacketKeyError` when the bridge or in_port does not exist or the
    /// packet uses a field the evaluator does not model.
    public func trace(bridge: String, packet: PacketKey, conntrack: ConntrackInput = .newConnection) throws -> OpenFlowTrace {
        guard let bi = bridgeIndex[bridge] else {
            throw PacketKeyError(message: "no bridge named \(bridge) (bridges: \(bridgeNames.joined(separator: ", ")))")
        }
        let b = bridges[bi]
        let state = try PacketState(packet) { name in
            if let n = UInt32(name) { return n }
            if let r = ReservedPort(rawValue: name) { return r.number }
            return b.portsByName[name]
        }
        var x = Translation(model: self, conntrack: conntrack.states)
        x.originalTunnelDestination = state[.tunnelDst]
        x.run(bridge: bi, state: state, table: 0)
        var recirculations = 0
        while !x.pending.isEmpty {
            recirculations += 1
            if recirculations > Translation.maxRecirculations {
                x.unknown("more than \(Translation.maxRecirculations) ct() recirculations", bridge: bi)
                break
            }
            var r = x.pending.removeFirst()
            let ctState = x.nextConntrackState()
            r.state[.ctState] = UInt64(ctState)
            r.state[.ctZone] = UInt64(r.zone)
            x.steps.append(TraceStep(kind: .recirculation, bridge: bridges[r.bridge].name, table: r.table, depth: 0,
                                     note: "recirculated after ct() with ct_state=\(ConntrackState.format(ctState)), ct_zone=\(r.zone), resuming at table \(r.table)"))
            x.run(bridge: r.bridge, state: r.state, table: r.table)
        }
        var result = OpenFlowTrace(bridge: bridge, packet: packet, outputs: x.outputs, steps: x.steps,
                                   dropCauses: x.outputs.isEmpty ? x.dropCauses : [], unknownReasons: x.unknownReasons,
                                   learnedFlows: x.learned)
        if !x.outputs.isEmpty { result.skippedOutputs = x.dropCauses }
        return result
    }
}

/// One translation in progress (the evaluator's `xlate_ctx`). Not shared: one per trace.
struct Translation {
    static let maxDepth = 64
    static let maxResubmits = 4096
    static let maxRecirculations = 32

    struct Recirculation {
        var bridge: Int
        var table: Int
        var state: PacketState
        var zone: UInt16
    }

    let model: OpenFlowModel
    var conntrackStates: [UInt32]
    var conntrackUsed = 0
    var state = PacketState()
    var bridge = 0
    var table = 0
    var depth = 0
    var resubmits = 0
    var exitRequested = false
    var originalTunnelDestination: UInt64 = 0

    var outputs: [OpenFlowOutput] = []
    var steps: [TraceStep] = []
    var dropCauses: [DropCause] = []
    var unknownReasons: [String] = []
    var learned: [String] = []
    var pending: [Recirculation] = []

    init(model: OpenFlowModel, conntrack: [UInt32]) {
        self.model = model
        self.conntrackStates = conntrack
        steps.reserveCapacity(16)
    }

    var b: CompiledBridge { model.bridges[bridge] }

    mutating func nextConntrackState() -> UInt32 {
        defer { conntrackUsed += 1 }
        return conntrackUsed < conntrackStates.count ? conntrackStates[conntrackUsed] : ConntrackInput.defaultState
    }

    mutating func unknown(_ reason: String, bridge: Int) {
        if !unknownReasons.contains(reason) { unknownReasons.append(reason) }
        steps.append(TraceStep(kind: .unknown, bridge: model.bridges[bridge].name, table: table, depth: depth, note: reason))
    }

    mutating func dropped(_ kind: DropCause.Kind, reason: String, flow: String? = nil) {
        dropCauses.append(DropCause(kind: kind, bridge: b.name, table: table, flow: flow, reason: reason))
    }

    /// Starts processing `state` in `bridge` at `table` (a bridge's first lookup, or a resumed
    /// recirculation).
    mutating func run(bridge: Int, state: PacketState, table: Int) {
        self.bridge = bridge
        self.state = state
        self.depth = 0
        self.exitRequested = false
        lookupAndExecute(table: table)
    }

    /// Looks `table` up and runs the matching flow's actions (`xlate_table_action`).
    /// `lookupInPort` (from `resubmit(PORT,…)`) replaces in_port for the lookup only: the actions
    /// still see the packet's real input port, as in OVS.
    mutating func lookupAndExecute(table t: Int, lookupInPort: UInt32? = nil) {
        guard depth < Translation.maxDepth, resubmits < Translation.maxResubmits else {
            dropped(.output, reason: "over the translation limit (\(Translation.maxDepth) deep or \(Translation.maxResubmits) resubmits); OVS drops the packet")
            return
        }
        let savedTable = table
        table = t
        defer { table = savedTable }
        let bridge = b
        let realInPort = state.inPort
        if let lookupInPort { state.inPort = lookupInPort }
        let found = bridge.tables[t]?.lookup(&state)
        state.inPort = realInPort
        let unreadable = bridge.unreadablePriority[t]
        if unreadable != Int.min && (found == nil || Int(found!.priority) <= unreadable) {
            let example = bridge.unreadableExample[t].map { bridge.rules[$0].raw } ?? ""
            unknown("\(bridge.name) table \(t) has a flow Hopscope cannot read at priority \(unreadable): \(example.trimmingCharacters(in: .whitespaces))", bridge: self.bridge)
        }
        guard let found else {
            steps.append(TraceStep(kind: .tableMiss, bridge: bridge.name, table: t, depth: depth, note: "no flow matches"))
            dropped(.tableMiss, reason: "no flow matches")
            return
        }
        let ruleIndex = Int(found.ruleIndex)
        let raw = bridge.raws[ruleIndex]
        steps.append(TraceStep(kind: .flow, bridge: bridge.name, table: t, priority: Int(found.priority), flow: raw,
                               line: bridge.lines[ruleIndex], depth: depth))
        resubmits += 1
        depth += 1
        let actions = bridge.programs[ruleIndex]
        if actions.isEmpty || (actions.count == 1 && actions[0].kind == .drop) {
            dropped(.dropFlow, reason: "flow drops the packet", flow: raw)
        }
        execute(actions, flow: raw)
        depth -= 1
    }

    mutating func execute(_ actions: [FlowAction], flow: String) {
        for action in actions {
            if exitRequested { return }
            switch action.kind {
            case .drop, .note, .setQueue, .popQueue, .conjunction:
                continue
            case .output(let port):
                output(port)
            case .outputField(let ref):
                output(.number(UInt32(truncatingIfNeeded: state.read(ref).low)))
            case .controller:
                outputs.append(OpenFlowOutput(kind: .controller, bridge: b.name, port: "CONTROLLER", ofport: ReservedPort.controller.number, vlan: state.vlanID))
            case .resubmit(let port, let t, let ct):
                if ct { unknown("resubmit(,,ct) (lookup on the conntrack tuple) is not modelled", bridge: bridge); continue }
                var lookupPort: UInt32?
                if let port {
                    guard let n = resolve(port) else {
                        dropped(.output, reason: "resubmit to unknown port \(port)")
                        continue
                    }
                    lookupPort = n
                }
                lookupAndExecute(table: t ?? table, lookupInPort: lookupPort)
            case .gotoTable(let t):
                lookupAndExecute(table: t)
            case .modVlanVid(let vid):
                if state.vlanTCI & 0x1000 != 0 {
                    state.vlanTCI = (state.vlanTCI & 0xF000) | vid
                } else {
                    state.pushVlan(vid: vid)
                }
            case .modVlanPcp(let pcp):
                if state.vlanTCI & 0x1000 == 0 { state.pushVlan(vid: 0) }
                state.vlanTCI = (state.vlanTCI & 0x1FFF) | UInt16(pcp) << 13
            case .stripVlan:
                state.popVlan()
            case .pushVlan:
                state.pushVlan(vid: nil)
            case .setField(let field, let value, let mask):
                let m = mask ?? .ones(field.width)
                if field.descriptor.matchKind != .plain {
                    unknown("set_field on \(field.name) is not modelled", bridge: bridge)
                    continue
                }
                state.write(field, value: value, mask: m)
            case .load(let value, let dst):
                state.write(dst, value: value)
            case .move(let src, let dst):
                state.write(dst, value: state.read(src))
            case .setTunnel(let id):
                state[.tunnelID] = id
            case .modDataLinkSource(let m): state[.ethSrc] = m.value
            case .modDataLinkDestination(let m): state[.ethDst] = m.value
            case .modNetworkSource(let a): state[.nwSrc] = UInt64(a.value)
            case .modNetworkDestination(let a): state[.nwDst] = UInt64(a.value)
            case .modTransportSource(let p): state[.tpSrc] = UInt64(p)
            case .modTransportDestination(let p): state[.tpDst] = UInt64(p)
            case .modNetworkTOS(let t): state[.nwTOS] = (state[.nwTOS] & 0x3) | UInt64(t & 0xFC)
            case .decrementTTL:
                if state[.nwTTL] <= 1 {
                    // OVS sends the packet to the controller (invalid TTL) and skips the rest of
                    // this action list (outer resubmits carry on).
                    outputs.append(OpenFlowOutput(kind: .controller, bridge: b.name, port: "CONTROLLER", ofport: ReservedPort.controller.number, vlan: state.vlanID))
                    steps.append(TraceStep(kind: .output, bridge: b.name, table: table, depth: depth, note: "dec_ttl: TTL expired, packet-in to the controller"))
                    return
                }
                state[.nwTTL] -= 1
            case .writeMetadata(let value, let mask):
                state[.metadata] = (state[.metadata] & ~mask) | (value & mask)
            case .conntrackClear:
                state.clearConntrack()
            case .conntrack(let ct):
                conntrack(ct)
            case .learn(let l):
                learn(l)
            case .clone(let nested):
                let saved = state
                let savedExit = exitRequested
                execute(nested, flow: flow)
                state = saved
                exitRequested = savedExit
            case .exit:
                exitRequested = true
            case .opaque(let reason):
                unknown("\(reason): \(action.text)", bridge: bridge)
            }
        }
    }

    func resolve(_ port: PortReference) -> UInt32? {
        switch port {
        case .number(let n): return n
        case .reserved(let r): return r == .inPort ? state.inPort : r.number
        case .name(let n): return b.portsByName[n]
        }
    }

    // MARK: Outputs

    mutating func output(_ port: PortReference) {
        switch port {
        case .reserved(.normal): normal()
        case .reserved(.flood), .reserved(.all):
            let all = port == .reserved(.all)
            for n in b.portOrder where n != state.inPort {
                guard let p = b.ports[n], all || p.floodable else { continue }
                compose(n)
            }
        case .reserved(.inPort): compose(state.inPort)
        case .reserved(.controller):
            outputs.append(OpenFlowOutput(kind: .controller, bridge: b.name, port: "CONTROLLER", ofport: ReservedPort.controller.number, vlan: state.vlanID))
        case .reserved(.none), .reserved(.unset): return
        case .reserved(.table):
            unknown("output:TABLE is not modelled", bridge: bridge)
        case .reserved(.local), .number, .name:
            guard let n = resolve(port) else {
                dropped(.output, reason: "output to \(port): the bridge has no such port")
                return
            }
            if n == state.inPort {
                dropped(.output, reason: "output to the input port is skipped (OpenFlow needs IN_PORT for that)")
                return
            }
            compose(n)
        }
    }

    /// Sends the packet out of OpenFlow port `n` (`compose_output_action`): a device, a tunnel, or
    /// a patch port whose peer bridge then processes it.
    mutating func compose(_ n: UInt32) {
        guard let port = b.ports[n] else {
            dropped(.output, reason: "output to port \(n): no such port")
            return
        }
        if !port.forwards {
            dropped(.output, reason: "port \(port.name) has NO_FWD set; output skipped")
            return
        }
        switch port.kind {
        case .device:
            outputs.append(OpenFlowOutput(kind: .port, bridge: b.name, port: port.name, ofport: n, vlan: state.vlanID))
            steps.append(TraceStep(kind: .output, bridge: b.name, table: table, depth: depth, note: port.name))
        case .tunnel(let t):
            let key: UInt64
            if let k = t.outKey, k != "flow" {
                key = Bits128(parsing: Substring(k))?.low ?? 0
            } else if t.outKey == "flow" {
                key = state[.tunnelID]
            } else {
                key = 0
            }
            var remote = t.remoteIP ?? ""
            if remote == "flow" {
                let dst = state[.tunnelDst]
                if dst == 0 {
                    dropped(.output, reason: "tunnel \(port.name) has remote_ip=flow but tun_dst is not set; OVS decides against output")
                    return
                }
                remote = IPv4Address(value: UInt32(truncatingIfNeeded: dst)).description
            }
            if originalTunnelDestination != 0, let r = IPv4Address(remote), UInt64(r.value) == originalTunnelDestination {
                dropped(.output, reason: "not tunneling to our own address \(remote)")
                return
            }
            outputs.append(OpenFlowOutput(kind: .tunnel, bridge: b.name, port: port.name, ofport: n, vlan: state.vlanID,
                                          tunnel: TunnelOutput(type: t.type, tunnelID: key, remoteIP: remote, localIP: t.localIP)))
            steps.append(TraceStep(kind: .output, bridge: b.name, table: table, depth: depth, note: port.name))
        case .patch(let peer):
            guard let target = b.patchPeers[n] else {
                dropped(.output, reason: "patch port \(port.name) has no peer (options:peer=\(peer) is not a port of any bridge)")
                return
            }
            patch(from: n, to: target, name: port.name)
        }
    }

    /// `patch_port_output`: the peer bridge sees the packet enter on the peer port with
    /// metadata, registers, tunnel and conntrack fields cleared; afterwards the original
    /// bridge continues with its own state.
    mutating func patch(from n: UInt32, to target: (bridge: Int, ofport: UInt32), name: String) {
        let savedState = state
        let savedBridge = bridge
        let savedTable = table
        let savedExit = exitRequested
        let peerName = model.bridges[target.bridge].name
        steps.append(TraceStep(kind: .patch, bridge: b.name, table: table, depth: depth,
                               note: "patch port \(name) -> \(peerName) port \(model.bridges[target.bridge].ports[target.ofport]?.name ?? String(target.ofport))"))
        state.inPort = target.ofport
        state[.metadata] = 0
        for r in PacketSlot.reg0.rawValue...PacketSlot.reg15.rawValue { state.slots[r] = 0 }
        state[.tunnelID] = 0
        state[.tunnelSrc] = 0
        state[.tunnelDst] = 0
        state[.tunnelFlags] = 0
        state[.actsetOutput] = UInt64(ReservedPort.unset.number)
        state.clearConntrack()
        bridge = target.bridge
        depth += 1
        lookupAndExecute(table: 0)
        depth -= 1
        state = savedState
        bridge = savedBridge
        table = savedTable
        exitRequested = savedExit
    }

    // MARK: Conntrack and learn

    /// `ct(...)`: with `table=N` the packet is forked and resumes at table N after tracking
    /// (queued; processed after this pass, as ofproto/trace does); either way the current
    /// packet's conntrack fields are cleared afterwards, and exec() changes are not visible.
    mutating func conntrack(_ ct: ConntrackAction) {
        if let why = ct.unmodelled { unknown(why, bridge: bridge); return }
        for a in ct.execute {
            switch a.kind {
            case .load, .setField, .move: continue
            default: unknown("ct(exec(\(a.text))) is not modelled", bridge: bridge)
            }
        }
        var zone: UInt16 = 0
        switch ct.zone {
        case .value(let z)?: zone = z
        case .field(let ref)?: zone = UInt16(truncatingIfNeeded: state.read(ref).low)
        case nil: zone = 0
        }
        if let t = ct.table {
            pending.append(Recirculation(bridge: bridge, table: t, state: state, zone: zone))
        }
        state.clearConntrack()
    }

    /// learn(): reports the flow it would add, filled in from this packet; the tables are not
    /// changed (ofproto/trace suppresses the side effect too).
    mutating func learn(_ l: LearnAction) {
        if let why = l.unmodelled { unknown(why, bridge: bridge); return }
        var match: [String] = []
        var actions: [String] = []
        for spec in l.specs {
            switch spec {
            case .matchSame(let ref):
                match.append(learnedMatch(ref, state.read(ref)))
            case .matchField(let dst, let src):
                match.append(learnedMatch(dst, state.read(src)))
            case .matchValue(let dst, let value):
                match.append(learnedMatch(dst, value))
            case .loadField(let src, let dst):
                actions.append("load:\(state.read(src).hex)->\(dst)")
            case .loadValue(let value, let dst):
                actions.append("load:\(value.hex)->\(dst)")
            case .output(let src):
                actions.append("output:\(state.read(src).low)")
            }
        }
        var head = ["table=\(l.table)", "priority=\(l.priority)"]
        if let t = l.idleTimeout { head.append("idle_timeout=\(t)") }
        if let t = l.hardTimeout { head.append("hard_timeout=\(t)") }
        let text = (head + match).joined(separator: ",") + " actions=" + actions.joined(separator: ",")
        learned.append(text)
        steps.append(TraceStep(kind: .learn, bridge: b.name, table: table, depth: depth, note: "learn() would add: \(text)"))
    }

    func learnedMatch(_ ref: FieldReference, _ value: Bits128) -> String {
        let full = ref.start == 0 && ref.end == ref.field.width - 1
        return FlowFormatter.matchText(field: ref.field, value: value << ref.start,
                                       mask: full ? nil : Bits128.ones(ref.width) << ref.start)
    }
}
