import HopscopeModel

/// One dump as the parser left it: its bytes and the compact decoded form of every rule line
/// (the meaning of each clause and target, and where their words are).
///
/// Every `FirewallRule` of a parsed ruleset refers to it by index; the rule's text, clauses and
/// target are rebuilt from it as strings only when asked for (the evaluator reads the decoded
/// form directly). Immutable after the parse, so shared freely between threads.
final class ParsedDump: Sendable {
    struct Rule: Sendable {
        /// Offset and length of the line in `bytes` (without its line break).
        var lineStart: Int32
        var lineCount: Int32
        /// Offset of the rule's words (after the `[packets:bytes]` counters).
        var bodyStart: Int32
        var firstClause: Int32
        var clauseCount: Int32
        /// Token index of `-j`/`-g`, `noTarget` or `didNotParse`.
        var targetToken: Int32
        var action: TargetAction

        static let noTarget: Int32 = -1
        /// A line `parseRecovering` kept although it did not parse: no clauses, an unsupported action.
        static let didNotParse: Int32 = -2

        var clauseRange: Range<Int> { Int(firstClause)..<Int(firstClause + clauseCount) }
    }

    /// The dump's UTF-8, followed by `wordPadding` zero bytes.
    let bytes: [UInt8]
    let rules: [Rule]
    let clauses: [ClauseRecord]

    init(bytes: [UInt8], rules: [Rule], clauses: [ClauseRecord]) {
        self.bytes = bytes
        self.rules = rules
        self.clauses = clauses
    }

    /// The rule's line as the dump shows it.
    func lineText(_ r: Int) -> String {
        let rule = rules[r]
        return bytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[Int(rule.lineStart)..<Int(rule.lineStart + rule.lineCount)]), as: UTF8.self)
        }
    }

    /// The rule's line without its `[packets:bytes]` counters and the spaces after them, as
    /// `FirewallRule.ruleText` gives it.
    func ruleText(_ r: Int) -> String {
        let rule = rules[r]
        let end = Int(rule.lineStart + rule.lineCount)
        var start = Int(rule.bodyStart)
        guard start > Int(rule.lineStart) else { return lineText(r) }
        while start < end && bytes[start] == 0x20 { start += 1 }
        // A space followed by a combining mark is one Character, which `ruleText` keeps: decide
        // by characters whenever a non-ASCII byte follows the spaces.
        if start < end && bytes[start] >= 0x80 {
            let text = lineText(r)
            guard let close = text.firstIndex(of: "]") else { return text }
            return String(text[text.index(after: close)...].drop { $0 == " " })
        }
        return bytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self)
        }
    }

    /// The `-m comment --comment` texts joined with "; ", read from the decoded clauses.
    func comment(_ r: Int) -> String? {
        var found: [String] = []
        for k in rules[r].clauseRange { if case .comment(let s) = clauses[k].criterion { found.append(s) } }
        if found.count == 1 { return found[0] }
        return found.isEmpty ? nil : found.joined(separator: "; ")
    }

    /// Splits the rule's line into words again (it split cleanly at parse time) and runs `body` on them.
    private func withWords<R>(_ r: Int, _ body: (LineBytes, [Token]) -> R) -> R {
        let rule = rules[r]
        let end = Int(rule.lineStart + rule.lineCount)
        return bytes.withUnsafeBufferPointer { dump in
            var scratch = [UInt8](repeating: 0, count: end - Int(rule.bodyStart) + wordPadding)
            return scratch.withUnsafeMutableBufferPointer { s in
                var tokens: [Token] = []
                do {
                    try tokenize(dump.baseAddress!, from: Int(rule.bodyStart), to: end, columnBase: Int(rule.lineStart),
                                 scratch: s.baseAddress!, into: &tokens)
                } catch {
                    preconditionFailure("a parsed rule line no longer splits into words")
                }
                return body(LineBytes(dump: dump.baseAddress!, scratch: UnsafePointer(s.baseAddress!)), tokens)
            }
        }
    }

    /// The words `count` tokens after `index`, unquoted, with the bit mask of which were quoted.
    private static func values(_ line: LineBytes, _ tokens: [Token], after index: Int, count: Int) -> ([String], UInt32) {
        var values: [String] = []
        var quoted: UInt32 = 0
        values.reserveCapacity(count)
        for k in 0..<count {
            let t = tokens[index + 1 + k]
            if t.quoted && k < 32 { quoted |= 1 << UInt32(k) }
            values.append(line.string(t))
        }
        return (values, quoted)
    }

    /// The rule's clauses as public values, in the order written.
    func clauses(_ r: Int) -> [RuleClause] {
        let rule = rules[r]
        guard rule.clauseCount > 0 else { return [] }
        return withWords(r) { line, tokens in
            clauses[rule.clauseRange].map { c in
                let (values, quoted) = Self.values(line, tokens, after: Int(c.option), count: Int(c.valueCount))
                let module: String? = switch c.module {
                case ClauseRecord.noModule: nil
                case ClauseRecord.implicitModule: RuleReader.implicitModule(c.implicitProtocol)
                default: line.string(tokens[Int(c.module)])
                }
                return RuleClause(option: line.string(tokens[Int(c.option)]), negated: c.negated, values: values,
                                  quotedValues: quoted, module: module, criterion: c.criterion)
            }
        }
    }

    /// The rule's target as a public value (`RuleTarget.none` when it has none).
    func target(_ r: Int) -> RuleTarget {
        let rule = rules[r]
        switch rule.targetToken {
        case Rule.noTarget: return .none
        case Rule.didNotParse: return RuleTarget(flag: nil, name: "", action: rule.action)
        default: break
        }
        return withWords(r) { line, tokens in
            let flag = Int(rule.targetToken)
            let name = line.string(tokens[flag + 1])
            var options: [RuleClause] = []
            var i = flag + 2
            while i < tokens.count {
                var negated = false
                if line.isBang(tokens[i]), i + 1 < tokens.count { negated = true; i += 1 }
                let option = i
                i += 1
                while i < tokens.count, !line.isOption(tokens[i]), !line.isBang(tokens[i]) { i += 1 }
                let (values, quoted) = Self.values(line, tokens, after: option, count: i - option - 1)
                options.append(RuleClause(option: line.string(tokens[option]), negated: negated, values: values,
                                          quotedValues: quoted, module: nil, criterion: .loadModule(name)))
            }
            return RuleTarget(flag: line.string(tokens[flag]), name: name, options: options, action: rule.action)
        }
    }
}
