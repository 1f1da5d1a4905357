import ArgumentParser
import Foundation
import HopscopeModel
import Lab

extension CommandGroups {
    static var lab: [any ParsableCommand.Type] { [LabCommand.self] }
}

/// `hopscope lab`: the built-in OpenStack lab.
struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Build, break and remove a built-in OpenStack (ML2/Open vSwitch) lab made of network namespaces.",
        discussion: """
            The lab is a compute node with instances plugged the hybrid way (tap, qbr, qvb/qvo, br-int): \
            namespace instances (vm1...) and tap instances (tapvm1...), guests behind a real tap device \
            held by a process of the lab's, as on a real compute node; \
            a network node with the DHCP agent's qdhcp- and the L3 agent's qrouter- namespaces, VXLAN \
            between the br-tun bridges, and an external network with a gateway and an upstream DNS \
            server. Each host is a network namespace with its own Open vSwitch. Needs root.

            --prefix P (or HOPSCOPE_LAB_PREFIX=P) names every namespace P-<name> and gives the lab its \
            own state directory, so several labs can run at once.
            """,
        subcommands: [LabUp.self, LabDown.self, LabStatusCommand.self, LabCheckCommand.self, LabFaultsCommand.self,
                      LabBreak.self, LabRepair.self, LabExec.self, LabTapCommand.self, LabRecordCaptures.self, LabGuestCommand.self])
}

/// Options every lab subcommand shares.
struct LabOptions: ParsableArguments {
    @Option(help: "Namespace prefix of the lab (default: $HOPSCOPE_LAB_PREFIX, else none).")
    var prefix: String?

    func lab() throws -> Lab { try Lab(prefix: prefix) }
}

/// Runs a lab command body; errors are printed with what to do and exit with status 2.
func runLab(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let code as ExitCode {
        throw code
    } catch {
        FileHandle.standardError.write(Data("hopscope: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

struct LabUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Build the lab (removing any previous or half-built lab with the same prefix).")
    @OptionGroup var options: LabOptions
    @Option(help: "Number of namespace instances on the compute node (1-\(LabPlan.maximumInstanceCount)).")
    var instances = LabPlan.defaultInstanceCount
    @Option(help: "Number of tap instances (guests behind a real tap device) on the compute node (0-\(LabPlan.maximumTapInstanceCount)).")
    var tapInstances = LabPlan.defaultTapInstanceCount
    @Flag(help: "Keep a half-built lab when a step fails, to look at it (remove it with `lab down`).")
    var keepOnFailure = false
    @Flag(name: [.customShort("j"), .long], help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (1...LabPlan.maximumInstanceCount).contains(instances) else {
            throw ValidationError("--instances must be between 1 and \(LabPlan.maximumInstanceCount)")
        }
        guard (0...LabPlan.maximumTapInstanceCount).contains(tapInstances) else {
            throw ValidationError("--tap-instances must be between 0 and \(LabPlan.maximumTapInstanceCount)")
        }
        guard tapInstances == 0 || instances <= LabPlan.maximumInstanceCountWithTaps else {
            throw ValidationError("with tap instances, --instances must be at most \(LabPlan.maximumInstanceCountWithTaps) (their addresses start at .31); add --tap-instances 0 for more")
        }
    }

    func run() async throws {
        try await runLab {
            let report = try await options.lab().up(instances: instances, tapInstances: tapInstances, keepOnFailure: keepOnFailure)
            if json { return try printJSON(report) }
            let p = report.plan
            print("lab\(label(p.prefix)) is up: \(p.instances.count) instance(s), \(p.tapInstances.count) tap instance(s), \(p.namespaces.count) namespaces, "
                  + "in \(String(format: "%.2f", report.seconds)) s")
            printTable(["STEP", "SECONDS"], report.steps.map { [$0.name, String(format: "%.3f", $0.seconds)] })
            print("next: hopscope lab status\(flag(p.prefix)), hopscope lab check\(flag(p.prefix)), hopscope lab faults")
        }
    }
}

struct LabDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Remove the lab: its daemons (by recorded PID), namespaces and files.")
    @OptionGroup var options: LabOptions
    @Flag(name: [.customShort("j"), .long], help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        try await runLab {
            let lab = try options.lab()
            let report = try await lab.down()
            if json { return try printJSON(report) }
            if report.namespaces.isEmpty && report.processes.isEmpty {
                print("no lab\(label(lab.prefix)) was up; nothing to remove")
            } else {
                print("lab\(label(lab.prefix)) removed: \(report.namespaces.count) namespaces, \(report.processes.count) processes, "
                      + "in \(String(format: "%.2f", report.seconds)) s")
            }
        }
    }
}

struct LabStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the lab has, what is alive and which faults are applied (exit 1 unless up and complete).")
    @OptionGroup var options: LabOptions
    @Flag(name: [.customShort("j"), .long], help: "Print the status, with the whole plan under \"plan\", as JSON.")
    var json = false

    func run() async throws {
        var complete = false
        try await runLab {
            let status = try options.lab().status()
            complete = status.complete
            if json { return try printJSON(status) }
            printStatus(status)
        }
        if !complete { throw ExitCode(1) }
    }

    func printStatus(_ s: LabStatus) {
        let p = s.plan
        guard s.phase != "absent" else {
            print("no lab\(label(s.prefix)) is up (state directory \(s.stateDirectory) is absent)")
            print(verdict(false, "start one with: hopscope lab up\(flag(s.prefix))"))
            return
        }
        print("lab\(label(s.prefix)): \(s.phase), state in \(s.stateDirectory)")
        print("")
        printTable(["NAMESPACE", "ROLE", "PRESENT"], s.namespaces.map { [$0.name, role(of: $0.name, in: p), $0.present ? "yes" : paint("missing", .red)] })
        print("")
        printTable(["DAEMON", "NAMESPACE", "PID", "STATE"], s.processes.map {
            [$0.role, $0.namespace, "\($0.pid)", $0.running ? "running" : paint("stopped", .red)]
        })
        print("")
        printTable(["INSTANCE", "KIND", "ADDRESS", "MAC", "PORT", "TAP / QBR / QVO", "VLAN"], p.instancePorts.map {
            [$0.name, $0 is LabTapInstance ? "tap guest" : "namespace", "\($0.address)", "\($0.mac)", String($0.portID.prefix(13)) + "…",
             "\($0.tapDevice) \($0.linuxBridge) \($0.ovsPort)", "\($0.localVLAN)"]
        })
        for vm in p.tapInstances {
            let guest = s.tapGuests.first { $0.name == vm.name }
            let lease = guest?.lease.map { "lease \($0.address)/\($0.prefixLength) router \($0.router.map { "\($0)" } ?? "none") mtu \($0.effectiveMTU)" }
            print("\(vm.name): DHCP \(guest?.dhcpState.rawValue ?? "unknown"), \(lease ?? "no lease")  (state in \(vm.directory))")
        }
        print("")
        print("network \(p.network.name) \(p.network.id): \(p.network.cidr), VNI \(p.network.segmentationID), MTU \(p.network.mtu), "
              + "local VLAN \(p.computeNode.localVLAN) on \(p.computeNode.name) and \(p.networkNode.localVLAN) on \(p.networkNode.name)")
        print("dhcp \(p.dhcp.address) on \(p.dhcp.interface) (\(p.dhcp.namespace)), upstream DNS \(p.dhcp.upstreamServer)")
        print("router \(p.router.internalPort.name) \(p.router.internalPort.address), \(p.router.gatewayPort.name) \(p.router.gatewayPort.address), "
              + "floating IP \(p.router.floatingIP.address) -> \(p.router.floatingIP.fixedAddress) (\(p.router.floatingIP.instance))")
        print("tunnel \(p.computeNode.vxlanPort) \(p.computeNode.underlayAddress) <-> \(p.networkNode.vxlanPort) \(p.networkNode.underlayAddress)")
        print("OVS: OVS_RUNDIR=\(p.computeNode.ovs.rundir) ovs-vsctl show   (\(p.networkNode.name): \(p.networkNode.ovs.rundir))")
        print("")
        print("faults applied: " + (s.appliedFaults.isEmpty ? "none" : s.appliedFaults.joined(separator: ", ")))
        let missing = s.namespaces.filter { !$0.present }.map(\.name) + s.processes.filter { !$0.running }.map { "\($0.role) in \($0.namespace)" }
        if s.complete {
            print(verdict(true, "every namespace is present and every daemon runs"))
        } else {
            print(verdict(false, s.phase == "up" ? "not complete: " + missing.joined(separator: ", ") : "the lab is \(s.phase)"))
        }
    }

    func role(of namespace: String, in p: LabPlan) -> String {
        if namespace == p.computeNode.namespace { return "compute node" }
        if namespace == p.networkNode.namespace { return "network node" }
        if namespace == p.dhcp.namespace { return "DHCP agent (dnsmasq)" }
        if namespace == p.router.namespace { return "L3 agent router" }
        if namespace == p.external.namespace { return "external network + internet" }
        return p.instances.first { $0.namespace == namespace }.map { "instance \($0.name)" } ?? ""
    }
}

struct LabCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Prove the lab's healthy behaviours with real traffic: DHCP, DNS, pings, SNAT, floating IP, security group (exit 1 if any fails).")
    @OptionGroup var options: LabOptions
    @Option(name: .customLong("only"), help: "Run only this check (repeatable), e.g. dhcp:vm1, dns-upstream, fip-ssh.")
    var only: [String] = []
    @Flag(name: [.customShort("j"), .long], help: "Print the results as JSON.")
    var json = false

    func run() async throws {
        var failed = 0
        try await runLab {
            let results = try await options.lab().check(only: only.isEmpty ? nil : Set(only))
            failed = results.filter { !$0.passed }.count
            if json { return try printJSON(results) }
            printTable(["CHECK", "RESULT", "WHAT", "OBSERVED"], results.map {
                [$0.id, $0.passed ? paint("pass", .green) : paint("FAIL", .red), $0.summary, $0.detail]
            })
            if failed == 0 {
                print(verdict(true, "all \(results.count) checks pass"))
            } else {
                let names = results.filter { !$0.passed }.map(\.id).joined(separator: ", ")
                print(verdict(false, "\(failed) of \(results.count) checks fail: \(names)"))
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

struct LabFaultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "faults", abstract: "List the faults `lab break` can inject.")
    @Flag(name: [.customShort("j"), .long], help: "Print the list as JSON (with what each breaks in a default lab).")
    var json = false

    struct Entry: Codable {
        var name: String
        var summary: String
        /// `lab`, `anyInstance` or `namespaceInstance`: what `--instance` may name.
        var target: String
        var breaks: [String]
        var expectedFailingChecks: [String]
        /// The `hopscope diagnose` command that finds it, and the code its first finding must have.
        var diagnose: String?
        var expectedFinding: String?
    }

    func run() async throws {
        try await runLab {
            let plan = try LabPlan(prefix: nil)
            let entries = LabFaults.all.map {
                Entry(name: $0.name, summary: $0.summary, target: $0.target.rawValue, breaks: $0.breaks(plan).map(\.description).sorted(),
                      expectedFailingChecks: $0.expectedFailures(in: plan).sorted(),
                      diagnose: LabFaultDiagnoses.named($0.name)?.command(in: plan), expectedFinding: LabFaultDiagnoses.named($0.name)?.code)
            }
            if json { return try printJSON(entries) }
            printTable(["FAULT", "--instance", "WHAT IS WRONG", "STOPS (default lab)"], LabFaults.all.indices.map { i in
                let aim = switch LabFaults.all[i].target {
                case .lab: "-"
                case .anyInstance: "any"
                case .namespaceInstance: "vm only"
                }
                return [entries[i].name, aim, entries[i].summary, entries[i].expectedFailingChecks.joined(separator: " ")]
            })
            print("faults marked 'any' can be aimed at any instance, tap instances included: lab break FAULT --instance tapvm1")
        }
    }
}

struct LabBreak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "break", abstract: "Inject a fault into the running lab (see `lab faults`).")
    @OptionGroup var options: LabOptions
    @Argument(help: "The fault's name.")
    var fault: String
    @Option(help: "The instance a fault about one instance is aimed at (vm2, tapvm1, ...; default: its usual one).")
    var instance: String?

    func run() async throws {
        try await runLab {
            let lab = try options.lab()
            let applied = try await lab.apply(fault, instance: instance)
            let f = LabFaults.named(fault)!
            let record = LabAppliedFault(fault: fault, instance: instance).description
            if !applied {
                print("fault \(record) is already applied")
                return
            }
            print("applied \(record): \(f.summary(instance: instance))")
            let expected = try f.expectedFailures(in: try lab.plan, instance: instance).sorted()
            print("expected to stop: \(expected.joined(separator: ", "))")
            print("see it with: hopscope lab check\(flag(lab.prefix)); undo with: hopscope lab repair \(fault)\(flag(lab.prefix))")
        }
    }
}

struct LabRepair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair", abstract: "Undo applied faults (all of them when none is named).")
    @OptionGroup var options: LabOptions
    @Argument(help: "Faults to repair: NAME (wherever applied) or NAME@INSTANCE.")
    var faults: [String] = []

    func run() async throws {
        try await runLab {
            let repaired = try await options.lab().repair(faults.isEmpty ? nil : faults)
            print(repaired.isEmpty ? "no applied fault to repair" : "repaired: \(repaired.joined(separator: ", "))")
        }
    }
}

struct LabTapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Ask a tap instance's guest to ping, redo its DHCP exchange or renew its lease, or show its lease.",
        discussion: """
            A tap instance (tapvm1...) is a guest behind a real tap device, with no namespace to look into; \
            this is how to make it act. Examples:
              hopscope lab tap tapvm1 status
              hopscope lab tap tapvm1 ping 203.0.113.1 -c 3
              hopscope lab tap tapvm1 dhcp
            It pings only the lab's own addresses (exit 1 when the command fails).
            """)
    enum Action: String, ExpressibleByArgument, CaseIterable { case status, ping, dhcp, renew }
    @OptionGroup var options: LabOptions
    @Argument(help: "The tap instance (tapvm1, ...).")
    var name: String
    @Argument(help: "status, ping, dhcp or renew.")
    var action: Action
    @Argument(help: "For ping: the address to ping.")
    var target: String?
    @Option(name: .customShort("c"), help: "For ping: how many echo requests (1-\(TapGuestStack.maximumPingCount)).")
    var count = 3
    @Flag(name: [.customShort("j"), .long], help: "Print the outcome (or status) as JSON.")
    var json = false

    func validate() throws {
        if action == .ping {
            guard let target, IPv4Address(target) != nil else { throw ValidationError("ping needs an IPv4 address to ping") }
            guard (1...TapGuestStack.maximumPingCount).contains(count) else {
                throw ValidationError("-c must be between 1 and \(TapGuestStack.maximumPingCount)")
            }
        }
    }

    func run() async throws {
        var failed = false
        try await runLab {
            let lab = try options.lab()
            let command: TapGuestStack.Command
            switch action {
            case .status:
                guard let status = try lab.tapGuestStatus(name) else {
                    print("\(name) has written no status yet")
                    failed = true
                    return
                }
                if json { return try printJSON(status) }
                let lease = status.lease.map {
                    "\($0.address)/\($0.prefixLength) router \($0.router.map { "\($0)" } ?? "none") dns "
                        + "\($0.dnsServers.map(\.description).joined(separator: ",")) mtu \($0.effectiveMTU) lease \($0.leaseSeconds) s "
                        + "from \($0.serverID) (\($0.acknowledgements) ACK)"
                }
                print("\(name) (PID \(status.pid)\(status.running ? "" : ", stopped")): DHCP \(status.dhcpState.rawValue), \(lease ?? "no lease")")
                failed = status.lease == nil
                return
            case .ping: command = .ping(target: IPv4Address(target ?? "")!, count: count, payloadSize: 56)
            case .dhcp: command = .dhcp
            case .renew: command = .renew
            }
            let outcome = try await lab.tapGuest(name, command)
            failed = !outcome.succeeded
            if json { return try printJSON(outcome) }
            print(verdict(outcome.succeeded, "\(name): \(outcome.detail)"))
        }
        if failed { throw ExitCode(1) }
    }
}

struct LabGuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest", abstract: "Run a tap instance's guest (started by `lab up`; stopped by `lab down`).",
        shouldDisplay: false)
    @Argument(help: "The guest's directory (holding config.json).")
    var directory: String

    func run() throws {
        do {
            try TapGuestRunner.run(directory: directory)
        } catch {
            FileHandle.standardError.write(Data("hopscope lab guest: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct LabExec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a lab namespace: compute1, network1, vm1..., qdhcp, qrouter, external.",
        discussion: "Example: hopscope lab exec vm1 -- ping -c 1 10.0.0.1")
    @OptionGroup var options: LabOptions
    @Argument(help: "The namespace (short name or full name).")
    var namespace: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String] = []

    func run() async throws {
        var argv: [String] = []
        try await runLab {
            let lab = try options.lab()
            guard let ns = try lab.plan.namespace(for: namespace) else { throw LabError.unknownNamespace(namespace) }
            let cmd = command.first == "--" ? Array(command.dropFirst()) : command
            guard !cmd.isEmpty else { throw ValidationError("give a command to run, e.g. -- ip -br addr") }
            argv = ["ip", "netns", "exec", ns] + cmd
        }
        // Replace this process, so the command's output, input and exit status are the user's.
        let cArgs = argv.map { strdup($0) } + [nil]
        execvp("ip", cArgs)
        FileHandle.standardError.write(Data("hopscope: could not run ip: \(String(cString: strerror(errno)))\n".utf8))
        throw ExitCode(2)
    }
}

struct LabRecordCaptures: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record-captures", abstract: "Record the captures/ fixtures in the running lab (used by scripts/record-captures).",
        shouldDisplay: false)
    @OptionGroup var options: LabOptions
    @Argument(help: "Directory to write the pcap files to.")
    var directory: String

    func run() async throws {
        try await runLab {
            let files = try await LabCaptures.record(in: options.lab(), to: directory)
            for f in files { print("\(f.file): \(f.packets) packets, \(f.description)") }
        }
    }
}

// MARK: Output helpers

private func label(_ prefix: String) -> String { prefix.isEmpty ? "" : " '\(prefix)'" }
private func flag(_ prefix: String) -> String { prefix.isEmpty ? "" : " --prefix \(prefix)" }


enum Colour: String { case red = "31", green = "32" }

/// Colours `text` on a terminal unless NO_COLOR is set.
func paint(_ text: String, _ colour: Colour) -> String {
    guard isatty(STDOUT_FILENO) == 1, ProcessInfo.processInfo.environment["NO_COLOR"] == nil else { return text }
    return "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m"
}

/// The closing verdict line.
func verdict(_ ok: Bool, _ text: String) -> String {
    (ok ? paint("OK", .green) : paint("PROBLEM", .red)) + ": " + text
}

/// Prints rows under headers in aligned columns (ANSI colour codes do not count as width).
func printTable(_ headers: [String], _ rows: [[String]]) {
    func width(_ s: String) -> Int {
        var n = 0, inEscape = false
        for ch in s {
            if ch == "\u{1B}" { inEscape = true } else if inEscape { if ch == "m" { inEscape = false } } else { n += 1 }
        }
        return n
    }
    var widths = headers.map(width)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], width(cell)) } }
    for row in [headers] + rows {
        var line = ""
        for (i, cell) in row.enumerated() {
            line += cell
            if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - width(cell) + 2) }
        }
        print(line)
    }
}
