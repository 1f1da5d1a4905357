/// One compiled flow in a table: its match as (slot, mask, value) triples and where to find the
/// parsed rule.
struct CompiledRule {
    /// Index of the rule in its bridge's `rules`.
    var ruleIndex: Int
    var priority: Int
    /// Conjunction clauses this flow contributes (`conjunction(id, k/n)`); non-empty makes it a
    /// "soft" match that only counts when all clauses of a conjunction match.
    var conjunctions: [(id: UInt32, clause: Int, clauses: Int)]
    var isSoft: Bool { !conjunctions.isEmpty }
}

/// A tuple-space classifier for one OpenFlow table, with OVS's lookup semantics
/// (`lib/classifier.c`): subtables by mask, visited by falling maximum priority and abandoned once
/// they cannot beat the best certain ("hard") match; conjunctive ("soft") matches resolved by
/// re-looking up with `conj_id` set.
///
/// Built once, then read-only: safe to share between threads.
struct Classifier {
    /// Flows with one set of masked slots.
    struct Subtable {
        var slots: [Int]
        var masks: [UInt64]
        var maxPriority: Int
        /// Groups of flows with identical match, reached by hash of the masked packet values.
        var table: HashIndex
        var groups: [Group]
    }
    /// Flows with an identical match (same masks and values), highest priority first.
    struct Group {
        var values: [UInt64]
        var rules: [CompiledRule]
        var nextWithSameHash: Int32
    }

    var subtables: [Subtable] = []

    init(rules: [(rule: CompiledRule, match: [(slot: Int, mask: UInt64, value: UInt64)])]) {
        var bySignature: [[UInt64]: Int] = [:]
        var building: [(slots: [Int], masks: [UInt64], groups: [[UInt64]: [CompiledRule]])] = []
        for (rule, match) in rules {
            let sorted = match.sorted { $0.slot < $1.slot }
            let signature = sorted.flatMap { [UInt64($0.slot), $0.mask] }
            let values = sorted.map { $0.value & $0.mask }
            let i: Int
            if let existing = bySignature[signature] {
                i = existing
            } else {
                i = building.count
                bySignature[signature] = i
                building.append((sorted.map(\.slot), sorted.map(\.mask), [:]))
            }
            building[i].groups[values, default: []].append(rule)
        }
        for b in building {
            var groups: [Group] = []
            var index = HashIndex(capacity: b.groups.count)
            var maxPriority = Int.min
            for (values, var rules) in b.groups {
                rules.sort { $0.priority > $1.priority }
                maxPriority = max(maxPriority, rules[0].priority)
                let h = Classifier.hash(values)
                let g = Int32(groups.count)
                groups.append(Group(values: values, rules: rules, nextWithSameHash: index.insert(key: h, value: g)))
            }
            subtables.append(Subtable(slots: b.slots, masks: b.masks, maxPriority: maxPriority, table: index, groups: groups))
        }
        subtables.sort { $0.maxPriority > $1.maxPriority }
    }

    @inline(__always) static func hash(_ values: [UInt64]) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        for v in values { h = mix(h, v) }
        return h
    }
    @inline(__always) static func mix(_ h: UInt64, _ v: UInt64) -> UInt64 {
        var x = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return x
    }

    /// The group in `st` whose values equal the packet's masked slots, if any.
    @inline(__always) func findGroup(_ st: Subtable, _ state: borrowing PacketState) -> Int? {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        let n = st.slots.count
        for k in 0..<n { h = Classifier.mix(h, state.slots[st.slots[k]] & st.masks[k]) }
        var g = st.table.find(key: h)
        while g >= 0 {
            let group = st.groups[Int(g)]
            var equal = true
            for k in 0..<n where group.values[k] != state.slots[st.slots[k]] & st.masks[k] {
                equal = false
                break
            }
            if equal { return Int(g) }
            g = group.nextWithSameHash
        }
        return nil
    }

    /// The flow that matches `state`, as OVS's classifier_lookup() chooses it. `state.conjunctionID`
    /// is set temporarily while conjunctions are resolved.
    func lookup(_ state: inout PacketState, allowConjunctions: Bool = true) -> CompiledRule? {
        var hard: CompiledRule?
        var hardPriority = Int.min
        // Soft matches: (subtable, group, position in the group's rule list).
        var soft: [(st: Int, group: Int, position: Int)] = []
        var softPriority = Int.min
        for (si, st) in subtables.enumerated() {
            if st.maxPriority <= hardPriority { break }
            guard let g = findGroup(st, state) else { continue }
            let rule = st.groups[g].rules[0]
            if rule.priority <= hardPriority { continue }
            if !rule.isSoft {
                hard = rule
                hardPriority = rule.priority
            } else if allowConjunctions {
                soft.append((si, g, 0))
                softPriority = max(softPriority, rule.priority)
            }
        }
        if hardPriority >= softPriority { return hard }

        var live: [(st: Int, group: Int, position: Int)?] = soft.map { $0 }
        func ruleAt(_ s: (st: Int, group: Int, position: Int)) -> CompiledRule { subtables[s.st].groups[s.group].rules[s.position] }
        while true {
            live = live.filter { s in s.map { ruleAt($0).priority > hardPriority } ?? false }
            if live.isEmpty { break }
            var top = Int.min, countAtTop = 0
            for s in live {
                let p = ruleAt(s!).priority
                if p > top { top = p; countAtTop = 1 } else if p == top { countAtTop += 1 }
            }
            var clauses: [UInt32: UInt64] = [:]
            for s in live {
                let r = ruleAt(s!)
                guard r.priority == top else { continue }
                for c in r.conjunctions where c.clauses <= countAtTop {
                    var bits = clauses[c.id] ?? (c.clauses >= 64 ? 0 : UInt64.max << UInt64(c.clauses))
                    bits |= UInt64(1) << UInt64(c.clause)
                    clauses[c.id] = bits
                    if bits == UInt64.max {
                        let saved = state[.conjunctionID]
                        state[.conjunctionID] = UInt64(c.id)
                        let found = lookup(&state, allowConjunctions: false)
                        state[.conjunctionID] = saved
                        if let found { return found }
                    }
                }
            }
            // No conjunction completed at this priority: fall back to lower-priority flows with
            // the same match as the soft ones.
            for i in live.indices {
                guard let s = live[i], ruleAt(s).priority == top else { continue }
                let rules = subtables[s.st].groups[s.group].rules
                if s.position + 1 < rules.count {
                    let next = rules[s.position + 1]
                    if next.isSoft {
                        live[i] = (s.st, s.group, s.position + 1)
                    } else {
                        if next.priority > hardPriority { hard = next; hardPriority = next.priority }
                        live[i] = nil
                    }
                } else {
                    live[i] = nil
                }
            }
        }
        return hard
    }
}

/// Open-addressing map from a 64-bit hash to the first group with that hash.
struct HashIndex {
    private var keys: [UInt64]
    private var values: [Int32]
    private var used: [Bool]
    private let mask: Int

    init(capacity: Int) {
        var size = 8
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: 0, count: size)
        values = Array(repeating: -1, count: size)
        used = Array(repeating: false, count: size)
        mask = size - 1
    }

    /// Inserts `value` for `key`, returning the value it displaces (the chain link), or -1.
    mutating func insert(key: UInt64, value: Int32) -> Int32 {
        var i = Int(truncatingIfNeeded: key) & mask
        while used[i] {
            if keys[i] == key {
                let previous = values[i]
                values[i] = value
                return previous
            }
            i = (i + 1) & mask
        }
        used[i] = true
        keys[i] = key
        values[i] = value
        return -1
    }

    @inline(__always) func find(key: UInt64) -> Int32 {
        var i = Int(truncatingIfNeeded: key) & mask
        while used[i] {
            if keys[i] == key { return values[i] }
            i = (i + 1) & mask
        }
        return -1
    }
}
