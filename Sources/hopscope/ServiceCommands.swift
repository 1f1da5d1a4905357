import ArgumentParser
import Diagnosis
import Foundation
import HopscopeModel
import Namespaces
import PathTrace
import Probe
import Topology

extension CommandGroups {
    static var service: [any ParsableCommand.Type] { [DHCPCommand.self, DNSCommand.self] }
}

/// The options of active probing, shared by `diagnose`, `dhcp` and `dns`.
struct ActiveOptions: ParsableArguments {
    @Flag(name: .long, help: "Also send probes along the walks while capturing on their hops (root; live only).")
    var active = false

    @Option(name: .customLong("probe-prefix"), help: ArgumentHelp(
        "Name prefix of probe namespaces and ports (at most 8 characters are used).", valueName: "PREFIX"))
    var probePrefix = "hsprobe"

    @Flag(name: .customLong("probe-port"), help: "Send from a probe port on the instance's bridge (as neutron-debug does) even when the instance has a namespace.")
    var probePort = false

    @Option(name: .customLong("probe-address"), help: ArgumentHelp(
        "Address (CIDR) for the probe port, needed for ICMP, TCP, UDP and DNS probes from it.", valueName: "CIDR"))
    var probeAddress: String?

    @Option(name: .customLong("probe-timeout"), help: ArgumentHelp("Seconds each probe waits for its answer.", valueName: "SECONDS"))
    var timeout: Double = 2

    @Option(name: .customLong("probe-pcap"), help: ArgumentHelp(
        "Keep what the captures saw in DIR: per walk, a pcap per hop and all-hops.pcapng.", valueName: "DIR"))
    var captureDirectory: String?

    func check(offline: Bool) throws {
        guard active else { return }
        if offline { throw ValidationError("--active sends probes on the live machine; it does not apply to --snapshot") }
        if let a = probeAddress, IPPrefix(a) == nil { throw ValidationError("--probe-address takes an address with its prefix length, e.g. 10.0.0.250/24") }
        if let d = captureDirectory, FileManager.default.fileExists(atPath: d),
           !((try? FileManager.default.contentsOfDirectory(atPath: d))?.isEmpty ?? false) {
            throw ValidationError("--probe-pcap \(d) exists and is not empty; give a new or empty directory")
        }
        if !(0.1...30).contains(timeout) { throw ValidationError("--probe-timeout must be 0.1 to 30 seconds") }
        if probePrefix.isEmpty || probePrefix.contains(where: { !$0.isLetter && !$0.isNumber && $0 != "-" }) {
            throw ValidationError("--probe-prefix takes letters, digits and '-'")
        }
    }

    var options: ProbeOptions {
        var o = ProbeOptions()
        o.prefix = probePrefix
        o.timeout = .milliseconds(Int(timeout * 1000))
        o.preferProbePort = probePort
        o.probePortAddress = probeAddress.flatMap { IPPrefix($0) }
        o.captureDirectory = captureDirectory
        return o
    }
}

/// What `dhcp` and `dns` share: the instance, active probing, snapshots, and output.
struct ServiceOptions: ParsableArguments {
    @Argument(help: "The instance: IP, MAC, port id or prefix, tap, vm-uuid, domain name or namespace.")
    var instance: String

    @OptionGroup var probing: ActiveOptions
    @OptionGroup var snapshot: SnapshotOptions

    @Option(name: .customLong("netns-prefix"), help: ArgumentHelp(
        "Live: read only the named namespaces whose name starts with PREFIX (and their switches), e.g. a lab's.", valueName: "PREFIX"))
    var namespacePrefix: String?

    @Flag(name: [.customShort("j"), .long], help: "Print JSON.")
    var json = false

    @Flag(name: [.short, .long], help: "Print the walks' hops and every piece of evidence.")
    var verbose = false

    func validate() throws {
        try probing.check(offline: snapshot.isOffline)
        if namespacePrefix != nil && snapshot.isOffline { throw ValidationError("--netns-prefix selects what is read live; it does not apply to --snapshot") }
    }

    /// Prints the report (JSON or text) and exits with its verdict's code.
    func show(_ report: some ServiceReport, probes: [WalkProbe]) throws {
        if json { try printJSON(report) } else { print(report.render(probes: probes, verbose: verbose)) }
        if report.verdict.exitCode != 0 { throw ExitCode(report.verdict.exitCode) }
    }

    /// Collects (or loads) the snapshots and makes the command's report; every failure exits 2
    /// with its message.
    func report<R>(command: String, _ make: ([Snapshot]) async throws -> R) async throws -> R {
        var report: R?
        try await exitingWithStatus2 {
            report = try await make(try await snapshot.snapshots(namespacePrefix: namespacePrefix, command: command))
        }
        guard let report else { throw ExitCode(2) }
        return report
    }
}

/// What `dhcp` and `dns` print: JSON, or text that starts with the verdict.
protocol ServiceReport: Encodable {
    var verdict: ServiceVerdict { get }
    func render(probes: [WalkProbe], verbose: Bool) -> String
}

/// Text both service reports print: the verdict line in its colour, and the findings.
enum ServiceText {
    static func verdict(_ v: ServiceVerdict) -> String {
        switch v.status {
        case .healthy: Style.green(v.line)
        case .problem: Style.red(v.line)
        case .undiagnosed: Style.yellow(v.line)
        }
    }

    static func findings(_ run: DiagnosisRun, verbose: Bool) -> [String] {
        guard !run.findings.isEmpty else { return [] }
        var lines = ["", Style.bold("findings") + " (most likely cause first)"]
        for (n, f) in run.findings.enumerated() {
            lines.append("\(n + 1). \(f.code.rawValue)  \(f.location)")
            lines.append("   \(f.title)")
            for e in (verbose ? f.evidence : Array(f.evidence.prefix(2))) { lines.append("   evidence: \(e)") }
            lines.append("   advice: \(f.advice.summary)")
            for c in f.advice.confirm { lines.append("     confirm: \(c)") }
            for c in f.advice.fix { lines.append("     fix:     \(c)") }
        }
        return lines
    }

    static func walks(_ run: DiagnosisRun, verbose: Bool) -> [String] {
        var lines: [String] = []
        for w in run.walks {
            lines.append("  \(w.description): \(w.result.map { $0.verdict.description } ?? "not walked: \(w.error ?? "?")")")
            if verbose, let r = w.result { lines.append(PathRenderer.render(r, verbose: false)) }
        }
        return lines
    }
}

/// Running a prober with cleanup that always happens: journals of crashed runs are replayed
/// first, this run's journal (probe ports) is undone at the end, also after an error, and
/// SIGINT/SIGTERM/SIGHUP stop the captures and skip the remaining probes instead of ending the
/// process with things left behind.
enum ActiveProbing {
    static func withProber<T>(_ topology: Topology, _ options: ProbeOptions, _ body: (ActiveProber) async throws -> T) async throws -> T {
        let replayed = await CleanupJournal.replayAbandoned()
        if !replayed.undone.isEmpty {
            warn("removed \(replayed.undone.count) things an earlier run left behind: \(replayed.undone.map(\.note).joined(separator: ", "))")
        }
        let journal = try CleanupJournal(purpose: "hopscope active probes")
        let prober = ActiveProber(topology: topology, options: options, journal: journal)
        let signals = installStopSignals { prober.stop() }
        defer { signals.forEach { $0.cancel() } }
        let value: T
        do {
            value = try await body(prober)
        } catch {
            report(await journal.undoAll())
            throw error
        }
        report(await journal.undoAll())
        return value
    }

    static func report(_ r: CleanupReport) {
        for f in r.failures { warn("cleanup: \(f) (run `hopscope cleanup` to retry)") }
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("hopscope: \(text)\n".utf8))
    }

    /// The `observe` step of `DiagnoseCommand.diagnose`: probes the run's walks (those of
    /// `purposes`, or all) and adds the observations. The walk probes are kept in `sink`.
    static func observer(_ options: ProbeOptions, purposes: Set<DiagnosisWalk.Purpose>? = nil,
                         sink: ProbeSink) -> (Diagnoser, inout DiagnosisRun) async throws -> Void {
        { diagnoser, run in
            let probes = try await withProber(diagnoser.topology, options) { await $0.observe(run, only: purposes) }
            run.active = true
            run.observations = ActiveProber.observations(probes)
            sink.probes = probes
        }
    }

    /// A probe that went unanswered while every check found nothing: the run is not healthy even
    /// though no check could say why (printed, and `diagnose` then exits 1).
    static func unansweredProbeLine(_ run: DiagnosisRun) -> String? {
        guard run.verdict.status == .healthy, let o = run.observations.first(where: { !$0.answered }) else { return nil }
        return "problem: \(o.probe) was not answered, though no check explains it (see the probe table)"
    }

    /// The probes of a run as a table: walk, what was sent from where, the answer, and per hop
    /// whether the probe was captured there.
    /// Without `verbose` one line per leg says where the probe was seen; with it, the table of
    /// every hop (captured or why not).
    static func render(_ probes: [WalkProbe], run: DiagnosisRun, verbose: Bool) -> String {
        var lines: [String] = []
        if let l = unansweredProbeLine(run) { lines.append(Style.red(l)) }
        for p in probes {
            let w = run.walks.indices.contains(p.walk) ? run.walks[p.walk] : nil
            lines.append(Style.bold("probe") + " walk \(p.walk) (\(w?.purpose.rawValue ?? "?")): " + (p.result.map {
                "\($0.probe.kind) from \($0.origin.label): " + ($0.answered ? Style.green($0.detail) : Style.red($0.detail))
            } ?? "not probed: \(p.notProbed ?? "?")"))
            if let f = p.captureFile { lines.append("  captured: \(f)") }
            if let a = p.arp {
                lines.append("  arp at the stop: \(a.probe.kind) from \(a.origin.label): " + (a.answered ? Style.green(a.detail) : Style.red(a.detail)))
            }
            guard let r = w?.result, !p.sightings.isEmpty else { continue }
            if !verbose {
                for reply in [false, true] {
                    // The walk's reply hops carry the other leg of the probe than its forward hops.
                    let leg = (p.forwardLeg == .request) != reply ? "requests" : "answers"
                    let mine = p.sightings.filter { p.replyHops.contains($0.hop) == reply }
                    if !mine.isEmpty { lines.append("  \(leg): " + legSummary(mine, hops: r.hops, stop: w?.stopHop)) }
                }
                continue
            }
            var rows: [[String]] = []
            for hop in r.hops {
                let s = p.sightings.first { $0.hop == hop.index }
                let seen = s.map { $0.seen ? "seen" : "NOT SEEN" } ?? "-"
                let what = s?.evidence.first.map { $0.text.split(separator: "\n").first.map(String.init) ?? "" } ?? (p.uncaptured[hop.index] ?? "")
                rows.append([String(hop.index), hop.direction == .forward ? "->" : "<-", hop.device ?? "-", PathRenderer.shorten(hop.namespace), seen,
                             what.count > 90 ? String(what.prefix(89)) + "…" : what])
            }
            lines.append(TextTable.render(header: ["#", "DIR", "DEVICE", "NAMESPACE", "CAPTURE", "WHAT"], rows: rows))
        }
        return lines.joined(separator: "\n")
    }
}

extension ActiveProbing {
    /// `seen at all 8 captured hops`, or `seen at 5 of 8 captured hops: last at hop 18 (qvb…@compute1), missing from hop 20 (tap…@compute1)`.
    static func legSummary(_ sightings: [ProbeObservation.HopSighting], hops: [PathHop], stop: PathHop? = nil) -> String {
        let sorted = sightings.sorted { $0.hop < $1.hop }
        func place(_ i: Int) -> String {
            let h = hops.first { $0.index == i }
            return "hop \(i) (\(h?.device ?? "-")@\(h.map { PathRenderer.shorten($0.node) } ?? "?"))"
        }
        let seen = sorted.filter(\.seen)
        if seen.count == sorted.count {
            if let stop, let last = sorted.last, last.hop < stop.index {
                return Style.yellow("seen at all \(sorted.count) captured hops, the last at \(place(last.hop)), right before the walk stops at \(place(stop.index))")
            }
            return Style.green("seen at all \(sorted.count) captured hops")
        }
        if seen.isEmpty { return Style.red("seen at none of the \(sorted.count) captured hops") }
        var text = "seen at \(seen.count) of \(sorted.count) captured hops: last at \(place(seen.last!.hop))"
        if let missing = sorted.first(where: { !$0.seen && $0.hop > seen.last!.hop }) { text += ", missing from \(place(missing.hop))" }
        return Style.yellow(text)
    }
}

/// Where the observer leaves the walk probes for the command to print.
final class ProbeSink: @unchecked Sendable {
    var probes: [WalkProbe] = []
}

// MARK: - dhcp

/// `hopscope dhcp INSTANCE [--active]`: the guide's DHCP procedure: the DHCP namespace and
/// dnsmasq for the instance's network, its command line, the hosts and lease lines for the
/// instance's MAC, the options it gives the subnet, the security-group rules for ports 67/68,
/// the path between instance and dnsmasq, the findings; with `--active` a real exchange captured
/// on every hop and the options offered checked against the subnet.
struct DHCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dhcp",
        abstract: "Check an instance's DHCP: its server, host and lease entries, options, security-group rules and path.",
        discussion: """
            INSTANCE as for `hopscope diagnose`. Shows the DHCP namespace and dnsmasq process serving the
            instance's network with its command line, the hosts-file and leases lines for the instance's MAC,
            the DHCP options for its subnet (router, DNS server, MTU), the security-group rules for UDP 67/68
            in both directions, the walk of a DHCP reply from dnsmasq to the instance and of its request
            back, and the findings (DHCP_SERVER_DOWN, DHCP_NO_HOST_ENTRY, DHCP_REPLY_BLOCKED, ...).
            --active (root, live) also runs a DHCP exchange (discover, offer, request, ack) with the
            instance's MAC from its namespace (the lab) or from a probe port on its bridge, captures it on
            every hop, and checks the offered address, router, DNS server and MTU against the subnet.
            Exit status: 0 healthy, 1 a problem was found, 2 could not diagnose (or a usage or runtime error).
            """)

    @OptionGroup var common: ServiceOptions

    func run() async throws {
        let sink = ProbeSink()
        let report = try await common.report(command: "dhcp") { snapshots in
            try await DHCPReport.make(instance: common.instance, snapshots: snapshots, active: common.probing.active ? common.probing.options : nil, sink: sink)
        }
        try common.show(report, probes: sink.probes)
    }
}

/// What `hopscope dhcp` found, in the order it is shown. Codable: `--json` prints it.
struct DHCPReport: Codable, ServiceReport {
    struct Server: Codable {
        var namespace: String
        var node: String
        var pid: Int32
        var commandLine: String
        var interfaces: [String]
        var ranges: [String]
        var hostsFile: String?
        var hostLines: [String]
        var leaseLines: [String]
        var warnings: [String]
    }
    var instance: String
    var mac: String?
    var address: String?
    var subnet: String?
    var servers: [Server]
    /// `option NAME VALUES (source)`.
    var options: [String]
    /// Security-group lines for UDP 67/68 (`namespace: -A chain ...`).
    var securityGroupRules: [String]
    var run: DiagnosisRun
    var exchange: ProbeResult?
    var optionChecks: [DHCPOptionCheck]
    var verdict: ServiceVerdict

    static let codes: Set<DiagnosisCode> = [.dhcpServerDown, .dhcpNoHostEntry, .dhcpReplyBlocked]

    static func make(instance query: String, snapshots: [Snapshot], active: ProbeOptions?, sink: ProbeSink) async throws -> DHCPReport {
        let request = DiagnosisRequest(instance: query)
        let run = try await DiagnoseCommand.diagnose(request, snapshots: snapshots, observe: { diagnoser, run in
            // Only the DHCP walk: the other walks belong to `diagnose`.
            run.walks = run.walks.filter { $0.purpose == .dhcp }
            if let active { try await ActiveProbing.observer(active, sink: sink)(diagnoser, &run) }
        })
        let topology = Topology(snapshots: snapshots)
        let inst = run.instance
        let services = InstanceServices(topology: topology, instance: inst)
        let macs = DiagnosisContext(topology: topology, run: run).portMACs
        var servers: [Server] = []
        for s in services.dhcpServers {
            servers.append(Server(
                namespace: s.namespace.label, node: topology.namespace(s.namespace)?.node ?? "?", pid: s.pid,
                commandLine: s.arguments.joined(separator: " "), interfaces: s.interfaces, ranges: s.ranges, hostsFile: s.hostsFile,
                hostLines: s.hosts.filter { h in h.mac.map(macs.contains) ?? false }.map { "\(s.hostsFile ?? "hosts"):\($0.line): \($0.raw)" },
                leaseLines: s.leases.filter { l in l.mac.map(macs.contains) ?? false }.map(\.raw),
                warnings: s.warnings))
        }
        let options = services.options.map { "\($0.name) \($0.values.joined(separator: ",")) (\($0.source): \($0.raw))" }
        var checks: [DHCPOptionCheck] = []
        let probes = sink.probes
        let exchange = probes.first?.result
        if let ack = exchange?.dhcpAck ?? exchange?.dhcpOffer {
            checks = DHCPOptionCheck.check(ack, instance: inst, services: services, topology: topology)
        }
        var report = DHCPReport(
            instance: inst.name, mac: macs.first?.description, address: inst.ipv4?.description, subnet: services.subnet?.description,
            servers: servers, options: options, securityGroupRules: DHCPReport.securityGroupRules(inst, topology: topology),
            run: run, exchange: exchange, optionChecks: checks, verdict: ServiceVerdict(run.verdict))
        report.verdict = report.conclusion()
        return report
    }

    /// The verdict: the diagnosis' when it found something; else a failed exchange or a wrong
    /// option; else no server at all; else healthy.
    func conclusion() -> ServiceVerdict {
        if run.verdict.status == .problem { return ServiceVerdict(run.verdict) }
        if let e = exchange, !e.answered { return ServiceVerdict(status: .problem, line: "DHCP fails: \(e.detail)") }
        if let bad = optionChecks.first(where: { !$0.ok }) {
            return ServiceVerdict(status: .problem, line: "DHCP gives \(instance) a wrong \(bad.option): \(bad.offered), expected \(bad.expected)")
        }
        if servers.isEmpty {
            return ServiceVerdict(status: .problem, line: "DHCP fails: no DHCP server (dnsmasq) serves \(instance)'s subnet \(subnet ?? "?") in the snapshots")
        }
        if run.verdict.status == .undiagnosed { return ServiceVerdict(run.verdict) }
        let how = exchange.map { "; \($0.detail)" } ?? ""
        return ServiceVerdict(status: .healthy, line: "healthy: DHCP for \(instance) is served by \(servers.map { "dnsmasq \($0.pid) in \($0.namespace)" }.joined(separator: ", ")) and the path works both ways\(how)")
    }

    /// The security-group rules about DHCP (UDP 67/68) in the chains of the instance's port, on
    /// the node of its tap: `-A neutron-openvswi-o1234… -p udp … --dport 67 -j RETURN`.
    static func securityGroupRules(_ instance: Instance, topology: Topology) -> [String] {
        guard let stem = instance.values(.portID).max(by: { $0.count < $1.count }).map({ String($0.prefix(10)) }) else { return [] }
        let ns = instance.tap.namespace
        guard let dump = topology.snapshots[ns.snapshot].firewallDumps(namespace: ns.label)?.iptablesSave else { return [] }
        var out: [String] = []
        for raw in dump.split(separator: "\n") {
            // `iptables-save -c` puts the counters first: `[12:3456] -A chain ...`.
            let l = raw.hasPrefix("[") ? String(raw.drop { $0 != "]" }.dropFirst().drop { $0 == " " }) : String(raw)
            guard l.hasPrefix("-A "), l.contains(stem) else { continue }
            if l.range(of: #"--[ds]ports? ([0-9,:]*\b)?6[78]\b"#, options: .regularExpression) != nil
                || l.range(of: #"--dport 67:68|--sport 67:68"#, options: .regularExpression) != nil {
                out.append("\(ns.label): \(l)")
            }
        }
        return out
    }

    func render(probes: [WalkProbe], verbose: Bool) -> String {
        var lines = [ServiceText.verdict(verdict)]
        lines.append("")
        lines.append(Style.bold("dhcp") + " \(instance): mac \(mac ?? "?"), address \(address ?? "?"), subnet \(subnet ?? "?")")
        if servers.isEmpty { lines.append("  no DHCP namespace or dnsmasq serves this subnet in the snapshots") }
        for s in servers {
            lines.append("")
            lines.append(Style.bold("server") + " dnsmasq \(s.pid) in \(s.namespace) on \(s.node)" + (s.interfaces.isEmpty ? "" : ", interface \(s.interfaces.joined(separator: ","))"))
            lines.append("  command: \(s.commandLine)")
            lines.append("  hosts file \(s.hostsFile ?? "(none)"): " + (s.hostLines.isEmpty ? Style.red("no line for \(mac ?? "the instance's MAC")") : ""))
            for h in s.hostLines { lines.append("    \(h)") }
            lines.append("  leases: " + (s.leaseLines.isEmpty ? "no lease for \(mac ?? "the MAC")" : ""))
            for l in s.leaseLines { lines.append("    \(l)") }
            for w in s.warnings { lines.append("  warning: \(w)") }
        }
        if !options.isEmpty {
            lines.append("")
            lines.append(Style.bold("options") + " for the subnet")
            for o in options { lines.append("  \(o)") }
        }
        lines.append("")
        lines.append(Style.bold("security group") + " rules for UDP 67/68 (both directions)")
        if securityGroupRules.isEmpty { lines.append("  none in the instance's port chains (or no security-group chains for it)") }
        for r in securityGroupRules { lines.append("  \(r)") }
        lines.append("")
        lines.append(Style.bold("path") + " between dnsmasq and \(instance)")
        lines += ServiceText.walks(run, verbose: verbose)
        lines += ServiceText.findings(run, verbose: verbose)
        if let e = exchange {
            lines.append("")
            lines.append(Style.bold("exchange") + " from \(e.origin.label), xid 0x\(String(e.probe.transactionID, radix: 16))")
            for r in [e.dhcpOffer, e.dhcpAck].compactMap({ $0 }) { lines.append("  \(r.summary)") }
            if e.dhcpOffer == nil { lines.append("  " + Style.red(e.detail)) }
            for c in optionChecks {
                lines.append("  \(c.ok ? Style.green("ok") : Style.red("WRONG"))  \(c.option): offered \(c.offered), expected \(c.expected)")
            }
        }
        if !probes.isEmpty {
            lines.append("")
            lines.append(ActiveProbing.render(probes, run: run, verbose: verbose))
        }
        for n in run.notes where n.contains("DHCP") { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

/// The conclusion of `dhcp` and `dns`: the diagnosis' verdict, or one of their own (a failed
/// exchange, a wrong option, an unanswered query).
struct ServiceVerdict: Codable {
    var status: DiagnosisVerdict.Status
    var line: String

    init(status: DiagnosisVerdict.Status, line: String) {
        self.status = status
        self.line = line
    }

    init(_ v: DiagnosisVerdict) { self.init(status: v.status, line: v.line) }

    var exitCode: Int32 { DiagnosisVerdict.exitCode(of: status) }
}

extension DiagnosisVerdict {
    static func exitCode(of status: Status) -> Int32 {
        switch status {
        case .healthy: 0
        case .problem: 1
        case .undiagnosed: 2
        }
    }
}

extension String {
    /// nil for the empty string, so that `?? "(none)"` reads naturally.
    var nonEmpty: String? { isEmpty ? nil : self }
}

// MARK: - dns

/// `hopscope dns INSTANCE [NAME]`: the resolver the instance is given, the dnsmasq serving it,
/// its upstream servers and the paths to them, and (with `--active`) a real query traced hop by
/// hop from the instance to dnsmasq and from dnsmasq to its upstream, with the answer or the hop
/// where it stopped.
struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Check an instance's DNS: its resolver, the dnsmasq serving it, the upstream servers and the paths to them.",
        discussion: """
            INSTANCE as for `hopscope diagnose`. NAME is the name to resolve (default: the instance's own
            host name, which its dnsmasq answers itself; give an outside name to test the upstream too).
            Shows the resolver DHCP gives the instance and how that is known, the dnsmasq serving it (DNS
            port, upstream servers with the arguments naming them), the walk of a query from the instance
            to the resolver and of the resolver's query to each upstream, and the findings
            (DNS_SERVER_DOWN, DNS_UPSTREAM_UNREACHABLE, FIREWALL_DROP, ...).
            --active (root, live) sends a real query for NAME from the instance (its namespace, or a probe
            port with --probe-address) and, for each upstream, from the dnsmasq's namespace, capturing every
            hop, and prints the answer or the hop where the query or its answer was last seen.
            Exit status: 0 healthy, 1 a problem was found, 2 could not diagnose (or a usage or runtime error).
            """)

    @OptionGroup var common: ServiceOptions

    @Argument(help: "The name to resolve.")
    var name: String?

    func run() async throws {
        let sink = ProbeSink()
        var options = common.probing.options
        options.dnsName = name
        let report = try await common.report(command: "dns") { snapshots in
            try await DNSReport.make(instance: common.instance, name: name, snapshots: snapshots,
                                     active: common.probing.active ? options : nil, sink: sink)
        }
        try common.show(report, probes: sink.probes)
    }
}

/// What `hopscope dns` found. Codable: `--json` prints it.
struct DNSReport: Codable, ServiceReport {
    struct Upstream: Codable {
        var address: String
        var argument: String
    }
    var instance: String
    var name: String?
    var resolver: String?
    var resolverHow: String?
    var server: String?
    var serverCommandLine: String?
    var dnsPort: Int?
    var upstreams: [Upstream]
    var run: DiagnosisRun
    var answers: [ProbeResult]
    var verdict: ServiceVerdict

    static func make(instance query: String, name: String?, snapshots: [Snapshot], active: ProbeOptions?, sink: ProbeSink) async throws -> DNSReport {
        let topology = Topology(snapshots: snapshots)
        var resolverInfo: (address: IPAddress, how: String, server: DHCPServer?)?
        let run = try await DiagnoseCommand.diagnose(DiagnosisRequest(instance: query), snapshots: snapshots, observe: { diagnoser, run in
            run.walks = run.walks.filter { $0.purpose == .dns || $0.purpose == .dnsUpstream }
            let services = InstanceServices(topology: diagnoser.topology, instance: run.instance)
            resolverInfo = services.resolver(topology: diagnoser.topology)
            // The resolver's queries to its upstreams, when the plan did not walk them already.
            if !run.walks.contains(where: { $0.purpose == .dnsUpstream }), let r = resolverInfo, let s = r.server {
                let tracer = PathTracer(topology: diagnoser.topology)
                for (up, argument) in InstanceServices.upstreams(s) {
                    var w = DiagnosisWalk(purpose: .dnsUpstream, description: "\(r.address)'s query to its upstream \(up) (\(argument))",
                                          source: r.address.description, destination: up.description, proto: "udp:53")
                    do {
                        w.result = try tracer.trace(from: r.address.description, to: up.description, proto: .udp(53), onBehalfOf: query)
                    } catch { w.error = "\(error)" }
                    run.walks.append(w)
                }
            }
            if let active { try await ActiveProbing.observer(active, sink: sink)(diagnoser, &run) }
        })
        let server = resolverInfo?.server
        var report = DNSReport(
            instance: run.instance.name, name: name, resolver: resolverInfo?.address.description, resolverHow: resolverInfo?.how,
            server: server.map { "dnsmasq \($0.pid) in \($0.namespace.label)" }, serverCommandLine: server?.arguments.joined(separator: " "),
            dnsPort: server.map(InstanceServices.dnsPort),
            upstreams: server.map { InstanceServices.upstreams($0).map { Upstream(address: $0.address.description, argument: $0.argument) } } ?? [],
            run: run, answers: sink.probes.compactMap(\.result), verdict: ServiceVerdict(run.verdict))
        report.verdict = report.conclusion(probes: sink.probes)
        _ = topology
        return report
    }

    func conclusion(probes: [WalkProbe]) -> ServiceVerdict {
        if run.verdict.status == .problem { return ServiceVerdict(run.verdict) }
        if resolver == nil { return ServiceVerdict(status: .problem, line: "DNS fails: DHCP gives \(instance) no DNS server") }
        if dnsPort == 0 { return ServiceVerdict(status: .problem, line: "DNS fails: \(server ?? "the dnsmasq") has DNS turned off (--port=0)") }
        for p in probes {
            guard let r = p.result, !r.answered else { continue }
            let last = p.sightings.filter(\.seen).map(\.hop).max()
            return ServiceVerdict(status: .problem, line: "DNS fails: \(r.detail)" + (last.map { "; the query was last seen at hop \($0) of walk \(p.walk)" } ?? ""))
        }
        if let rcode = probes.first?.result?.dns?.rcode, rcode != "NOERROR" {
            return ServiceVerdict(status: .problem, line: "DNS answers \(rcode) for \(name ?? "the name")")
        }
        if run.verdict.status == .undiagnosed { return ServiceVerdict(run.verdict) }
        let answer = probes.first?.result.map { "; \($0.detail)" } ?? ""
        return ServiceVerdict(status: .healthy, line: "healthy: \(instance) resolves through \(resolver ?? "?") and its upstreams can be reached\(answer)")
    }

    func render(probes: [WalkProbe], verbose: Bool) -> String {
        var lines = [ServiceText.verdict(verdict)]
        lines.append("")
        lines.append(Style.bold("dns") + " \(instance)" + (name.map { ", resolving \($0)" } ?? ""))
        lines.append("  resolver: \(resolver ?? "(none)")" + (resolverHow.map { ": \($0)" } ?? ""))
        lines.append("  server: \(server ?? "(none in the snapshots)")" + (dnsPort.map { ", DNS port \($0)" } ?? ""))
        if let c = serverCommandLine { lines.append("  command: \(c)") }
        if upstreams.isEmpty { lines.append("  upstreams: none (--server); dnsmasq then uses the namespace's resolv.conf or answers only local names") }
        for u in upstreams { lines.append("  upstream: \(u.address) (\(u.argument))") }
        lines.append("")
        lines.append(Style.bold("paths"))
        lines += ServiceText.walks(run, verbose: verbose)
        lines += ServiceText.findings(run, verbose: verbose)
        if !probes.isEmpty {
            lines.append("")
            for a in answers { lines.append(Style.bold("query") + " \(a.probe.kind) from \(a.origin.label) to \(a.probe.destination?.description ?? "?"): \(a.detail)") }
            lines.append(ActiveProbing.render(probes, run: run, verbose: verbose))
        }
        for n in run.notes where n.contains("DNS") { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }
}
