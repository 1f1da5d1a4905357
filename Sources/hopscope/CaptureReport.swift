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
    /// The per-packet timeline across hops (nil with a single hop).
    var timeline: PacketTimeline?
    /// Journeys printed in full in the text report; the rest are counted.
    static let journeysShown = 12

    init(result: CaptureResult, directory: String, mirrors: [OVSMirror], cleanupFailures: [CleanupFailure], timeline: PacketTimeline?) {
        self.timeline = timeline
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

    /// True when a packet stopped before the end of the path, or the capture itself lost packets.
    var problemFound: Bool { anyDrops || !(timeline?.stopped.isEmpty ?? true) || !(timeline?.unanswered.isEmpty ?? true) }

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
        if let timeline { out += timelineText(timeline) }
        var verdicts: [String] = []
        if anyDrops {
            let lossy = hops.filter { $0.kernelDropped > 0 }.map(\.hop).joined(separator: ", ")
            verdicts.append(paint("DROPS: the capture fell behind on \(lossy); raise --buffer-size or narrow --filter", colour ? "31" : nil))
        }
        if let timeline, !timeline.stopped.isEmpty {
            for (hop, journeys) in Dictionary(grouping: timeline.stopped, by: \.lastSeenHop).sorted(by: { $0.key < $1.key }) {
                let next = journeys[0].missedHops.first { $0 != hop }.map { ", never at \(timeline.hops[$0])" } ?? ""
                verdicts.append(paint("STOPPED: \(journeys.count) packet(s) last seen at \(timeline.hops[hop])\(next); e.g. \(journeys[0].summary)",
                                      colour ? "31" : nil))
            }
        }
        if let timeline, !timeline.unanswered.isEmpty {
            let example = timeline.unanswered[0]
            verdicts.append(paint("UNANSWERED: \(timeline.unanswered.count) echo request(s) reached \(timeline.hops[example.lastSeenHop]) but no reply was seen on any hop; e.g. \(example.summary)",
                                  colour ? "31" : nil))
        }
        if verdicts.isEmpty {
            let followed = timeline.map { t in
                let arrived = t.journeys.filter(\.arrived).count
                return ", \(arrived) of \(t.journeys.count) packet(s) followed reached the end of the path"
            } ?? ""
            verdicts.append(paint(String(format: "OK: %d hop(s) captured for %.1f s, no packet dropped by the capture", hops.count, durationSeconds)
                                  + followed, colour ? "32" : nil))
        }
        return out + verdicts.joined(separator: "\n")
    }

    /// The timeline: each packet's hops in path order with the time since the previous hop, VLAN,
    /// tunnel and NAT notes; then counts.
    func timelineText(_ timeline: PacketTimeline) -> String {
        var out = "\nTIMELINE (hops in path order; +time since the previous hop)\n"
        let shown = Array(timeline.journeys.prefix(Self.journeysShown))
            + timeline.stopped.filter { s in !timeline.journeys.prefix(Self.journeysShown).contains(s) }.prefix(Self.journeysShown)
        let width = timeline.hops.map(\.count).max() ?? 0
        for (n, journey) in shown.enumerated() {
            let fate: String
            switch journey.direction {
            case .unknown: fate = "seen at one hop, direction unknown"
            case .forward, .reverse: fate = journey.arrived ? "\(journey.direction.rawValue), arrived" : "\(journey.direction.rawValue), STOPPED after \(timeline.hops[journey.lastSeenHop])"
            }
            let unanswered = journey.answered == false ? ", no reply seen" : ""
            out += "\(n + 1). \(journey.summary)  [\(fate)\(unanswered)]\n"
            for s in journey.sightings {
                let when = s.sincePreviousNanoseconds.map { String(format: "%+.3f ms", Double($0) / 1e6) } ?? clockTime(s.timestampNanoseconds)
                var notes: [String] = []
                if let v = s.vlan { notes.append("vlan \(v)") }
                if let t = s.tunnel { notes.append("in \(t) \(s.tunnelEndpoints ?? "")") }
                if let nat = s.translation { notes.append("NAT \(nat)") }
                out += "     " + s.hopLabel.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + when
                    + (notes.isEmpty ? "" : "  " + notes.joined(separator: "; ")) + "\n"
            }
            for missed in journey.missedHops { out += "     " + timeline.hops[missed].padding(toLength: width, withPad: " ", startingAt: 0) + "  not seen\n" }
        }
        let arrived = timeline.journeys.filter(\.arrived).count
        let single = timeline.journeys.filter { $0.direction == .unknown }.count
        out += "\n\(timeline.journeys.count) packet(s) followed: \(arrived) arrived, \(timeline.stopped.count) stopped, \(single) of unknown direction"
        if timeline.journeys.count > shown.count { out += " (\(timeline.journeys.count - shown.count) not listed; --json has all)" }
        if timeline.framesNotFollowed > 0 { out += "; \(timeline.framesNotFollowed) frame(s) not followable (ARP, non-IP)" }
        if timeline.framesSkipped > 0 { out += "; \(timeline.framesSkipped) frame(s) beyond the correlation limit" }
        return out + "\n"
    }
}

/// HH:MM:SS.nnnnnnnnn in UTC, tcpdump's style with nanoseconds.
func clockTime(_ ns: Int64) -> String {
    let secondsOfDay = (ns / 1_000_000_000) % 86_400
    return String(format: "%02d:%02d:%02d.%09d", secondsOfDay / 3600, secondsOfDay / 60 % 60, secondsOfDay % 60, ns % 1_000_000_000)
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
