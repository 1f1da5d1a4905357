import HopscopeModel

extension TraceRun {
    /// Whether `rule`'s clauses all hold for the packet in the current hook: any clause that
    /// fails decides `no` even when another could not be evaluated.
    ///
    /// `mutating` (as `test`) although it changes nothing: called from the chain walk, which is
    /// mutating, a non-mutating method received a copy of the whole run (about 1 KB) for every
    /// rule visited; a mutating one is passed the run by reference.
    mutating func matches(_ rule: CompiledRuleset.Rule, in chain: CompiledRuleset.Chain) -> Truth {
        var unknown: String?
        for k in Int(rule.firstClause)..<Int(rule.endClause) {
            let clause = chain.clauses[k]
            switch test(clause.criterion).negated(clause.negated) {
            case .yes: continue
            case .no: return .no
            case .unknown(let why): if unknown == nil { unknown = why }
            }
        }
        if let unknown { return .unknown(unknown) }
        return .yes
    }

    private var isTransport: Bool { packet.ipProto == 6 || packet.ipProto == 17 || packet.ipProto == 132 || packet.ipProto == 136 }

    /// Whether one clause holds for the packet in the current hook (`mutating` only to be passed by reference, see `matches`).
    mutating func test(_ criterion: MatchCriterion) -> Truth {
        switch criterion {
        case .loadModule, .comment, .rateLimit:
            return .yes
        case .source(let p):
            guard let a = packet.ipSrc else { return .unknown("the packet's source address is not given (nw_src)") }
            return Truth(p.contains(a))
        case .destination(let p):
            guard let a = packet.ipDst else { return .unknown("the packet's destination address is not known (nw_dst)") }
            return Truth(p.contains(a))
        case .inInterface(let p):
            if hook == .output || hook == .postrouting { return Truth(p.matches("")) }
            guard let name = inName else { return .unknown("the input interface is not given (--in)") }
            return Truth(p.matches(name))
        case .outInterface(let p):
            if hook == .prerouting || hook == .input { return Truth(p.matches("")) }
            guard let name = outName else { return .unknown("the output interface is not given (--out)") }
            return Truth(p.matches(name))
        case .ipProtocol(let proto):
            guard let proto else { return .yes }
            return Truth(packet.ipProto == proto)
        case .fragment:
            return .no
        case .sourcePort(let r):
            guard isTransport else { return .no }
            guard let p = packet.srcPort else { return .unknown("the packet's source port is not given (tp_src)") }
            return Truth(r.contains(p))
        case .destinationPort(let r):
            guard isTransport else { return .no }
            guard let p = packet.dstPort else { return .unknown("the packet's destination port is not given (tp_dst)") }
            return Truth(r.contains(p))
        case .multiport(let dir, let ranges):
            guard isTransport else { return .no }
            func any(_ p: UInt16?, _ field: String) -> Truth {
                guard let p else { return .unknown("the packet's \(field) is not given") }
                return Truth(ranges.contains { $0.contains(p) })
            }
            switch dir {
            case .source: return any(packet.srcPort, "source port (tp_src)")
            case .destination: return any(packet.dstPort, "destination port (tp_dst)")
            case .either:
                let s = any(packet.srcPort, "source port (tp_src)"), d = any(packet.dstPort, "destination port (tp_dst)")
                if case .yes = s { return .yes }
                if case .yes = d { return .yes }
                if case .unknown = s { return s }
                return d
            }
        case .tcpFlags(let mask, let set):
            guard packet.ipProto == 6 else { return .no }
            guard let f = packet.tcpFlags else { return .unknown("the packet's TCP flags are not given (tcp_flags=+syn, for example)") }
            return Truth(UInt8(truncatingIfNeeded: f) & mask == set)
        case .icmpType(let type, let codes):
            guard packet.isICMP else { return .no }
            guard let type else { return .yes }
            guard let t = packet.icmpType else { return .unknown("the packet's ICMP type is not given (icmp_type)") }
            guard t == type else { return .no }
            if codes == 0...255 { return .yes }
            guard let c = packet.icmpCode else { return .unknown("the packet's ICMP code is not given (icmp_code)") }
            return Truth(codes.contains(c))
        case .connectionState(let states):
            var bits: ConnectionStates
            switch state {
            case .new: bits = .new
            case .established: bits = .established
            case .related: bits = .related
            case .invalid: bits = .invalid
            case .untracked: bits = .untracked
            }
            if state != .untracked && state != .invalid {
                if hasSourceNAT { bits.insert(.snat) }
                if hasDestinationNAT { bits.insert(.dnat) }
            }
            return Truth(!states.intersection(bits).isEmpty)
        case .connectionStatus(let wanted):
            if state == .untracked || state == .invalid || state == .new { return Truth(wanted.isEmpty) }
            var known: ConnectionStatus = [.confirmed]
            if connection.isReply { known.insert(.seenReply) }
            if !wanted.intersection(known).isEmpty { return .yes }
            if !wanted.intersection([.assured, .seenReply]).isEmpty {
                return .unknown("--ctstatus of an existing connection (ASSURED, SEEN_REPLY) is not known to the trace")
            }
            return .no
        case .connectionDirectionReply(let reply):
            if state == .untracked || state == .invalid { return .no }
            return Truth(connection.isReply == reply)
        case .macSource(let m):
            guard let s = packet.ethSrc else { return .unknown("the packet's source MAC is not given (dl_src)") }
            return Truth(s == m)
        case .physdevIn(let p):
            guard bridgeInfo else { return .no }
            guard let name = physIn else { return .unknown("the bridge port the packet came in on is not given (--physdev-in)") }
            return Truth(p.matches(name))
        case .physdevOut(let p):
            guard bridgeInfo else { return .no }
            if hook == .prerouting || hook == .input { return Truth(p.matches("")) }
            guard let name = physOut else { return .unknown("the bridge port the packet leaves by is not given (--physdev-out)") }
            return Truth(p.matches(name))
        case .physdevIsIn:
            guard bridgeInfo else { return .no }
            guard physIn != nil else { return .unknown("the bridge port the packet came in on is not given (--physdev-in)") }
            return .yes
        case .physdevIsOut, .physdevIsBridged:
            guard bridgeInfo else { return .no }
            if hook == .prerouting || hook == .input { return .no }
            guard physOut != nil else { return .unknown("the bridge port the packet leaves by is not given (--physdev-out)") }
            return .yes
        case .ipset(let name, let flags):
            guard let sets = evaluator.ipsets else { return .unknown("rule tests ipset \(name) but no ipset dump was given") }
            let useSource = flags.first ?? true
            guard let a = useSource ? packet.ipSrc : packet.ipDst else {
                return .unknown("the packet's \(useSource ? "source" : "destination") address is not given")
            }
            switch sets.contains(name, a) {
            case .success(let b): return Truth(b)
            case .failure(let e): return .unknown(e.reason)
            }
        case .addressType(let source, let types):
            guard let a = source ? packet.ipSrc : packet.ipDst else { return .unknown("the packet's address is not given") }
            guard let kind = addressType(a) else {
                return .unknown("-m addrtype needs this namespace's interface addresses, which the trace does not have")
            }
            let modelled: AddressTypes = [.local, .broadcast, .multicast, .unicast]
            if types.contains(kind) { return .yes }
            guard types.isSubset(of: modelled) else {
                return .unknown("-m addrtype types other than LOCAL, UNICAST, BROADCAST, MULTICAST are not modelled")
            }
            return .no
        case .addressTypeLimitInterface:
            return .unknown("-m addrtype --limit-iface-in/out is not modelled")
        case .mark(let value, let mask):
            return Truth(mark & mask == value)
        case .connectionMark(let value, let mask):
            guard let cm = connmark else {
                return .unknown("the connection mark of an existing connection is not known (give it with --connmark)")
            }
            return Truth(cm & mask == value)
        case .addressRange(let source, let low, let high):
            guard let a = source ? packet.ipSrc : packet.ipDst else { return .unknown("the packet's address is not given") }
            guard a.isIPv4 == low.isIPv4 else { return .no }
            return Truth(a >= low && a <= high)
        case .owner:
            // Only packets from a local socket have an owner; others never match (as xt_owner does).
            guard traversal.kind == .sentLocally else { return .no }
            return .unknown("-m owner needs the sending socket's user and group, which the trace does not have")
        case .unsupported(let why):
            return .unknown(why)
        }
    }

    /// The routing type of `a` as `-m addrtype` sees it, from the namespace's addresses.
    private func addressType(_ a: IPAddress) -> AddressTypes? {
        switch a {
        case .v4(let v):
            if v.value == 0 || v == .broadcast { return .broadcast }
            if v.isMulticast { return .multicast }
            if v.isLoopback { return .local }
        case .v6(let v):
            if v.isMulticast { return .multicast }
            if v == IPv6Address("::1") { return .local }
        }
        guard let all = evaluator.interfaceAddresses else { return nil }
        for prefixes in all.values {
            for p in prefixes where p.address.isIPv4 == a.isIPv4 {
                if p.address == a { return .local }
                if case .v4(let net) = p.address, case .v4(let v) = a, p.length < 31 {
                    let hostMask = UInt32.max >> p.length
                    if v.value & ~hostMask == net.value & ~hostMask && v.value & hostMask == hostMask { return .broadcast }
                }
            }
        }
        return .unicast
    }
}
