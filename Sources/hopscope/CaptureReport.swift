import Capture
import Foundation
import Namespaces

/// The live view of `hopscope capture` on a terminal: one line per hop with packets and drops,
/// redrawn in place on stderr. Does nothing when stderr is not a terminal.
final class LiveView: @unchecked Sendable {
    let enabled: Bool
    private var linesDrawn = 0

    init(enabled: Bool) { self.enabled = enabled }

    func draw(_ hops: [HopProgress]) {
        guard enabled else { return }
        var text = linesDrawn > 0 ? "\u{1B}[\(linesDrawn)F" : ""
        let width = hops.map(\.label.count).max() ?? 0
        for hop in hops {
            let drops = hop.kernel.droppedByKernel
            text += "\u{1B}[2K  " + hop.label.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  \(hop.packets) packets  \(hop.bytes) bytes" + (drops > 0 ? "  \(drops) DROPPED" : "") + "\n"
        }
        linesDrawn = hops.count
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Erases the view before the final report.
    func clear() {
        guard enabled, linesDrawn > 0 else { return }
        FileHandle.standardError.write(Data(("\u{1B}[\(linesDrawn)F" + String(repeating: "\u{1B}[2K\n", count: linesDrawn) + "\u{1B}[\(linesDrawn)F").utf8))
        linesDrawn = 0
    }
}

/// The end-of-run report of `hopscope capture`, as aligned text or JSON with stable field names.
struct CaptureReport: Encodable {
    struct Hop: Encodable {
        var hop: String
        var interface: String
        var namespace: String
        var about: String
        var packets: Int
        var bytes: Int
        var kernelReceived: UInt64
        var kernelDropped: UInt64
        var stopped: String
        var file: String?
    }
    struct Mirror: Encodable {
        var port: String
        var bridge: String
        var mirror: String
        var captureInterface: String
        var caveat: String?
    }

    var directory: String
    var mergedFile: String?
    var durationSeconds: Double
    var hops: [Hop]
    var mirrors: [Mirror]
    var cleanupFailures: [String]

    init(result: CaptureResult, directory: String, mirrors: [OVSMirror], cleanupFailures: [CleanupFailure]) {
        self.directory = directory
        mergedFile = result.mergedFile
        durationSeconds = result.ended.timeIntervalSince(result.started)
        hops = result.hops.map {
            Hop(hop: $0.point.label, interface: $0.point.interface,
                namespace: $0.point.namespace == .current ? "" : $0.point.namespace.description, about: $0.point.about,
                packets: $0.progress.packets, bytes: $0.progress.bytes, kernelReceived: $0.progress.kernel.received,
                kernelDropped: $0.progress.kernel.droppedByKernel, stopped: $0.stopReason.description, file: $0.file)
        }
        self.mirrors = mirrors.map {
            Mirror(port: $0.port.name, bridge: $0.port.bridge, mirror: $0.name, captureInterface: $0.captureEnd, caveat: $0.caveat)
        }
        self.cleanupFailures = cleanupFailures.map(\.description)
    }

    var anyDrops: Bool { hops.contains { $0.kernelDropped > 0 } }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text(colour: Bool) -> String {
        let header = ["HOP", "PACKETS", "BYTES", "DROPPED", "STOPPED", "FILE"]
        let rows = hops.map { [$0.hop, "\($0.packets)", "\($0.bytes)", "\($0.kernelDropped)", $0.stopped, $0.file ?? "-"] }
        var out = table([header] + rows, rightAligned: [1, 2, 3]) + "\n"
        if let mergedFile { out += "\nall hops: \(mergedFile)\n" }
        let verdict: String
        if anyDrops {
            let lossy = hops.filter { $0.kernelDropped > 0 }.map(\.hop).joined(separator: ", ")
            verdict = paint("DROPS: the capture fell behind on \(lossy); raise --buffer-size or narrow --filter", colour ? "31" : nil)
        } else {
            verdict = paint(String(format: "OK: %d hop(s) captured for %.1f s, no packet dropped by the capture", hops.count, durationSeconds),
                            colour ? "32" : nil)
        }
        return out + verdict
    }
}

/// Wraps `text` in an ANSI colour when `code` is given.
func paint(_ text: String, _ code: String?) -> String {
    code.map { "\u{1B}[\($0)m\(text)\u{1B}[0m" } ?? text
}

/// Formats rows as columns separated by two spaces; columns in `rightAligned` are right-aligned.
func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return rightAligned.contains(c) ? pad + cell : (c == row.count - 1 ? cell : cell + pad)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
