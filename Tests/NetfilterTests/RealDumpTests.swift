import Foundation
import HopscopeModel
@testable import Netfilter
import Testing

/// The package root, found from this file so tests work from any directory.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Every `iptables-save` / `ip6tables-save` dump under `../shared/data/iptables` and `../shared/data/sosreport`.
func realSaveDumps() throws -> [URL] {
    var found: [URL] = []
    for dir in ["../shared/data/iptables", "../shared/data/sosreport"] {
        let base = packageRoot.appendingPathComponent(dir).standardizedFileURL
        let walker = try #require(FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil))
        for case let url as URL in walker {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            if text.split(separator: "\n").contains(where: { $0 == "COMMIT" }) { found.append(url) }
        }
    }
    return found.sorted { $0.path < $1.path }
}

/// Files the insights-core authors edited to hold deliberately broken lines (see the MANIFEST).
let editedFixtures: Set<String> = ["test_iptables__IP6TABLES_SAVE_SPECIAL.txt"]

@Suite struct RealDumpTests {
    @Test func findsTheDumps() throws {
        let dumps = try realSaveDumps()
        #expect(dumps.count >= 13, "expected the hotsos, insights-core and sosreport dumps, found \(dumps.map(\.lastPathComponent))")
    }

    @Test(arguments: try realSaveDumps().filter { !editedFixtures.contains($0.lastPathComponent) })
    func everyLineParsesAndRoundTrips(_ url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        let ruleset = try FirewallRuleset.parse(text)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var ruleLines = 0
        for table in ruleset.tables {
            for chain in table.chains {
                #expect(chain.declarationText == lines[chain.lineNumber - 1], "chain declaration of \(chain.name)")
                for rule in chain.rules {
                    ruleLines += 1
                    #expect(rule.text == lines[rule.lineNumber - 1])
                    #expect(rule.formatted() == rule.text, "printer differs at \(url.lastPathComponent):\(rule.lineNumber)")
                    if case .unsupported(let why) = rule.target.action, !["rpfilter"].contains(where: { rule.text.contains($0) }) {
                        // Targets in these dumps are all modelled, except jumps to undeclared chains.
                        Issue.record("\(url.lastPathComponent):\(rule.lineNumber): \(why)")
                    }
                }
            }
        }
        // Every line of the dump is a comment, a table header, a declaration, a rule, COMMIT or blank.
        let expectedRules = lines.filter { $0.hasPrefix("-A") || $0.hasPrefix("[") }.count
        #expect(ruleLines == expectedRules)
        // The whole dump, printed back, is the input without its comment lines.
        let withoutComments = lines.filter { !$0.hasPrefix("#") && !$0.isEmpty }.joined(separator: "\n") + "\n"
        #expect(ruleset.saveText == withoutComments)
    }

    @Test func ip6tablesHeaderSetsTheFamily() throws {
        let url = packageRoot.appendingPathComponent("../shared/data/iptables/hotsos/ip_netns_exec_qrouter-984c22fd-64b3-4fa1-8ddd-87090f401ce5_ip6tables-save")
        let r = try FirewallRuleset.parse(try String(contentsOf: url, encoding: .utf8))
        #expect(r.family == .ipv6)
    }

    @Test func qrouterDumpDecodesNeutronRules() throws {
        let url = packageRoot.appendingPathComponent("../shared/data/iptables/hotsos/ip_netns_exec_qrouter-984c22fd-64b3-4fa1-8ddd-87090f401ce5_iptables-save")
        let r = try FirewallRuleset.parse(try String(contentsOf: url, encoding: .utf8))
        #expect(r.family == .ipv4)
        #expect(r.tables.map(\.name) == ["raw", "nat", "mangle", "filter"])
        let nat = try #require(r.table("nat"))
        let pre = try #require(nat.chain("neutron-l3-agent-PREROUTING"))
        #expect(pre.rules.count == 2)
        #expect(pre.rules[0].target.action == .redirect(ports: PortRange(9697, 9697)))
        #expect(pre.rules[0].clauses.contains { $0.criterion == .inInterface(InterfacePattern("qr-+")) })
        #expect(pre.rules[1].target.action == .dnat(NATRange(low: IPAddress("192.168.21.18"), high: IPAddress("192.168.21.18"), ports: nil)))
        let fsnat = try #require(nat.chain("neutron-l3-agent-float-snat")?.rules.first)
        #expect(fsnat.target.action == .snat(NATRange(low: IPAddress("10.100.0.203"), high: IPAddress("10.100.0.203"), ports: nil, randomizesPorts: true)))
        let bottom = try #require(nat.chain("neutron-postrouting-bottom")?.rules.first)
        #expect(bottom.comment == "Perform source NAT on outgoing traffic.")
        #expect(bottom.specificationText == "-j neutron-l3-agent-snat")
        let post = try #require(nat.chain("neutron-l3-agent-POSTROUTING")?.rules.first)
        #expect(post.clauses.contains { $0.negated && $0.criterion == .connectionState(.dnat) })
        #expect(post.clauses.contains { $0.negated && $0.criterion == .outInterface(InterfacePattern("rfp-984c22fd-6")) })
        let mangle = try #require(r.table("mangle"))
        let restore = try #require(mangle.chain("neutron-l3-agent-PREROUTING")?.rules[2])
        #expect(restore.target.action == .connectionMark(.restore(nfmask: 0xffff0000, ctmask: 0xffff0000)))
        #expect(restore.clauses.contains { $0.negated && $0.criterion == .connectionMark(value: 0, mask: 0xffff0000) })
        let filter = try #require(r.table("filter"))
        #expect(filter.chain("INPUT")?.counters == PacketCounters(packets: 8, bytes: 2636))
        #expect(filter.chain("INPUT")?.policy == "ACCEPT")
        #expect(filter.chain("neutron-l3-agent-INPUT")?.policy == nil)
    }

    @Test func editedInsightsFixtureReportsLineAndColumn() throws {
        let url = packageRoot.appendingPathComponent("../shared/data/iptables/insights-core/test_iptables__IP6TABLES_SAVE_SPECIAL.txt")
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(throws: FirewallParseError.self) { try FirewallRuleset.parse(text) }
        let (r, problems) = FirewallRuleset.parseRecovering(text)
        // `-A DROP` appends to an undeclared chain; a bare `-A` has no chain.
        #expect(problems.map(\.line) == [11, 15])
        #expect(problems.map(\.column) == [4, 1])
        #expect(problems[0].message.contains("'DROP'"))
        // `-j {s_1}` parses: an unknown target, which a trace reports as unknown.
        let input = try #require(r.table("filter")?.chain("INPUT"))
        #expect(input.rules.count == 2)
        guard case .unsupported(let why) = input.rules[1].target.action else { Issue.record("expected unsupported"); return }
        #expect(why.contains("{s_1}"))
        #expect(input.rules[1].formatted() == "-A INPUT -p tcp -m tcp --dport 11 -m conntrack --ctstate NEW -j {s_1}")
    }
}

/// The evaluator names rules of a parsed dump by references that read their texts from the dump
/// on demand: they must say exactly what the rule itself says, and compile the same clauses as
/// the same rule built in code.
@Suite struct RuleReferenceTests {
    /// Each rule of `ruleset` and the same rule as a value of its own (text, clauses and target built).
    static func builtCopies(_ ruleset: FirewallRuleset) -> FirewallRuleset {
        var copy = ruleset
        for t in copy.tables.indices {
            for c in copy.tables[t].chains.indices {
                copy.tables[t].chains[c].rules = copy.tables[t].chains[c].rules.map {
                    FirewallRule(table: $0.table, chain: $0.chain, position: $0.position, lineNumber: $0.lineNumber,
                                 counters: $0.counters, text: $0.text, clauses: $0.clauses, target: $0.target)
                }
            }
        }
        return copy
    }

    static func expectSameReferences(_ parsed: FirewallRuleset, _ label: String) throws {
        let built = builtCopies(parsed)
        let lazy = try #require(FirewallEvaluator(ipv4: parsed).compiled4)
        let eager = try #require(FirewallEvaluator(ipv4: built).compiled4)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for (ti, table) in parsed.tables.enumerated() {
            let l = lazy.tables[ti], e = eager.tables[ti]
            for (ci, chain) in table.chains.enumerated() {
                for (ri, rule) in chain.rules.enumerated() {
                    let a = l.chains[ci].rules[ri], b = e.chains[ci].rules[ri]
                    let aRef = l.chains[ci].references[ri], bRef = e.chains[ci].references[ri]
                    let where_ = "\(label) line \(rule.lineNumber)"
                    #expect(aRef.text == rule.ruleText, "\(where_)")
                    #expect(aRef.text == bRef.text, "\(where_)")
                    #expect(aRef.specification == bRef.specification, "\(where_)")
                    #expect(aRef.specification == rule.specificationText, "\(where_)")
                    #expect(aRef.comment == bRef.comment, "\(where_)")
                    #expect(aRef == bRef, "\(where_)")
                    #expect(try encoder.encode(aRef) == encoder.encode(bRef), "\(where_)")
                    #expect(l.chains[ci].actions[ri] == e.chains[ci].actions[ri] && a.targetChain == b.targetChain, "\(where_)")
                    let ac = l.chains[ci].clauses[Int(a.firstClause)..<Int(a.endClause)]
                    let bc = e.chains[ci].clauses[Int(b.firstClause)..<Int(b.endClause)]
                    #expect(ac.map(\.criterion) == bc.map(\.criterion), "\(where_)")
                    #expect(ac.map(\.negated) == bc.map(\.negated), "\(where_)")
                }
            }
        }
    }

    @Test(arguments: try realSaveDumps())
    func referencesOfParsedRulesMatchTheRules(_ url: URL) throws {
        let (parsed, _) = FirewallRuleset.parseRecovering(try String(contentsOf: url, encoding: .utf8))
        try Self.expectSameReferences(parsed, url.lastPathComponent)
    }

    @Test func referencesKeepOddSpacingQuotingAndSeveralComments() throws {
        let text = """
        *filter
        :INPUT ACCEPT [0:0]
        :sg - [0:0]
        [3:180]   -A INPUT -i tap1 -m comment --comment "first one" -m comment --comment second -j sg
        [0:0] -A INPUT -s 10.0.0.0/8 -m comment --comment "say \\"hi\\"" -m tcp -p tcp --dport 22 -j ACCEPT
        -A sg ! -s 192.0.2.1/32 -m conntrack --ctstate NEW,ESTABLISHED -j RETURN
        [1:2] -A sg -m comment --comment x -m set --match-set "odd set" src -j DROP
        COMMIT

        """
        let parsed = try FirewallRuleset.parse(text)
        try Self.expectSameReferences(parsed, "inline")
        let refs = try #require(FirewallEvaluator(ipv4: parsed).compiled4?.table("filter")).chains[0].references
        #expect(refs[0].text == "-A INPUT -i tap1 -m comment --comment \"first one\" -m comment --comment second -j sg")
        #expect(refs[0].comment == "first one; second")
        #expect(refs[0].specification == "-i tap1 -j sg")
        #expect(refs[1].comment == "say \"hi\"")
        #expect(refs[1].specification == "-s 10.0.0.0/8 -m tcp -p tcp --dport 22 -j ACCEPT")
    }
}

@Suite struct WordSplittingTests {
    /// The byte-by-byte splitter the parser used before its scans went eight bytes at a time:
    /// (start, count, quoted, unescaped word) per word, or the column of an unterminated quote.
    static func referenceSplit(_ b: [UInt8], _ end: Int) -> Result<[(Int, Int, Bool, [UInt8])], UnterminatedQuote> {
        var words: [(Int, Int, Bool, [UInt8])] = []
        var i = 0
        while i < end {
            while i < end && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
            if i >= end { break }
            if b[i] == 0x22 {
                let column = i + 1
                i += 1
                let s = i
                var closed = false
                var word: [UInt8] = []
                while i < end {
                    let u = b[i]
                    if u == 0x5C && i + 1 < end { word.append(b[i + 1]); i += 2; continue }
                    if u == 0x22 { closed = true; break }
                    word.append(u)
                    i += 1
                }
                guard closed else { return .failure(UnterminatedQuote(column: column)) }
                words.append((s, i - s, true, word))
                i += 1
            } else {
                let s = i
                while i < end && b[i] != 0x20 && b[i] != 0x09 { i += 1 }
                words.append((s, i - s, false, Array(b[s..<i])))
            }
        }
        return .success(words)
    }

    /// `tokenize` splits random lines of spaces, tabs, quotes, backslashes, dashes and high
    /// bytes exactly as the byte-by-byte splitter: same words, quoting, unescaped bytes, hashes
    /// and unterminated-quote columns.
    @Test func tokenizeMatchesAByteByByteSplitter() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x20, 0x20, 0x09, 0x22, 0x22, 0x5C, 0x41, 0x2D, 0xA2, 0xDC, 0x7A, 0x21]
        for _ in 0..<3000 {
            let count = Int.random(in: 0...48, using: &generator)
            let line = (0..<count).map { _ in alphabet.randomElement(using: &generator)! }
            let bytes = line + [UInt8](repeating: 0, count: wordPadding)
            let expected = Self.referenceSplit(bytes, count)
            var tokens: [Token] = []
            var scratch = [UInt8](repeating: 0, count: count + wordPadding)
            let got: Result<[Token], UnterminatedQuote> = bytes.withUnsafeBufferPointer { b in
                scratch.withUnsafeMutableBufferPointer { s in
                    do throws(UnterminatedQuote) {
                        try tokenize(b.baseAddress!, from: 0, to: count, columnBase: 0, scratch: s.baseAddress!, into: &tokens)
                        return .success(tokens)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            switch (expected, got) {
            case (.failure(let e), .failure(let g)):
                #expect(e.column == g.column, "\(line)")
            case (.success(let words), .success(let toks)):
                #expect(words.count == toks.count, "\(line)")
                for (w, t) in zip(words, toks) {
                    let text = t.inScratch ? Array(scratch[Int(t.start)..<Int(t.start + t.count)]) : Array(bytes[Int(t.start)..<Int(t.start + t.count)])
                    #expect(text == w.3 && t.quoted == w.2, "\(line)")
                    if !t.inScratch { #expect(Int(t.start) == w.0 && Int(t.count) == w.1, "\(line)") }
                    #expect(t.hash == wordHash(w.3), "\(line)")
                }
            default:
                Issue.record("splitters disagree on \(line): \(expected) vs \(got)")
            }
        }
    }

    /// The eight-bytes-at-a-time word end agrees with a byte-by-byte scan for every start and
    /// end, over bytes rich in separators, high bytes (0x80 | 0x20 and 0xA0 must not count as a
    /// space) and separators just past the end.
    @Test func wordEndMatchesAByteScan() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x20, 0x09, 0x41, 0x2D, 0xA0, 0x89, 0x00, 0x22, 0x21, 0x7F, 0xFF, 0x0A]
        for _ in 0..<400 {
            let count = Int.random(in: 0...40, using: &generator)
            let bytes = (0..<count).map { _ in alphabet.randomElement(using: &generator)! } + [UInt8](repeating: 0x20, count: wordPadding)
            bytes.withUnsafeBufferPointer { b in
                for start in 0...count {
                    for end in start...count {
                        var naive = start
                        while naive < end && b[naive] != 0x20 && b[naive] != 0x09 { naive += 1 }
                        #expect(unquotedWordEnd(b.baseAddress!, from: start, to: end) == naive, "\(bytes.prefix(count)) \(start)..<\(end)")
                    }
                }
            }
        }
    }
}
