import ArgumentParser
import Collector
import Diagnosis
import Foundation
import HopscopeModel
import Namespaces
import PathTrace
import Topology

extension CommandGroups {
    static var diagnose: [any ParsableCommand.Type] { [DiagnoseCommand.self] }
}

/// `hopscope diagnose INSTANCE [--to DEST | --from SRC]`: the walks plus every check, the verdict
/// line first, then the findings ranked by how surely they explain the failure.
///
/// The command runs in three steps that other commands and tests reuse: `SnapshotOptions.snapshots`
/// (collect or load), `Diagnoser.walk` (plan and walk), `Diagnoser.evaluate` (checks, ranking,
/// verdict). Active probing adds its `ProbeObservation`s to the run between the last two (see
/// `diagnose(snapshots:observe:)`).
struct DiagnoseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Say whether an instance's traffic gets through and, if not, where and why (findings with evidence and advice).",
        discussion: """
            INSTANCE is an IP or MAC address, a Neutron port id (or its first characters), a tap name, a
            vm-uuid, a libvirt domain name, or the lab's instance namespace (vm1).
            With --to DEST or --from SRC it diagnoses that one path; with neither, the instance's basic
            connectivity: a DHCP reply from its DHCP server, its gateway, the external network's gateway,
            its DNS server and that server's upstream.
            The first line is the verdict; then the findings, most likely cause first, each with its code
            (LINK_DOWN, OVS_DEAD_VLAN, FIREWALL_DROP, ...), where it is (walk, hop, node, namespace,
            device), the evidence (flow, rule with chain and comment, route, FDB entry, sysctl) and the
            commands to confirm and to fix it. A healthy path gives no finding.
            Passive: it only reads. Live, it collects a snapshot first (root needed); --snapshot FILE
            (repeatable, one per node) diagnoses saved state instead.
            Exit status: 0 healthy, 1 a problem was found, 2 could not diagnose (or a usage or runtime error).
            """)

    @Argument(help: "The instance: IP, MAC, port id or prefix, tap, vm-uuid, domain name or namespace.")
    var instance: String

    @Option(name: .long, help: ArgumentHelp("Diagnose the path from the instance to DEST (address or instance) and back.", valueName: "DEST"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Diagnose the path from SRC (address or instance) to the instance and back.", valueName: "SRC"))
    var from: String?

    @Option(name: .customLong("proto"), help: ArgumentHelp("With --to/--from: icmp (echo, the default), udp:PORT or tcp:PORT.", valueName: "PROTO"))
    var proto: String = "icmp"

    @Option(name: .long, help: ArgumentHelp("With --to/--from: IP packet length for MTU checks.", valueName: "BYTES"))
    var size: Int?

    @OptionGroup var snapshot: SnapshotOptions

    @OptionGroup var probing: ActiveOptions

    @Option(name: .customLong("netns-prefix"), help: ArgumentHelp(
        "Live: read only the named namespaces whose name starts with PREFIX (and their switches), e.g. a lab's.", valueName: "PREFIX"))
    var namespacePrefix: String?

    @Flag(name: [.customShort("j"), .long], help: "Print JSON: the run with its walks, findings, notes and verdict.")
    var json = false

    @Flag(name: [.short, .long], help: "Also print every walk's hops and every finding's evidence in full.")
    var verbose = false

    func validate() throws {
        if to != nil && from != nil { throw ValidationError("give at most one of --to DEST or --from SRC") }
        guard PathProtocol(parsing: proto) != nil else { throw ValidationError("--proto takes icmp, udp:PORT or tcp:PORT, not '\(proto)'") }
        if proto != "icmp" && to == nil && from == nil { throw ValidationError("--proto needs --to DEST or --from SRC") }
        if let size, !(28...65535).contains(size) { throw ValidationError("--size must be 28 to 65535 bytes") }
        if namespacePrefix != nil && snapshot.isOffline { throw ValidationError("--netns-prefix selects what is read live; it does not apply to --snapshot") }
        try probing.check(offline: snapshot.isOffline)
    }

    /// What was asked, as the library's request.
    var request: DiagnosisRequest {
        let target: DiagnosisRequest.Target = to.map { .to($0) } ?? from.map { .from($0) } ?? .basicConnectivity
        return DiagnosisRequest(instance: instance, target: target, proto: PathProtocol(parsing: proto) ?? .icmp, size: size)
    }

    func run() async throws {
        var run: DiagnosisRun?
        let probes = ProbeSink()
        try await exitingWithStatus2 {
            let snapshots = try await snapshot.snapshots(namespacePrefix: namespacePrefix, command: "diagnose")
            run = try await DiagnoseCommand.diagnose(request, snapshots: snapshots,
                                                     observe: probing.active ? ActiveProbing.observer(probing.options, sink: probes) : nil)
        }
        guard let run else { throw ExitCode(2) }
        if json {
            try printJSON(run)
        } else {
            print(DiagnosisRenderer.render(run, verbose: verbose))
            if !probes.probes.isEmpty { print("\n" + ActiveProbing.render(probes.probes, run: run, verbose: verbose)) }
        }
        if run.verdict.exitCode != 0 { throw ExitCode(run.verdict.exitCode) }
        if ActiveProbing.unansweredProbeLine(run) != nil { throw ExitCode(1) }
    }

    /// Plans and walks `request` on `snapshots`, lets `observe` add what active probing saw to
    /// the run (nothing, passively), then runs every check and writes the verdict. Throws
    /// `RuntimeError` for an instance that is not found or is ambiguous.
    static func diagnose(_ request: DiagnosisRequest, snapshots: [Snapshot],
                         observe: ((Diagnoser, inout DiagnosisRun) async throws -> Void)? = nil) async throws -> DiagnosisRun {
        let diagnoser = Diagnoser(snapshots: snapshots)
        var run: DiagnosisRun
        do { run = try diagnoser.walk(request) } catch let e as InstanceLookupError { throw RuntimeError("\(e)") }
        if let observe { try await observe(diagnoser, &run) }
        diagnoser.evaluate(&run)
        return run
    }
}

/// The human rendering of a diagnosis: the verdict line, the findings (ranked, each with its
/// place, evidence and commands), the walks with their verdicts, and the notes.
enum DiagnosisRenderer {
    static func render(_ run: DiagnosisRun, verbose: Bool) -> String {
        var lines: [String] = []
        switch run.verdict.status {
        case .healthy: lines.append(Style.green(run.verdict.line))
        case .problem: lines.append(Style.red(run.verdict.line))
        case .undiagnosed: lines.append(Style.yellow(run.verdict.line))
        }
        lines.append("")
        lines.append(Style.bold("diagnose") + " \(run.request)" + (run.active ? " (active)" : ""))
        if !run.findings.isEmpty {
            lines.append("")
            lines.append(Style.bold("findings") + " (most likely cause first)")
            for (n, f) in run.findings.enumerated() {
                lines.append("\(n + 1). \(f.code.rawValue)  \(f.severity.rawValue), \(f.relevance.rawValue)  \(f.location)")
                lines.append("   \(f.title)")
                let shown = verbose ? f.evidence : Array(f.evidence.prefix(3))
                for e in shown { lines.append("   evidence: \(e)") }
                if shown.count < f.evidence.count { lines.append("   (\(f.evidence.count - shown.count) more pieces of evidence: --verbose)") }
                lines.append("   advice: \(f.advice.summary)")
                for c in f.advice.confirm { lines.append("     confirm: \(c)") }
                for c in f.advice.fix { lines.append("     fix:     \(c)") }
            }
        }
        lines.append("")
        let rows = run.walks.enumerated().map { i, w -> [String] in
            let verdict = w.result.map { $0.verdict.description } ?? "not walked: \(w.error ?? "?")"
            return [String(i), w.purpose.rawValue, w.description, verdict]
        }
        lines.append(TextTable.render(header: ["WALK", "PURPOSE", "PACKET", "VERDICT"], rows: rows))
        if verbose {
            for (i, w) in run.walks.enumerated() {
                guard let r = w.result else { continue }
                lines.append("")
                lines.append(Style.bold("walk \(i)") + ": \(w.description)")
                lines.append(PathRenderer.render(r, verbose: false))
            }
        }
        for o in run.observations {
            let seen = o.sightings.map { "\($0.hop)\($0.seen ? "+" : "-")" }.joined(separator: " ")
            lines.append("probe (walk \(o.walk)): \(o.probe): \(o.answered ? "answered" : "not answered"); hops seen(+)/not(-): \(seen)")
        }
        for n in run.notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }

}
