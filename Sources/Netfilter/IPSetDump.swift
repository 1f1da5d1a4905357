import HopscopeModel

/// The sets of an `ipset save` dump, for the `-m set --match-set` matches of iptables rules.
///
/// Pure value; build it with `IPSetDump.parse(_:)`. Membership is modelled for `hash:ip`,
/// `hash:net`, `bitmap:ip` and `list:set` (Neutron's security groups use `hash:net`); other types
/// parse, and a rule that tests them is `unknown`.
public struct IPSetDump: Hashable, Sendable {
    public struct IPSet: Hashable, Sendable {
        public var name: String
        /// `hash:net`, `hash:ip`, ...
        public var type: String
        public var family: IPFamily
        /// The `create` line as the dump shows it.
        public var createLine: String
        public var lineNumber: Int
        /// Members of the address types, with `nomatch` exceptions (hash:net).
        public var prefixes: [IPPrefix] = []
        public var exceptions: [IPPrefix] = []
        /// Member set names of a `list:set`.
        public var memberSets: [String] = []
        /// Every `add` line, in order, for display.
        public var entries: [String] = []

        public var isModelled: Bool { ["hash:ip", "hash:net", "bitmap:ip", "list:set"].contains(type) }
    }

    public var sets: [String: IPSet] = [:]

    public init(sets: [String: IPSet] = [:]) { self.sets = sets }

    /// Parses `ipset save` output (`create NAME TYPE options` then `add NAME ENTRY options`).
    /// Throws `FirewallParseError` naming the line for an `add` to an unknown set or a bad entry.
    public static func parse(_ text: String) throws -> IPSetDump {
        var dump = IPSetDump()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let number = index + 1
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ")
            func fail(_ word: Int, _ message: String) -> FirewallParseError {
                let col = word < words.count ? line.distance(from: line.startIndex, to: words[word].startIndex) + 1 : 1
                return FirewallParseError(line: number, column: col, message: message, lineText: line)
            }
            switch words[0] {
            case "create", "-N", "-exist":
                guard words.count >= 3 else { throw fail(0, "create needs a set name and a type") }
                var family = IPFamily.ipv4
                if let f = words.firstIndex(of: "family"), f + 1 < words.count, words[f + 1] == "inet6" { family = .ipv6 }
                dump.sets[String(words[1])] = IPSet(name: String(words[1]), type: String(words[2]), family: family,
                                                    createLine: line, lineNumber: number)
            case "add", "-A":
                guard words.count >= 3 else { throw fail(0, "add needs a set name and an entry") }
                let name = String(words[1])
                guard var set = dump.sets[name] else { throw fail(1, "add to set '\(name)', which no create line declares") }
                set.entries.append(line)
                let entry = String(words[2])
                let nomatch = words.dropFirst(3).contains("nomatch")
                switch set.type {
                case "hash:ip", "hash:net", "bitmap:ip":
                    if let p = IPPrefix(entry) {
                        if nomatch { set.exceptions.append(p) } else { set.prefixes.append(p) }
                    } else if let range = Self.range(entry) {
                        set.prefixes.append(contentsOf: range)
                    } else {
                        throw fail(2, "'\(entry)' is not an address, prefix or range")
                    }
                case "list:set":
                    set.memberSets.append(entry)
                default:
                    break
                }
                dump.sets[name] = set
            default:
                throw fail(0, "expected a create or add line, found '\(words[0])'")
            }
        }
        return dump
    }

    /// An IPv4 `A-B` range as the prefixes that cover it exactly.
    static func range(_ s: String) -> [IPPrefix]? {
        let ends = s.split(separator: "-", maxSplits: 1)
        guard ends.count == 2, let a = IPv4Address(ends[0]), let b = IPv4Address(ends[1]), a <= b else { return nil }
        var out: [IPPrefix] = []
        var lo = UInt64(a.value)
        let hi = UInt64(b.value)
        while lo <= hi && out.count < 64 {
            var size: UInt64 = 1
            while lo % (size * 2) == 0 && lo + size * 2 - 1 <= hi && size < (1 << 32) { size *= 2 }
            out.append(IPPrefix(address: .v4(IPv4Address(value: UInt32(lo))), length: 32 - size.trailingZeroBitCount))
            lo += size
        }
        return lo > hi ? out : nil
    }

    /// Whether `address` is in set `name`: true/false, or nil with the reason when the set is
    /// missing or of a type Hopscope does not model.
    func contains(_ name: String, _ address: IPAddress, depth: Int = 0) -> Result<Bool, MembershipUnknown> {
        guard let set = sets[name] else { return .failure(MembershipUnknown(reason: "ipset \(name) is not in the ipset dump")) }
        switch set.type {
        case "list:set":
            guard depth < 8 else { return .failure(MembershipUnknown(reason: "ipset \(name) nests list:set too deeply")) }
            for member in set.memberSets {
                switch contains(member, address, depth: depth + 1) {
                case .success(true): return .success(true)
                case .success(false): continue
                case .failure(let e): return .failure(e)
                }
            }
            return .success(false)
        case "hash:ip", "hash:net", "bitmap:ip":
            // hash:net: the most specific entry decides, so a `nomatch` entry carves out a hole.
            let best = set.prefixes.filter { $0.contains(address) }.map(\.length).max()
            let hole = set.exceptions.filter { $0.contains(address) }.map(\.length).max()
            guard let best else { return .success(false) }
            if let hole, hole >= best { return .success(false) }
            return .success(true)
        default:
            return .failure(MembershipUnknown(reason: "ipset \(name) is of type \(set.type), which is not modelled"))
        }
    }

    struct MembershipUnknown: Error { var reason: String }
}
