/// Parses `ovs-ofctl dump-flows` output while it arrives: whole lines are parsed in batches as
/// chunks come in, so parsing overlaps with ovs-ofctl (and ovs-vswitchd) producing the rest.
/// The result is exactly `FlowDump(parsing: text)` of the whole output, errors included.
///
/// Ownership: fed by one task at a time (`append`, in output order), then `finish()` once after
/// the producer has stopped; hence `@unchecked Sendable` for handing it to the reading task.
final class FlowDumpStream: @unchecked Sendable {
    private var bytes: [UInt8] = []
    private var parsedUpTo = 0
    private var nextLine = 1
    private var flows: [OpenFlowRule] = []
    private var otherLines: [FlowDump.NumberedLine] = []
    private var failure: (any Error)?
    /// Bytes gathered before a batch is parsed: big enough that per-batch costs vanish, small
    /// enough that the last batch after ovs-ofctl exits is short.
    static let batchBytes = 128 << 10

    func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk)
        if bytes.count - parsedUpTo >= Self.batchBytes { parseCompleteLines() }
    }

    private func parseCompleteLines() {
        guard failure == nil, let lastNewline = bytes[parsedUpTo...].lastIndex(of: 0x0A) else { return }
        parse(parsedUpTo..<(lastNewline + 1))
    }

    private func parse(_ r: Range<Int>) {
        do {
            let (f, o) = try bytes.withUnsafeBufferPointer { try FlowDump.parse(UnsafeBufferPointer(rebasing: $0[r]), firstLine: nextLine) }
            nextLine += f.count + o.count
            flows += f
            otherLines += o
        } catch {
            failure = error
        }
        parsedUpTo = r.upperBound
    }

    /// The whole output as text and parsed. Throws the first `FlowParseError`, as
    /// `FlowDump(parsing:)` would.
    func finish() throws -> (text: String, dump: FlowDump) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            // Not UTF-8: the text is repaired when decoded, and columns count the repaired text.
            let text = String(decoding: bytes, as: UTF8.self)
            return (text, try FlowDump(parsing: text))
        }
        parseCompleteLines()
        if failure == nil && (parsedUpTo < bytes.count || nextLine == 1) { parse(parsedUpTo..<bytes.count) }
        if let failure { throw failure }
        var dump = FlowDump()
        dump.flows = flows
        dump.otherLines = otherLines
        return (text, dump)
    }
}
