import HopscopeModel

/// A three-valued match result: a rule matches, does not, or cannot be told (with the reason).
enum Truth {
    case yes, no
    case unknown(String)

    func negated(_ flag: Bool) -> Truth {
        guard flag else { return self }
        switch self {
        case .yes: return .no
        case .no: return .yes
        case .unknown: return self
        }
    }
    init(_ b: Bool) { self = b ? .yes : .no }
}

/// The mutable state of one trace: the packet as NAT rewrites it, marks, connection state, and
/// the record of what happened. Lives only for one `FirewallEvaluator.trace` call.
struct TraceRun {
    /// A rule or chain policy, by index, until the result is built (cheap to record).
    struct RuleID: Sendable {
        /// Position of the table in `CompiledRuleset.tables`.
        var table: Int
        var chain: Int
        /// Rule index in the chain; -1 for the policy of the chain.
        var rule: Int
    }
    struct Step: Sendable {
        var hook: Hook
        /// Position of the table in `CompiledRuleset.tables`.
        var table: Int
        var chain: Int
        var event: FirewallTraceStep.Event
        var rule: Int? = nil
        var detail: StepDetail = .none
        var depth: Int
    }

    /// What a step did, kept compact during the trace and rendered as text when read.
    enum StepDetail: Sendable {
        case none
        case text(String)
        case jump(Int)
        case goto(Int)
        case zone(UInt16)
        case mark(UInt32)
        case connectionMark(UInt32?)

        func text(_ compiled: CompiledRuleset?, _ table: Int) -> String? {
            switch self {
            case .none: return nil
            case .text(let s): return s
            case .jump(let c): return compiled?.tables[table].chains[c].jumpText ?? "jump to ?"
            case .goto(let c): return compiled?.tables[table].chains[c].gotoText ?? "goto ?"
            case .zone(let z): return "conntrack zone \(z)"
            case .mark(let m): return "mark now 0x\(String(m, radix: 16))"
            case .connectionMark(let m): return "connection mark now \(m.map { "0x" + String($0, radix: 16) } ?? "unknown")"
            }
        }
    }
    enum Outcome {
        case accept(RuleID)
        case drop(RuleID)
        case unknown(RuleID, String)
    }

    let evaluator: FirewallEvaluator
    let compiled: CompiledRuleset?
    let original: PacketKey
    var packet: PacketKey
    var traversal: Traversal
    let connection: ConnectionContext
    var state: ConnectionContext.State
    var mark: UInt32
    var connmark: UInt32?
    var hasSourceNAT = false
    var hasDestinationNAT = false
    var redirected = false
    var notrack = false

    // The hook being run and its interfaces.
    var hook = Hook.prerouting
    var inName: String?
    var outName: String?
    var physIn: String?
    var physOut: String?
    var bridgeInfo = false

    var steps: [Step] = []
    var matched: [RuleID] = []
    var translations: [NATTranslation] = []
    var notes: [String] = []
    var verdict: Decision?
    var deciding: RuleID?
    var lastFilterDecision: RuleID?
    var lastSecurityDecision: RuleID?
    var lastDecision: RuleID?

    init(evaluator: FirewallEvaluator, packet: PacketKey, traversal: Traversal, connection: ConnectionContext) {
        self.evaluator = evaluator
        self.original = packet
        self.packet = packet
        self.traversal = traversal
        self.connection = connection
        self.state = connection.state
        self.mark = connection.packetMark
        self.connmark = connection.connectionMark
        if packet.isIPv6 { compiled = evaluator.compiled6 } else { compiled = evaluator.compiled4 }
        if let b = connection.binding, connection.state != .new {
            hasSourceNAT = b.hasSourceNAT
            hasDestinationNAT = b.hasDestinationNAT
        }
        steps.reserveCapacity(32)
        matched.reserveCapacity(16)
    }

    var stopped: Bool { verdict != nil }

    // MARK: Traversal

    mutating func execute(route: FirewallEvaluator.RouteLookup?) {
        guard packet.isIPv4 || packet.isIPv6 else {
            verdict = .forward(to: [])
            notes.append("not an IP packet (dl_type=0x\(String(packet.ethType, radix: 16))): iptables never sees it")
            return
        }
        guard compiled != nil else {
            verdict = .unknown(reason: "no \(packet.isIPv6 ? "ip6tables-save" : "iptables-save") dump for this namespace")
            return
        }
        let t = traversal
        switch t.kind {
        case .bridged:
            guard t.bridgeNetfilter else {
                verdict = .forward(to: [t.physdevOut ?? t.outInterface ?? ""].filter { !$0.isEmpty })
                notes.append("br_netfilter is off (net.bridge.bridge-nf-call-\(packet.isIPv6 ? "ip6tables" : "iptables")=0): bridged packets skip iptables")
                return
            }
            run(.prerouting, in: t.inInterface, out: nil, physIn: t.physdevIn, physOut: nil, bridge: true)
            if stopped { return }
            run(.forward, in: t.inInterface, out: t.outInterface, physIn: t.physdevIn, physOut: t.physdevOut, bridge: true)
            if stopped { return }
            run(.postrouting, in: nil, out: t.outInterface, physIn: t.physdevIn, physOut: t.physdevOut, bridge: true)
            if stopped { return }
            verdict = .forward(to: [t.physdevOut ?? t.outInterface ?? ""].filter { !$0.isEmpty })
        case .forwarded, .deliveredLocally:
            let viaBridge = t.physdevIn != nil
            run(.prerouting, in: t.inInterface, out: nil, physIn: t.physdevIn, physOut: nil, bridge: viaBridge)
            if stopped { return }
            var local = t.kind == .deliveredLocally
            var out = t.outInterface
            if t.kind == .forwarded {
                (local, out) = reroute(route, out: out)
                if local { traversal.kind = .deliveredLocally; traversal.outInterface = nil }
                traversal.outInterface = local ? nil : out
            }
            if local {
                run(.input, in: t.inInterface, out: nil, physIn: t.physdevIn, physOut: nil, bridge: viaBridge)
                if stopped { return }
                verdict = .forward(to: ["local"])
            } else {
                run(.forward, in: t.inInterface, out: out, physIn: nil, physOut: nil, bridge: false)
                if stopped { return }
                run(.postrouting, in: nil, out: out, physIn: nil, physOut: nil, bridge: false)
                if stopped { return }
                verdict = .forward(to: [out ?? ""].filter { !$0.isEmpty })
            }
        case .sentLocally:
            run(.output, in: nil, out: t.outInterface, physIn: nil, physOut: nil, bridge: false)
            if stopped { return }
            var out = t.outInterface
            if packet.ipDst != original.ipDst, let route {
                switch route(packet) {
                case .forward(let o): out = o
                case .local: out = "lo"
                case .unknown(let why): notes.append("rerouting after DNAT in OUTPUT: \(why); kept \(out ?? "?")")
                }
                traversal.outInterface = out
            }
            run(.postrouting, in: nil, out: out, physIn: nil, physOut: nil, bridge: false)
            if stopped { return }
            verdict = .forward(to: [out ?? ""].filter { !$0.isEmpty })
        }
    }

    /// The routing decision after PREROUTING: local delivery or the output interface.
    private mutating func reroute(_ route: FirewallEvaluator.RouteLookup?, out: String?) -> (Bool, String?) {
        if redirected {
            notes.append("REDIRECT sends the packet to this namespace itself: it is delivered locally (INPUT), not forwarded")
            return (true, nil)
        }
        let translated = packet.ipDst != original.ipDst || packet.dstPort != original.dstPort
        guard translated || out == nil else { return (false, out) }
        if let route {
            switch route(packet) {
            case .local: return (true, nil)
            case .forward(let o): return (false, o)
            case .unknown(let why):
                notes.append("routing after DNAT: \(why); the trace keeps output interface \(out ?? "?")")
                return (false, out)
            }
        }
        if let dst = packet.ipDst, let addrs = evaluator.interfaceAddresses,
           addrs.values.contains(where: { $0.contains { $0.address == dst } }) {
            return (true, nil)
        }
        if translated {
            notes.append("DNAT changed the destination; the trace keeps the output interface given (\(out ?? "?")) as the route")
        }
        return (false, out)
    }

    // MARK: Hooks and tables

    mutating func run(_ hook: Hook, in inIF: String?, out outIF: String?, physIn: String?, physOut: String?, bridge: Bool) {
        guard let compiled else { return }
        self.hook = hook
        inName = inIF
        outName = outIF
        self.physIn = physIn
        self.physOut = physOut
        bridgeInfo = bridge
        for entry in compiled.hooks[hook.ordinal] {
            let table = entry.table, start = entry.start
            let tableName = table.name
            if tableName == "nat" {
                if state == .untracked {
                    steps.append(Step(hook: hook, table: table.ordinal, chain: start, event: .skipped,
                                      detail: .text("untracked packet (NOTRACK): no NAT"), depth: 0))
                    continue
                }
                if state != .new {
                    applyBinding(at: hook, table: table.ordinal, chain: start)
                    continue
                }
            }
            switch runChain(table, start: start) {
            case .accept(let id):
                lastDecision = id
                if tableName == "filter" { lastFilterDecision = id }
                if tableName == "security" { lastSecurityDecision = id }
            case .drop(let id):
                verdict = .drop
                deciding = id
                return
            case .unknown(let id, let why):
                verdict = .unknown(reason: why)
                deciding = id
                return
            }
            if tableName == "raw" && notrack {
                state = .untracked
            }
        }
    }

    /// A chain being walked: the rules that can match (nil: all of them) and the position.
    struct Frame {
        var chain: Int
        var candidates: [Int32]?
        var position: Int
    }

    /// The packet's value for a guard field in the current hook; nil when the trace does not know it.
    func guardValue(_ f: CompiledRuleset.GuardField) -> String? {
        switch f {
        case .inInterface: return hook == .output || hook == .postrouting ? "" : inName
        case .outInterface: return hook == .prerouting || hook == .input ? "" : outName
        case .physdevIn: return bridgeInfo ? physIn : ""
        case .physdevOut: return !bridgeInfo || hook == .prerouting || hook == .input ? "" : physOut
        }
    }

    /// The rules of `chain` that can match in the current hook, in order; nil to walk them all.
    func candidates(_ chain: CompiledRuleset.Chain) -> [Int32]? {
        guard !chain.guardFields.isEmpty else { return nil }
        var merged = chain.unguarded
        for f in chain.guardFields {
            guard let v = guardValue(f) else { return nil }
            if let list = chain.guarded[f.rawValue][v] { merged += list }
        }
        if merged.count > chain.unguarded.count { merged.sort() }
        return merged
    }

    func frame(_ table: CompiledRuleset.Table, _ c: Int) -> Frame {
        Frame(chain: c, candidates: candidates(table.chains[c]), position: 0)
    }

    /// Runs one built-in chain of a table to its verdict, following jumps, gotos and returns.
    mutating func runChain(_ table: CompiledRuleset.Table, start: Int) -> Outcome {
        var stack: [Frame] = []
        var f = frame(table, start)
        var budget = 1_000_000
        steps.append(Step(hook: hook, table: table.ordinal, chain: start, event: .enterChain, depth: 0))
        // The chain object is fetched again only when the walk moves to another chain.
        var chain = table.chains[start]
        while budget > 0 {
            budget -= 1
            let c = f.chain
            if chain !== table.chains[c] { chain = table.chains[c] }
            let end = f.candidates?.count ?? chain.rules.count
            if f.position >= end {
                if let caller = stack.popLast() {
                    steps.append(Step(hook: hook, table: table.ordinal, chain: c, event: .fellOffChain, depth: stack.count + 1))
                    f = caller
                    continue
                }
                return policy(table, start)
            }
            let i = f.candidates.map { Int($0[f.position]) } ?? f.position
            f.position += 1
            let rule = chain.rules[i]
            let id = RuleID(table: table.ordinal, chain: c, rule: i)
            switch matches(rule, in: chain) {
            case .no:
                continue
            case .unknown(let why):
                let action = chain.actions[i]
                if action.neverDecides {
                    steps.append(Step(hook: hook, table: table.ordinal, chain: c, event: .unknown, rule: i,
                                      detail: .text("\(why); the rule only \(action.effect), so the trace goes on"), depth: stack.count))
                    continue
                }
                steps.append(Step(hook: hook, table: table.ordinal, chain: c, event: .unknown, rule: i, detail: .text(why), depth: stack.count))
                return .unknown(id, "\(table.name) \(chain.name) rule \(i + 1) cannot be evaluated: \(why)")
            case .yes:
                break
            }
            matched.append(id)
            let depth = stack.count
            // A nested function capturing `self` made the walk copy the whole run at every chain.
            let at = StepPlace(table: table.ordinal, chain: c, rule: i, depth: depth)
            let action = chain.actions[i]
            switch action {
            case .none, .log, .checksumFill:
                matchedStep(at, .none)
            case .conntrackTemplate(let zone):
                matchedStep(at, zone.map { .zone($0) } ?? .none)
            case .notrack:
                matchedStep(at, .text("not tracked by conntrack from here on"))
                notrack = true
            case .mark(let change):
                mark = change.apply(mark)
                matchedStep(at, .mark(mark))
            case .connectionMark(let op):
                switch op {
                case .set(let change):
                    if let cm = connmark { connmark = change.apply(cm) } else if change.clear == .max { connmark = change.xor }
                    matchedStep(at, .connectionMark(connmark))
                case .save(let nf, let ct):
                    if let cm = connmark { connmark = (cm & ~ct) ^ (mark & nf) } else if ct == .max { connmark = mark & nf }
                    matchedStep(at, .connectionMark(connmark))
                case .restore(let nf, let ct):
                    guard let cm = connmark else {
                        steps.append(Step(hook: hook, table: table.ordinal, chain: c, event: .unknown, rule: i,
                                          detail: .text("restores the packet mark from the connection mark, which is not known"), depth: depth))
                        return .unknown(id, "\(table.name) \(chain.name) rule \(i + 1) restores the mark from the connection mark, which is not known (give it with --connmark)")
                    }
                    mark = (mark & ~nf) ^ (cm & ct)
                    matchedStep(at, .mark(mark))
                }
            case .accept:
                matchedStep(at, .text("ACCEPT"))
                return .accept(id)
            case .drop:
                matchedStep(at, .text("DROP"))
                return .drop(id)
            case .reject(let with):
                matchedStep(at, .text("REJECT" + (with.map { " with \($0)" } ?? "")))
                return .drop(id)
            case .returnFromChain:
                matchedStep(at, .text("RETURN"))
                guard let caller = stack.popLast() else { return policy(table, start) }
                f = caller
            case .jump:
                matchedStep(at, .jump(Int(rule.targetChain)))
                stack.append(f)
                f = frame(table, Int(rule.targetChain))
            case .goto:
                matchedStep(at, .goto(Int(rule.targetChain)))
                f = frame(table, Int(rule.targetChain))
            case .snat, .dnat, .masquerade, .redirect:
                let detail = applyNAT(action, rule: id)
                matchedStep(at, .text(detail))
                return .accept(id)
            case .unsupported(let why):
                steps.append(Step(hook: hook, table: table.ordinal, chain: c, event: .unknown, rule: i, detail: .text(why), depth: depth))
                return .unknown(id, "\(table.name) \(chain.name) rule \(i + 1): \(why)")
            }
        }
        return .unknown(RuleID(table: table.ordinal, chain: f.chain, rule: f.position), "more than a million rule visits in \(table.name) \(hook.rawValue): a loop")
    }

    /// Where a matched rule's step goes.
    struct StepPlace {
        var table: Int
        var chain: Int
        var rule: Int
        var depth: Int
    }

    private mutating func matchedStep(_ at: StepPlace, _ detail: StepDetail) {
        steps.append(Step(hook: hook, table: at.table, chain: at.chain, event: .matched, rule: at.rule, detail: detail, depth: at.depth))
    }

    private mutating func policy(_ table: CompiledRuleset.Table, _ start: Int) -> Outcome {
        let base = table.chains[start]
        let id = RuleID(table: table.ordinal, chain: start, rule: -1)
        matched.append(id)
        steps.append(Step(hook: hook, table: table.ordinal, chain: start, event: .policy, rule: -1, detail: base.policy.map { .text($0) } ?? .none, depth: 0))
        return base.policy == "DROP" ? .drop(id) : .accept(id)
    }

    // MARK: NAT

    private func endpoint(_ a: IPAddress?, _ p: UInt16?) -> String {
        let addr = a.map { $0.isIPv4 ? "\($0)" : "[\($0)]" } ?? "?"
        guard packet.ipProto == 6 || packet.ipProto == 17 || packet.ipProto == 132 else { return a.map { "\($0)" } ?? "?" }
        return addr + ":" + (p.map(String.init) ?? "?")
    }

    private func address(of interface: String?) -> IPAddress? {
        guard let interface, let prefixes = evaluator.interfaceAddresses?[interface] else { return nil }
        return prefixes.first { $0.address.isIPv4 == packet.isIPv4 }?.address
    }

    /// Applies a NAT target of the nat table to the packet and returns the step detail.
    private mutating func applyNAT(_ action: TargetAction, rule: RuleID) -> String {
        let source = !hook.natRewritesDestination
        let before = source ? endpoint(packet.ipSrc, packet.srcPort) : endpoint(packet.ipDst, packet.dstPort)
        var note: String?
        switch action {
        case .snat(let r), .dnat(let r):
            if let low = r.low {
                if source { packet.ipSrc = low } else { packet.ipDst = low }
                if r.high != r.low { note = "the kernel picks one address of \(r) per connection; the trace uses the first" }
            }
            if let ports = r.ports {
                let current = source ? packet.srcPort : packet.dstPort
                if let current, ports.contains(current) {
                    // The kernel keeps a port that is already in range when the tuple is free.
                } else if source {
                    packet.srcPort = ports.low
                } else {
                    packet.dstPort = ports.low
                }
                if ports.low != ports.high { note = (note.map { $0 + "; " } ?? "") + "port chosen from \(ports) per connection" }
            }
            if r.randomizesPorts && source && (packet.ipProto == 6 || packet.ipProto == 17) {
                packet.srcPort = nil
                note = (note.map { $0 + "; " } ?? "") + "source port randomised"
            }
        case .masquerade(let ports):
            let a = address(of: outName)
            packet.ipSrc = a
            if a == nil { note = "MASQUERADE uses the address of \(outName ?? "the output interface"), which is not known to this trace" }
            if let ports, packet.ipProto == 6 || packet.ipProto == 17 { packet.srcPort = ports.low == ports.high ? ports.low : nil }
        case .redirect(let ports):
            if hook == .output {
                packet.ipDst = packet.isIPv4 ? IPAddress("127.0.0.1") : IPAddress("::1")
            } else {
                let a = address(of: inName)
                packet.ipDst = a
                if a == nil { note = "REDIRECT uses the address of \(inName ?? "the input interface"), which is not known to this trace" }
            }
            if let ports { packet.dstPort = ports.low }
            redirected = true
        default:
            return ""
        }
        if source { hasSourceNAT = true } else { hasDestinationNAT = true }
        let after = source ? endpoint(packet.ipSrc, packet.srcPort) : endpoint(packet.ipDst, packet.dstPort)
        translations.append(NATTranslation(kind: source ? .source : .destination, hook: hook.rawValue,
                                           rule: reference(rule), before: before, after: after, note: note))
        return "\(source ? "source" : "destination") \(before) -> \(after)"
    }

    /// NAT of an existing connection: the kernel rewrites it from the conntrack entry, not the rules.
    private mutating func applyBinding(at hook: Hook, table: Int, chain: Int) {
        guard let b = connection.binding else {
            steps.append(Step(hook: hook, table: table, chain: chain, event: .skipped,
                              detail: .text("NAT rules are consulted only for the first packet of a connection; this connection's translation is not known to the trace"),
                              depth: 0))
            return
        }
        let reply = connection.isReply
        var kind: NATTranslation.Kind?
        let before: String
        if hook.natRewritesDestination {
            before = endpoint(packet.ipDst, packet.dstPort)
            if !reply && b.hasDestinationNAT {
                packet.ipDst = b.translatedDestination; packet.dstPort = b.translatedDestinationPort ?? packet.dstPort; kind = .destination
            } else if reply && b.hasSourceNAT {
                packet.ipDst = b.originalSource; packet.dstPort = b.originalSourcePort ?? packet.dstPort; kind = .destination
            }
        } else {
            before = endpoint(packet.ipSrc, packet.srcPort)
            if !reply && b.hasSourceNAT {
                packet.ipSrc = b.translatedSource; packet.srcPort = b.translatedSourcePort ?? packet.srcPort; kind = .source
            } else if reply && b.hasDestinationNAT {
                packet.ipSrc = b.originalDestination; packet.srcPort = b.originalDestinationPort ?? packet.srcPort; kind = .source
            }
        }
        guard let kind else {
            steps.append(Step(hook: hook, table: table, chain: chain, event: .skipped,
                              detail: .text("existing connection: no NAT to apply at this hook"), depth: 0))
            return
        }
        let after = kind == .source ? endpoint(packet.ipSrc, packet.srcPort) : endpoint(packet.ipDst, packet.dstPort)
        translations.append(NATTranslation(kind: kind, hook: hook.rawValue, rule: nil, before: before, after: after,
                                           note: reply ? "reply: the connection's NAT undone" : "the connection's NAT applied"))
        steps.append(Step(hook: hook, table: table, chain: chain, event: .skipped,
                          detail: .text("existing connection: \(before) -> \(after) from its conntrack entry"), depth: 0))
    }

    // MARK: Results

    func reference(_ id: RuleID) -> FirewallRuleReference? { compiled?.reference(id) }

    func result() -> FirewallTrace {
        // An accepted packet: the filter table's decision is the one operators write rules for.
        let decidingID = deciding ?? lastFilterDecision ?? lastSecurityDecision ?? lastDecision
        var binding: NATBinding?
        if state == .new {
            binding = NATBinding(originalSource: original.ipSrc, originalDestination: original.ipDst,
                                 originalSourcePort: original.srcPort, originalDestinationPort: original.dstPort,
                                 translatedSource: packet.ipSrc, translatedDestination: packet.ipDst,
                                 translatedSourcePort: packet.srcPort, translatedDestinationPort: packet.dstPort)
        } else {
            binding = connection.binding
        }
        return FirewallTrace(
            packet: original, translatedPacket: packet, connection: connection, traversal: traversal,
            verdict: verdict ?? .unknown(reason: "the trace did not finish"),
            decidingRule: decidingID.flatMap(reference),
            translations: translations,
            notes: notes,
            binding: binding,
            packetMarkAfter: mark,
            connectionMarkAfter: connmark,
            records: steps, matchedIDs: matched, compiled: compiled)
    }
}

extension TargetAction {
    /// Targets that only count, log or annotate: a rule with one of them cannot change a verdict,
    /// so a trace may go past it even when its match cannot be evaluated.
    var neverDecides: Bool {
        switch self {
        case .none, .log, .checksumFill, .conntrackTemplate: true
        default: false
        }
    }
    var effect: String {
        switch self {
        case .none: "counts packets"
        case .log: "logs"
        case .checksumFill: "fills in checksums"
        case .conntrackTemplate: "sets conntrack options"
        default: "acts"
        }
    }
}
