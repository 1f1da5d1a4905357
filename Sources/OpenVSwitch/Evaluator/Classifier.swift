/// One compiled flow in a table: its priority, where to find the parsed rule, and the
/// conjunction clauses it contributes (a flow with `conjunction(id, k/n)` actions is a "soft"
/// match that only counts when every clause of a conjunction matches).
struct CompiledRule {
    /// Index of the rule in its bridge's `rules`.
    var ruleIndex: Int32
    var priority: Int32
    /// Range of this flow's clauses in the classifier's `conjunctions`.
    var conjunctionStart: Int32
    var conjunctionCount: Int32
    var isSoft: Bool { conjunctionCount > 0 }
}

/// A conjunction clause: `conjunction(id, clause+1/clauses)`.
struct ConjunctionClause {
    var id: UInt32
    var clause: Int32
    var clauses: Int32
}

/// A tuple-space classifier for one OpenFlow table, with OVS's lookup semantics
/// (`lib/classifier.c`): subtables by mask, visited by falling maximum priority and abandoned once
/// they cannot beat the best certain ("hard") match; conjunctive ("soft") matches resolved by
/// re-looking up with `conj_id` set.
///
/// Everything lives in flat arrays indexed by integers so a lookup touches no reference counts
/// and allocates nothing in the common case. A class, so tables are never copied during
/// evaluation. Built once, then read-only: safe to share between threads.
final class Classifier: Sendable {
    // Subtables, by falling maximum priority.
    let subtableMaxPriority: [Int32]
    let subtableKeyStart: [Int32]
    let subtableKeyCount: [Int32]
    let subtableHashStart: [Int32]
    let subtableHashMask: [Int32]
    /// Slot and mask of each subtable key field (flattened).
    let keySlots: [Int32]
    let keyMasks: [UInt64]
    /// Open-addressing hash tables of all subtables (flattened): hash -> first group, -1 empty.
    let hashKeys: [UInt64]
    let hashGroups: [Int32]
    // Groups of flows with identical match, highest priority first.
    let groupValueStart: [Int32]
    let groupRuleStart: [Int32]
    let groupRuleCount: [Int32]
    let groupNextWithSameHash: [Int32]
    let groupValues: [UInt64]
    let rules: [CompiledRule]
    let conjunctions: [ConjunctionClause]

    init(rules input: [(ruleIndex: Int, priority: Int, conjunctions: [(id: UInt32, clause: Int, clauses: Int)],
                        match: [(slot: Int, mask: UInt64, value: UInt64)])]) {
        var subtableMaxPriority: [Int32] = [], subtableKeyStart: [Int32] = [], subtableKeyCount: [Int32] = []
        var subtableHashStart: [Int32] = [], subtableHashMask: [Int32] = [], keySlots: [Int32] = [], keyMasks: [UInt64] = []
        var hashKeys: [UInt64] = [], hashGroups: [Int32] = [], groupValueStart: [Int32] = [], groupRuleStart: [Int32] = []
        var groupRuleCount: [Int32] = [], groupNextWithSameHash: [Int32] = [], groupValues: [UInt64] = []
        var rules: [CompiledRule] = [], conjunctions: [ConjunctionClause] = []
        // Group by mask signature, then by masked values.
        var bySignature: [[UInt64]: Int] = [:]
        var building: [(slots: [Int], masks: [UInt64], groups: [[UInt64]: [Int]])] = []
        for (n, r) in input.enumerated() {
            let sorted = r.match.sorted { $0.slot < $1.slot }
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
            building[i].groups[values, default: []].append(n)
        }
        var order: [(maxPriority: Int, index: Int)] = building.indices.map { i in
            (building[i].groups.values.flatMap { $0 }.map { input[$0].priority }.max() ?? 0, i)
        }
        order.sort { $0.maxPriority > $1.maxPriority }
        for (maxPriority, bi) in order {
            let b = building[bi]
            subtableMaxPriority.append(Int32(maxPriority))
            subtableKeyStart.append(Int32(keySlots.count))
            subtableKeyCount.append(Int32(b.slots.count))
            keySlots += b.slots.map { Int32($0) }
            keyMasks += b.masks
            var size = 8
            while size < b.groups.count * 2 { size <<= 1 }
            let hashStart = hashKeys.count
            subtableHashStart.append(Int32(hashStart))
            subtableHashMask.append(Int32(size - 1))
            hashKeys += Array(repeating: 0, count: size)
            hashGroups += Array(repeating: -1, count: size)
            for (values, members) in b.groups {
                let sortedMembers = members.sorted { input[$0].priority > input[$1].priority }
                let g = Int32(groupRuleStart.count)
                groupValueStart.append(Int32(groupValues.count))
                groupValues += values
                groupRuleStart.append(Int32(rules.count))
                groupRuleCount.append(Int32(sortedMembers.count))
                for m in sortedMembers {
                    let r = input[m]
                    rules.append(CompiledRule(ruleIndex: Int32(r.ruleIndex), priority: Int32(r.priority),
                                              conjunctionStart: Int32(conjunctions.count), conjunctionCount: Int32(r.conjunctions.count)))
                    conjunctions += r.conjunctions.map { ConjunctionClause(id: $0.id, clause: Int32($0.clause), clauses: Int32($0.clauses)) }
                }
                // Insert into the subtable's hash table; a displaced group becomes the chain tail.
                let h = Classifier.hash(values)
                var slot = Int(truncatingIfNeeded: h) & (size - 1)
                var previous: Int32 = -1
                while hashGroups[hashStart + slot] >= 0 {
                    if hashKeys[hashStart + slot] == h { previous = hashGroups[hashStart + slot]; break }
                    slot = (slot + 1) & (size - 1)
                }
                hashKeys[hashStart + slot] = h
                hashGroups[hashStart + slot] = g
                groupNextWithSameHash.append(previous)
            }
        }
        self.subtableMaxPriority = subtableMaxPriority
        self.subtableKeyStart = subtableKeyStart
        self.subtableKeyCount = subtableKeyCount
        self.subtableHashStart = subtableHashStart
        self.subtableHashMask = subtableHashMask
        self.keySlots = keySlots
        self.keyMasks = keyMasks
        self.hashKeys = hashKeys
        self.hashGroups = hashGroups
        self.groupValueStart = groupValueStart
        self.groupRuleStart = groupRuleStart
        self.groupRuleCount = groupRuleCount
        self.groupNextWithSameHash = groupNextWithSameHash
        self.groupValues = groupValues
        self.rules = rules
        self.conjunctions = conjunctions
    }

    static func hash(_ values: [UInt64]) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        for v in values { h = mix(h, v) }
        return h
    }
    @inline(__always) static func mix(_ h: UInt64, _ v: UInt64) -> UInt64 {
        var x = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        return x
    }

    /// The group in subtable `st` whose values equal the packet's masked slots, or -1.
    @inline(__always) func findGroup(_ st: Int, _ slots: UnsafeBufferPointer<UInt64>) -> Int {
        let keyStart = Int(subtableKeyStart[st])
        let n = Int(subtableKeyCount[st])
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        for k in keyStart..<(keyStart + n) { h = Classifier.mix(h, slots[Int(keySlots[k])] & keyMasks[k]) }
        let hashStart = Int(subtableHashStart[st])
        let mask = Int(subtableHashMask[st])
        var i = Int(truncatingIfNeeded: h) & mask
        var g: Int32 = -1
        while hashGroups[hashStart + i] >= 0 {
            if hashKeys[hashStart + i] == h { g = hashGroups[hashStart + i]; break }
            i = (i + 1) & mask
        }
        while g >= 0 {
            let vs = Int(groupValueStart[Int(g)])
            var equal = true
            for k in 0..<n where groupValues[vs + k] != slots[Int(keySlots[keyStart + k])] & keyMasks[keyStart + k] {
                equal = false
                break
            }
            if equal { return Int(g) }
            g = groupNextWithSameHash[Int(g)]
        }
        return -1
    }

    /// The flow that matches `state`, as OVS's classifier_lookup() chooses it. The conjunction ID
    /// slot is set temporarily while conjunctions are resolved.
    func lookup(_ state: inout PacketState, allowConjunctions: Bool = true) -> CompiledRule? {
        var hard = -1
        var hardPriority = Int32.min
        // Soft matches: (group, position in the group's rule list).
        var soft: [(group: Int, position: Int)] = []
        var softPriority = Int32.min
        state.slots.withUnsafeBufferPointer { slots in
            for st in 0..<subtableMaxPriority.count {
                if subtableMaxPriority[st] <= hardPriority { break }
                let g = findGroup(st, slots)
                if g < 0 { continue }
                let r = Int(groupRuleStart[g])
                let rule = rules[r]
                if rule.priority <= hardPriority { continue }
                if !rule.isSoft {
                    hard = r
                    hardPriority = rule.priority
                } else if allowConjunctions {
                    soft.append((g, 0))
                    softPriority = max(softPriority, rule.priority)
                }
            }
        }
        if hardPriority >= softPriority { return hard >= 0 ? rules[hard] : nil }
        return resolveConjunctions(&state, soft: soft, hard: hard, hardPriority: hardPriority)
    }

    private func resolveConjunctions(_ state: inout PacketState, soft: [(group: Int, position: Int)], hard startHard: Int,
                                     hardPriority startPriority: Int32) -> CompiledRule? {
        var hard = startHard
        var hardPriority = startPriority
        var live: [(group: Int, position: Int)?] = soft.map { $0 }
        func ruleAt(_ s: (group: Int, position: Int)) -> CompiledRule { rules[Int(groupRuleStart[s.group]) + s.position] }
        while true {
            live = live.filter { s in s.map { ruleAt($0).priority > hardPriority } ?? false }
            if live.isEmpty { break }
            var top = Int32.min, countAtTop: Int32 = 0
            for s in live {
                let p = ruleAt(s!).priority
                if p > top { top = p; countAtTop = 1 } else if p == top { countAtTop += 1 }
            }
            var clauses: [UInt32: UInt64] = [:]
            for s in live {
                let r = ruleAt(s!)
                guard r.priority == top else { continue }
                for ci in Int(r.conjunctionStart)..<Int(r.conjunctionStart + r.conjunctionCount) {
                    let c = conjunctions[ci]
                    guard c.clauses <= countAtTop else { continue }
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
                if s.position + 1 < Int(groupRuleCount[s.group]) {
                    let next = ruleAt((s.group, s.position + 1))
                    if next.isSoft {
                        live[i] = (s.group, s.position + 1)
                    } else {
                        if next.priority > hardPriority {
                            hard = Int(groupRuleStart[s.group]) + s.position + 1
                            hardPriority = next.priority
                        }
                        live[i] = nil
                    }
                } else {
                    live[i] = nil
                }
            }
        }
        return hard >= 0 ? rules[hard] : nil
    }
}
