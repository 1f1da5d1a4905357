import Foundation
import HopscopeModel
import Namespaces

/// The built-in OpenStack lab: builds an ML2/Open vSwitch deployment (compute node, network node,
/// instances, DHCP agent, L3 agent, external network) out of network namespaces on this machine,
/// injects named faults into it, and removes it without a trace.
///
/// One `Lab` value stands for the lab with one prefix. Its state lives in
/// `/run/hopscope/lab[-PREFIX]/` (plan, recorded PIDs, what was created), so separate processes
/// (`hopscope lab up`, then `hopscope lab break`, then `hopscope lab down`) work on the same lab.
/// Mutating operations take a file lock on the lab, so they are safe to call concurrently
/// (they wait for each other). Every operation needs root except `plan` and `status`.
public final class Lab: Sendable {
    /// The environment variable that gives the prefix when none is passed.
    public static let prefixVariable = "HOPSCOPE_LAB_PREFIX"

    /// "" for a lab without prefix.
    public let prefix: String
    public let stateRoot: String
    public let stateDirectory: String
    let store: LabStateStore
    let lockPath: String

    /// The lab with `prefix` (nil: `$HOPSCOPE_LAB_PREFIX`, else none).
    /// Throws `LabError.invalidPrefix` for a prefix that cannot name namespaces safely.
    public init(prefix: String? = nil, stateRoot: String = LabPlan.defaultStateRoot) throws {
        let p = prefix ?? ProcessInfo.processInfo.environment[Lab.prefixVariable] ?? ""
        try LabPlan.validate(prefix: p)
        self.prefix = p
        self.stateRoot = stateRoot
        stateDirectory = LabPlan.stateDirectory(prefix: p, root: stateRoot)
        store = LabStateStore(directory: stateDirectory)
        lockPath = "\(stateRoot)/.lab\(p.isEmpty ? "" : "-\(p)").lock"
    }

    /// The recorded state, or nil when no lab with this prefix exists.
    public func state() throws -> LabState? { try store.load() }

    /// The plan of the lab that is up (or being built). Throws `LabError.notUp` when there is none.
    public var plan: LabPlan {
        get throws {
            guard let s = try store.load() else { throw LabError.notUp(prefix: prefix) }
            return s.plan
        }
    }

    // MARK: up / down

    /// What `up` did and how long each step took.
    public struct UpReport: Sendable, Codable {
        public var plan: LabPlan
        /// Seconds per step, in order.
        public var steps: [Step]
        public var seconds: Double
        public struct Step: Sendable, Codable {
            public var name: String
            public var seconds: Double
        }
    }

    /// Builds the lab with `instances` namespace instances and `tapInstances` tap-backed ones,
    /// first removing any lab (complete or half built) with this prefix. Returns when every
    /// instance has its address by DHCP.
    ///
    /// On failure the half-built lab is removed (unless `keepOnFailure`) and the error names the
    /// step, the command, its namespace and its stderr.
    @discardableResult
    public func up(instances: Int = LabPlan.defaultInstanceCount, tapInstances: Int = LabPlan.defaultTapInstanceCount,
                   keepOnFailure: Bool = false) async throws -> UpReport {
        try Lab.requirePrivileges()
        try Lab.requireTools()
        let plan = try LabPlan(prefix: prefix, instances: instances, tapInstances: tapInstances, stateRoot: stateRoot)
        let lock = LabLock(path: lockPath)
        try await lock.lock()
        defer { release(lock) }
        var timer = StepTimer()
        _ = try tearDown()
        timer.mark("removing any previous lab")
        do {
            try await LabBuilder(plan: plan, store: store).build(timer: &timer)
        } catch {
            if !keepOnFailure { _ = try? tearDown() }
            throw error
        }
        return UpReport(plan: plan, steps: timer.steps, seconds: timer.total)
    }

    /// What `down` removed.
    public struct DownReport: Sendable, Codable {
        public var namespaces: [String]
        public var processes: [Int32]
        public var seconds: Double
    }

    /// Removes the lab: stops its daemons by recorded PID (and anything else still running inside
    /// its namespaces), deletes its namespaces, its /etc/netns files and its state directory.
    /// Idempotent: with no lab it does nothing and reports nothing removed.
    @discardableResult
    public func down() async throws -> DownReport {
        try Lab.requirePrivileges()
        let lock = LabLock(path: lockPath)
        try await lock.lock()
        return try downLocked(lock)
    }

    /// `down()` for places where no task can run, such as an `atexit` handler: blocks (up to
    /// `timeout` for the lock, a few seconds for the daemons to stop) instead of suspending.
    @discardableResult
    public func downNow(timeout: Duration = .seconds(30)) throws -> DownReport {
        try Lab.requirePrivileges()
        let lock = LabLock(path: lockPath)
        try lock.lockBlocking(timeout: timeout)
        return try downLocked(lock)
    }

    private func downLocked(_ lock: LabLock) throws -> DownReport {
        let start = ContinuousClock.now
        defer { release(lock) }
        let report = try tearDown()
        return DownReport(namespaces: report.namespaces, processes: report.processes,
                          seconds: StepTimer.seconds(ContinuousClock.now - start))
    }

    /// Removes whatever exists of this prefix's lab, recorded or not. Caller holds the lock.
    ///
    /// Synchronous and free of subprocesses (it signals by PID and deletes namespaces with
    /// umount2/unlink, as `ip netns del` does), so it also runs from an exit handler.
    func tearDown() throws -> (namespaces: [String], processes: [Int32]) {
        let recorded = try? store.load()
        if var s = recorded {
            s.phase = .tearingDown
            try? store.save(s)
        }
        // Every namespace name this prefix's lab can have, so a lab whose state file was lost
        // (or that had more instances) is still found. Exact names only.
        let widest = try LabPlan(prefix: prefix, instances: LabPlan.maximumInstanceCount, tapInstances: 0, stateRoot: stateRoot)
        var names = recorded?.namespaces ?? []
        for n in widest.namespaces + (recorded?.plan.namespaces ?? []) + [LabRuntime.hiddenNamespaceName(prefix: prefix)] where !names.contains(n) {
            names.append(n)
        }
        let existing = names.filter { FileManager.default.fileExists(atPath: "/run/netns/\($0)") }

        // Daemons: recorded ones, plus any whose pid file is still in the state directory.
        var daemons = (recorded?.processes ?? []).filter(ProcessTable.isLabProcessRunning).map(\.pid)
        for (pidFile, marker) in pidFiles() {
            if let pid = ProcessTable.pid(fromFile: pidFile), !daemons.contains(pid), ProcessTable.isRunning(pid),
               ProcessTable.commandLine(pid)?.contains(marker) == true {
                daemons.append(pid)
            }
        }
        let identities = Set(existing.compactMap { ProcessTable.namespaceIdentity(path: "/run/netns/\($0)") })
        var stopped = daemons
        ProcessTable.stop(daemons)
        // Anything else still inside the lab's namespaces (a probe, a capture) goes with them.
        let strays = ProcessTable.processes(in: identities).filter(ProcessTable.isRunning)
        if !strays.isEmpty {
            ProcessTable.stop(strays, grace: .seconds(1))
            stopped += strays
        }
        for name in existing { try deleteNamedNamespace(name) }
        // The unnamed namespace of the veth-peer-hidden fault, held by a file in the state directory.
        try deleteNamespaceMount(LabRuntime.hiddenNamespaceFile(stateDirectory: stateDirectory), step: "deleting the hidden namespace")
        let etcDirectories = Set((recorded?.externalDirectories ?? []) + names.map { "/etc/netns/\($0)" })
        for dir in etcDirectories where FileManager.default.fileExists(atPath: dir) {
            try? FileManager.default.removeItem(atPath: dir)
        }
        if FileManager.default.fileExists(atPath: stateDirectory) {
            try FileManager.default.removeItem(atPath: stateDirectory)
        }
        ProcessTable.reapAdoptedZombies()
        return (existing, stopped)
    }

    /// Releases the lab's lock, and removes the lock file when no lab is left (after `down`, a
    /// failed `up`, or a command that found no lab), so nothing of the lab stays on disk.
    private func release(_ lock: LabLock) {
        lock.unlock(removeFile: !FileManager.default.fileExists(atPath: stateDirectory))
    }

    /// Pid files the lab's daemons write (path, marker expected in the daemon's command line).
    private func pidFiles() -> [(String, String)] {
        var files: [(String, String)] = []
        let fm = FileManager.default
        for entry in (try? fm.contentsOfDirectory(atPath: stateDirectory)) ?? [] where entry.hasPrefix("ovs-") {
            let rundir = "\(stateDirectory)/\(entry)"
            files += [("\(rundir)/ovsdb-server.pid", rundir), ("\(rundir)/ovs-vswitchd.pid", rundir)]
        }
        for entry in (try? fm.contentsOfDirectory(atPath: "\(stateDirectory)/dhcp")) ?? [] {
            let pid = "\(stateDirectory)/dhcp/\(entry)/pid"
            files.append((pid, pid))
        }
        let upstream = "\(stateDirectory)/upstream-dns/pid"
        files.append((upstream, upstream))
        for entry in (try? fm.contentsOfDirectory(atPath: "\(stateDirectory)/guests")) ?? [] {
            let directory = "\(stateDirectory)/guests/\(entry)"
            files.append(("\(directory)/pid", directory))
        }
        return files
    }

    // MARK: status

    /// What exists and what runs.
    public func status() throws -> LabStatus {
        let recorded = try store.load()
        let plan = try recorded?.plan ?? LabPlan(prefix: prefix, stateRoot: stateRoot)
        let namespaces = plan.namespaces.map {
            LabStatus.NamespaceStatus(name: $0, present: FileManager.default.fileExists(atPath: "/run/netns/\($0)"))
        }
        let processes = (recorded?.processes ?? []).map {
            LabStatus.ProcessStatus(role: $0.role.rawValue, namespace: $0.namespace, pid: $0.pid,
                                    running: ProcessTable.isLabProcessRunning($0))
        }
        let guests = recorded == nil ? [] : plan.tapInstances.compactMap { try? TapGuestControl.status(of: $0) }
        return LabStatus(prefix: prefix, phase: recorded?.phase.rawValue ?? "absent", stateDirectory: stateDirectory,
                         plan: plan, namespaces: namespaces, processes: processes,
                         appliedFaults: recorded?.appliedFaults ?? [], tapGuests: guests)
    }

    // MARK: faults

    /// Applies the fault named `name`, aimed at `instance` (an instance's name, `vm2` or
    /// `tapvm1`; nil: the fault's default instance) when the fault concerns an instance.
    /// Returns false (and changes nothing) when it is already applied there. Throws
    /// `LabError.unknownFault`, `.faultTarget`, `.notUp`, or the step that failed.
    @discardableResult
    public func apply(_ name: String, instance: String? = nil) async throws -> Bool {
        try await withRuntime { runtime, state in
            let fault = try Lab.fault(name)
            let scope = try fault.scope(in: state.plan, instance: instance)
            let record = Lab.record(fault, scope)
            if state.appliedFaults.contains(record.description) { return false }
            try await fault.applyBody(runtime, scope)
            try await runtime.recorder.update { $0.appliedFaults.append(record.description) }
            return true
        }
    }

    /// Repairs the applied faults named in `names` (all applied faults when nil), newest first,
    /// and returns what was repaired. A name repairs the fault wherever it was aimed;
    /// `NAME@INSTANCE` only there.
    @discardableResult
    public func repair(_ names: [String]? = nil) async throws -> [String] {
        try await withRuntime { runtime, state in
            let wanted = try names?.map { name -> LabAppliedFault in
                let entry = LabAppliedFault(record: name)
                _ = try Lab.fault(entry.fault)
                return entry
            }
            let targets = state.appliedFaults.reversed().filter { record in
                let applied = LabAppliedFault(record: record)
                return wanted?.contains { $0.fault == applied.fault && ($0.instance == nil || $0.instance == applied.instance) } ?? true
            }
            for record in targets {
                let applied = LabAppliedFault(record: record)
                let fault = try Lab.fault(applied.fault)
                try await fault.repairBody(runtime, try fault.scope(in: state.plan, instance: applied.instance))
                try await runtime.recorder.update { s in s.appliedFaults.removeAll { $0 == record } }
            }
            return Array(targets)
        }
    }

    /// How an application is recorded: the name alone when aimed at the default instance.
    static func record(_ fault: LabFault, _ scope: LabFaultScope) -> LabAppliedFault {
        let aimed = fault.target == .lab || scope.instance.name == fault.defaultInstance(scope.plan).name
        return LabAppliedFault(fault: fault.name, instance: aimed ? nil : scope.instance.name)
    }

    // MARK: tap guests

    /// What the tap instance `name` last wrote about itself (DHCP state, lease), or nil
    /// before it wrote anything. Throws `LabError.unknownInstance` for a name that is not a tap instance.
    public func tapGuestStatus(_ name: String) throws -> TapGuestStatus? {
        try TapGuestControl.status(of: tapInstance(name))
    }

    /// Has the tap instance `name` run `command` (ping, DHCP exchange, renewal) and returns its
    /// outcome. Throws `LabError.guestNotRunning` or `.guestNotAnswering` (with its log's end).
    public func tapGuest(_ name: String, _ command: TapGuestStack.Command) async throws -> TapGuestStack.Outcome {
        try Lab.requirePrivileges()
        return try await TapGuestControl.send(command, to: tapInstance(name))
    }

    private func tapInstance(_ name: String) throws -> LabTapInstance {
        let p = try plan
        guard let vm = p.tapInstance(named: name) else {
            throw LabError.unknownInstance(name, known: p.tapInstances.map(\.name))
        }
        return vm
    }

    /// Runs the healthy-behaviour checks against the lab that is up (see `LabChecks`).
    public func check(only: Set<String>? = nil) async throws -> [LabCheckResult] {
        try Lab.requirePrivileges()
        let p = try plan
        let known = LabChecks.all(for: p).map(\.id)
        if let unknown = only?.subtracting(known).sorted().first { throw LabError.unknownCheck(unknown, known: known) }
        return await LabChecks.run(p, only: only)
    }

    /// Runs `argv` inside the lab namespace `namespace` (a full name from the plan, or a short
    /// one: `compute1`, `network1`, `vm1`, `qdhcp`, `qrouter`, `external`). With `check`, a
    /// non-zero exit throws `CommandError`.
    @discardableResult
    public func run(_ argv: [String], in namespace: String, input: String? = nil,
                    timeout: Duration = .seconds(60), check: Bool = true) async throws -> CommandResult {
        guard let ns = try plan.namespace(for: namespace) else { throw LabError.unknownNamespace(namespace) }
        return try await HostCommand.run(argv, in: .named(ns), input: input, timeout: timeout, check: check)
    }

    /// Runs an OVS tool (`ovs-vsctl`, `ovs-ofctl`, `ovs-appctl`, `ovsdb-client`) against a node's
    /// own Open vSwitch (`compute1` or `network1`).
    @discardableResult
    public func ovs(_ tool: String, _ arguments: [String], node: String, check: Bool = true) async throws -> CommandResult {
        let p = try plan
        guard let n = p.nodes.first(where: { $0.name == node || $0.namespace == node }) else {
            throw LabError.unknownNamespace(node)
        }
        return try await HostCommand.run([tool] + arguments, environment: n.ovs.environment, check: check)
    }

    private func withRuntime<T: Sendable>(_ body: @Sendable (LabRuntime, LabState) async throws -> T) async throws -> T {
        try Lab.requirePrivileges()
        let lock = LabLock(path: lockPath)
        try await lock.lock()
        defer { release(lock) }
        guard let state = try store.load(), state.phase == .up else { throw LabError.notUp(prefix: prefix) }
        let runtime = LabRuntime(plan: state.plan, recorder: LabStateRecorder(state: state, store: store))
        return try await body(runtime, state)
    }

    static func fault(_ name: String) throws -> LabFault {
        guard let f = LabFaults.named(name) else { throw LabError.unknownFault(name, known: LabFaults.all.map(\.name)) }
        return f
    }

    // MARK: requirements

    /// Throws `LabError.notRoot` unless this process is root.
    public static func requirePrivileges() throws {
        guard geteuid() == 0 else { throw LabError.notRoot }
    }

    /// The programs the lab runs, with the Debian package of each.
    public static let requiredTools: [(tool: String, package: String)] = [
        ("ip", "iproute2"), ("ovsdb-tool", "openvswitch-switch"), ("ovsdb-server", "openvswitch-switch"),
        ("ovs-vswitchd", "openvswitch-switch"), ("ovs-vsctl", "openvswitch-switch"), ("ovs-ofctl", "openvswitch-switch"),
        ("iptables-restore", "iptables"), ("ipset", "ipset"), ("dnsmasq", "dnsmasq-base"), ("ethtool", "ethtool"),
        ("busybox", "busybox"), ("dig", "dnsutils"), ("ping", "iputils-ping"), ("conntrack", "conntrack"),
    ]

    /// Throws `LabError.missingTool` naming the first program not found on PATH (or in sbin),
    /// or `.missingKernelModule` when br_netfilter, which the hybrid security groups need, is
    /// not loaded.
    public static func requireTools() throws {
        for (tool, package) in requiredTools where findTool(tool) == nil {
            throw LabError.missingTool(tool, package: package)
        }
        guard FileManager.default.fileExists(atPath: "/proc/sys/net/bridge/bridge-nf-call-iptables") else {
            throw LabError.missingKernelModule("br_netfilter")
        }
    }

    static func findTool(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return dirs.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// What `hopscope lab status` reports: the plan, which namespaces exist, which daemons run
/// (by recorded PID), and which faults are applied.
public struct LabStatus: Codable, Sendable {
    public struct NamespaceStatus: Codable, Sendable {
        public var name: String
        public var present: Bool
    }
    public struct ProcessStatus: Codable, Sendable {
        public var role: String
        public var namespace: String
        public var pid: Int32
        public var running: Bool
    }
    public var prefix: String
    /// `absent`, `building`, `up` or `tearingDown`.
    public var phase: String
    public var stateDirectory: String
    public var plan: LabPlan
    public var namespaces: [NamespaceStatus]
    public var processes: [ProcessStatus]
    /// Applied faults as recorded: `NAME`, or `NAME@INSTANCE` when aimed at another instance.
    public var appliedFaults: [String]
    /// What each tap instance's guest last wrote about itself (DHCP state and lease).
    public var tapGuests: [TapGuestStatus]
    /// Up, every namespace present and every recorded daemon running.
    public var complete: Bool

    public init(prefix: String, phase: String, stateDirectory: String, plan: LabPlan, namespaces: [NamespaceStatus],
                processes: [ProcessStatus], appliedFaults: [String], tapGuests: [TapGuestStatus] = []) {
        self.tapGuests = tapGuests
        self.prefix = prefix
        self.phase = phase
        self.stateDirectory = stateDirectory
        self.plan = plan
        self.namespaces = namespaces
        self.processes = processes
        self.appliedFaults = appliedFaults
        complete = phase == "up" && namespaces.allSatisfy(\.present) && processes.allSatisfy(\.running)
    }
}

/// Times the steps of a long operation.
struct StepTimer {
    private let start = ContinuousClock.now
    private var last = ContinuousClock.now
    private(set) var steps: [Lab.UpReport.Step] = []

    mutating func mark(_ name: String) {
        let now = ContinuousClock.now
        steps.append(.init(name: name, seconds: StepTimer.seconds(now - last)))
        last = now
    }

    var total: Double { StepTimer.seconds(ContinuousClock.now - start) }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
