import ArgumentParser
import Collector
import Foundation
import HopscopeModel
import OpenVSwitch
import Namespaces
import PathTrace
import Topology

extension CommandGroups {
    static var path: [any ParsableCommand.Type] { [PathCommand.self] }
}

/// `hopscope path INSTANCE (--to DEST | --from SRC)`: the hop-by-hop walk and its verdict.
struct PathCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "path",
        abstract: "Walk a packet hop by hop from an instance to a destination (or from a source to it) and back.",
        discussion: """
            INSTANCE is an IP or MAC address, a Neutron port id (or its first characters), a tap name, a
            vm-uuid, a libvirt domain name, or the lab's instance namespace (vm1).
            --to DEST walks from the instance to DEST (an address or another instance) and back; --from SRC
            walks from SRC (an address, inside the snapshots or outside them, or an instance) to the
            instance, or to its floating IP when SRC is outside its subnet, and back.
            Each hop shows node, namespace, device, its role, its state, the decision and the evidence
            (the flow, rule, route, FDB or neighbour entry); --verbose prints the packet and every piece of
            evidence in full, --json everything.
            Live, it collects a snapshot first (root needed); --snapshot FILE (repeatable, one per node)
            walks saved state instead.
            Exit status: 0 reachable (there and back), 1 the packet stops (the hop is named), 2 Hopscope
            cannot say (unknown at a hop), or a usage or runtime error.
            """)

    @Argument(help: "The instance: IP, MAC, port id or prefix, tap, vm-uuid, domain name or namespace.")
    var instance: String

    @Option(name: .long, help: ArgumentHelp("Walk from the instance to DEST (address or instance) and back.", valueName: "DEST"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Walk from SRC (address or instance) to the instance and back.", valueName: "SRC"))
    var from: String?

    @Option(name: .customLong("proto"), help: ArgumentHelp("icmp (echo, the default), udp:PORT or tcp:PORT.", valueName: "PROTO"))
    var proto: String = "icmp"

    @Option(name: .long, help: ArgumentHelp("IP packet length for MTU checks (default: 84 for icmp, 60 otherwise).", valueName: "BYTES"))
    var size: Int?

    @OptionGroup var snapshot: SnapshotOptions

    @Flag(name: [.customShort("j"), .long], help: "Print JSON (every hop with its packet and full evidence).")
    var json = false

    @Flag(name: [.short, .long], help: "Print the packet, every piece of evidence and the notes under each hop.")
    var verbose = false

    func validate() throws {
        if (to == nil) == (from == nil) { throw ValidationError("give exactly one of --to DEST or --from SRC") }
        guard PathProtocol(parsing: proto) != nil else { throw ValidationError("--proto takes icmp, udp:PORT or tcp:PORT, not '\(proto)'") }
        if let size, !(28...65535).contains(size) { throw ValidationError("--size must be 28 to 65535 bytes") }
    }

    func run() async throws {
        var result: PathResult?
        try await exitingWithStatus2 {
            let snapshots = try await snapshot.snapshots(command: "path")
            let request = PathRequest(instance: instance, direction: to.map { .to($0) } ?? .from(from!),
                                      proto: PathProtocol(parsing: proto)!, size: size)
            let tracer = PathTracer(snapshots: snapshots)
            do { result = try tracer.trace(request) } catch let e as InstanceLookupError {
                throw RuntimeError("\(e)")
            } catch let e as PathRequestError {
                throw RuntimeError("\(e)")
            }
        }
        guard let result else { throw ExitCode(2) }
        if json {
            try printJSON(result)
        } else {
            print(PathRenderer.render(result, verbose: verbose))
        }
        switch result.verdict.kind {
        case .reachable: return
        case .stopped: throw ExitCode(1)
        case .unknown: throw ExitCode(2)
        }
    }
}

/// The human rendering of a walk: what was asked, the instance's facts, an aligned hop table
/// (forward, then the reply), other flooded copies, notes, and the verdict line.
enum PathRenderer {
    static func render(_ r: PathResult, verbose: Bool) -> String {
        var lines: [String] = []
        lines.append(Style.bold("path") + " \(r.source) -> \(r.destination), \(r.proto)")
        let facts = r.instance.facts.filter { [.ip, .mac, .portID, .tap, .vmUUID, .domainName].contains($0.field) }
        var seen = Set<String>()
        for f in facts where seen.insert("\(f.field.rawValue)=\(f.value)").inserted || verbose {
            lines.append("  instance \(r.instance.name): \(f.field.rawValue) \(f.value)  (from \(f.source))")
        }
        lines.append("")
        let header = ["#", "NODE", "NAMESPACE", "DEVICE", "ROLE", "STATE", "DECISION", "EVIDENCE"]
        var rows: [[String]] = []
        var details: [Int: [String]] = [:]
        var lastDirection = PathHop.Direction.forward
        for h in r.hops {
            if h.direction != lastDirection {
                rows.append(["", "reply:", "", "", "", "", "", ""])
                lastDirection = h.direction
            }
            rows.append([String(h.index), h.node, shorten(h.namespace), h.device ?? "-", h.role, h.state?.description ?? "-",
                         decisionText(h.decision), abbreviate(h)])
            if verbose {
                var d = ["packet: \(h.packet)", "why: \(h.summary)"]
                d += h.evidence.map { "\($0)" }
                d += h.notes.map { "note: \($0)" }
                details[rows.count - 1] = d
            }
        }
        let table = TextTable.render(header: header, rows: rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (i, line) in table.enumerated() {
            lines.append(line)
            if i > 0, let d = details[i - 1] { for x in d { lines.append("      " + x) } }
        }
        lines.append("")
        for b in r.otherBranches { lines.append("flooded copy: \(b)") }
        for n in r.notes { lines.append("note: \(n)") }
        for h in r.hops where !verbose { for n in h.notes where !n.hasPrefix("learn()") { lines.append("note (hop \(h.index)): \(n)") } }
        let verdict: String
        switch r.verdict.kind {
        case .reachable: verdict = Style.green(r.verdict.description)
        case .stopped: verdict = Style.red(r.verdict.description)
        case .unknown: verdict = Style.yellow(r.verdict.description)
        }
        lines.append(verdict)
        return lines.joined(separator: "\n")
    }

    static func decisionText(_ d: Decision) -> String {
        switch d {
        case .forward(let to): to.isEmpty ? "forward" : "-> " + to.joined(separator: ",")
        case .drop: "DROP"
        case .unknown: "UNKNOWN"
        }
    }

    /// The first evidence (or the summary), cut to one short cell.
    static func abbreviate(_ h: PathHop) -> String {
        let text: String
        let flows = h.evidence.filter { $0.kind == .flow }
        if let deciding = flows.last, h.role.hasPrefix("OVS bridge") {
            text = "\(deciding.source): " + flowRule(deciding.text)
        } else if h.decision.isDrop || h.decision.isUnknown || h.evidence.isEmpty {
            text = h.summary
        } else {
            let e = h.evidence.first { $0.kind != .link } ?? h.evidence[0]
            text = e.kind == .firewallRule ? "\(e.source): \(e.text)" : e.text
        }
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 90 ? String(flat.prefix(89)) + "…" : flat
    }

    /// A flow line without its statistics (cookie, duration, counters, ages): match and actions.
    static func flowRule(_ raw: String) -> String {
        guard let r = try? OpenFlowRule(parsing: raw) else { return raw.trimmingCharacters(in: .whitespaces) }
        return "priority=\(r.priority)" + (r.matchText.isEmpty ? "" : ",\(r.matchText)") + " actions=\(r.actionsText)"
    }

    /// `qrouter-bb1023e6-ae30-…` → `qrouter-bb1023e6…`: UUIDs cut to their first 8 characters.
    static func shorten(_ label: String) -> String {
        guard label.count > 36 else { return label }
        let tail = label.suffix(36)
        guard NeutronLabels.isUUID(tail) else { return label }
        return String(label.dropLast(28)) + "…"
    }
}
