import Foundation
import HopscopeModel
import Namespaces

/// Serialises changes to a lab's recorded state and writes each change to disk at once, so
/// that what exists is recorded even if the builder dies mid-way.
actor LabStateRecorder {
    private(set) var state: LabState
    let store: LabStateStore

    init(state: LabState, store: LabStateStore) {
        self.state = state
        self.store = store
    }

    func update(_ change: @Sendable (inout LabState) -> Void) throws {
        change(&state)
        try store.save(state)
    }
}

/// The operations that build a lab and inject or repair its faults: commands in namespaces,
/// `ip -batch`, OVS tools against a node's own instance, sysctls, and the lab's daemons.
///
/// Every failure is rethrown as `LabError.setupFailed` naming the step, with the failing
/// command, namespace and stderr. Safe to use from concurrent tasks (the recorder serialises
/// state changes).
struct LabRuntime: Sendable {
    let plan: LabPlan
    let configuration: LabConfiguration
    let recorder: LabStateRecorder

    init(plan: LabPlan, recorder: LabStateRecorder) {
        self.plan = plan
        configuration = LabConfiguration(plan: plan)
        self.recorder = recorder
    }

    /// Runs `argv` (inside `namespace` when given) and returns its result; a failure throws
    /// `LabError.setupFailed(step:)`.
    @discardableResult
    func run(_ argv: [String], in namespace: String? = nil, environment: [String: String] = [:],
             input: String? = nil, timeout: Duration = .seconds(30), step: String) async throws -> CommandResult {
        do {
            return try await HostCommand.run(argv, in: namespace.map { .named($0) } ?? .current, input: input,
                                             environment: environment, timeout: timeout)
        } catch {
            throw LabError.setupFailed(step: step, detail: "\(error)")
        }
    }

    /// Feeds `batch` to `ip -batch -` (inside `namespace` with `ip -n`, or in this namespace).
    func ipBatch(_ batch: String, in namespace: String? = nil, step: String) async throws {
        let argv = namespace.map { ["ip", "-n", $0, "-batch", "-"] } ?? ["ip", "-batch", "-"]
        try await run(argv, input: batch, step: step)
    }

    /// Runs one `ip` command inside `namespace`.
    func ip(_ namespace: String, _ arguments: [String], step: String) async throws {
        try await run(["ip", "-n", namespace] + arguments, step: step)
    }

    /// Runs an OVS tool (`ovs-vsctl`, `ovs-ofctl`, `ovs-appctl`) against `node`'s instance.
    @discardableResult
    func ovs(_ node: LabNode, _ tool: String, _ arguments: [String], input: String? = nil, step: String) async throws -> CommandResult {
        try await run([tool] + arguments, environment: node.ovs.environment, input: input, step: step)
    }

    /// Runs `iptables ARGS` inside `namespace`.
    func iptables(_ namespace: String, _ arguments: [String], step: String) async throws {
        try await run(["iptables", "-w", "5"] + arguments, in: namespace, step: step)
    }

    /// Writes a `net.*` sysctl inside `namespace` (through /proc/sys on a thread in the namespace).
    func sysctl(_ namespace: String, _ key: String, _ value: String) async throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        do {
            try await withNetworkNamespace(.named(namespace)) {
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    throw LabError.setupFailed(step: "setting \(key)", detail: "cannot open \(path) in \(namespace)")
                }
                defer { try? handle.close() }
                try handle.write(contentsOf: Data((value + "\n").utf8))
            }
        } catch let e as LabError {
            throw e
        } catch {
            throw LabError.setupFailed(step: "setting \(key)=\(value) in \(namespace)", detail: "\(error)")
        }
    }

    /// Turns tx checksum offload off on `interfaces` inside `namespace` (see
    /// `LabConfiguration.checksumOffloadInterfaces`).
    func disableChecksumOffload(_ interfaces: [String], in namespace: String) async throws {
        // One process per namespace: a fixed loop over the names, passed as arguments.
        let loop = "for interface; do ethtool -K \"$interface\" tx off || exit 1; done"
        try await run(["sh", "-c", loop, "sh"] + interfaces, in: namespace,
                      step: "turning off tx checksum offload on \(interfaces.joined(separator: ", ")) in \(namespace)")
    }

    // MARK: Daemons

    /// Starts a detaching daemon inside `namespace`, reads its PID from `pidFile` and records it.
    func startDaemon(_ role: LabProcess.Role, argv: [String], in namespace: String, pidFile: String,
                     marker: String, environment: [String: String] = [:]) async throws -> LabProcess {
        try? FileManager.default.removeItem(atPath: pidFile)
        try await run(argv, in: namespace, environment: environment, step: "starting \(role.rawValue) in \(namespace)")
        // dnsmasq's intermediate child, if this process adopted it.
        ProcessTable.reapAdoptedZombies()
        guard let pid = ProcessTable.pid(fromFile: pidFile), ProcessTable.isRunning(pid) else {
            throw LabError.setupFailed(step: "starting \(role.rawValue) in \(namespace)",
                                       detail: "it did not leave a running PID in \(pidFile)")
        }
        let process = LabProcess(role: role, namespace: namespace, pid: pid, pidFile: pidFile, marker: marker)
        try await recorder.update { state in
            state.processes.removeAll { $0.role == role && $0.namespace == namespace }
            state.processes.append(process)
        }
        return process
    }

    /// Stops the recorded daemon with `role` (by its recorded PID, after checking it is still ours).
    func stopDaemon(_ role: LabProcess.Role) async throws {
        guard let process = await recorder.state.process(role) else {
            throw LabError.setupFailed(step: "stopping \(role.rawValue)", detail: "the lab has no recorded \(role.rawValue)")
        }
        if ProcessTable.isLabProcessRunning(process) {
            let left = ProcessTable.stop([process.pid])
            if !left.isEmpty {
                throw LabError.setupFailed(step: "stopping \(role.rawValue)", detail: "PID \(process.pid) did not exit")
            }
        }
    }

    /// Sends `signal` to the recorded daemon with `role` (after checking it is still ours).
    func signalDaemon(_ role: LabProcess.Role, _ signal: Int32) async throws {
        guard let process = await recorder.state.process(role), ProcessTable.isLabProcessRunning(process) else {
            throw LabError.setupFailed(step: "signalling \(role.rawValue)", detail: "it is not running")
        }
        kill(process.pid, signal)
    }

    /// Starts the DHCP agent's dnsmasq in the qdhcp namespace.
    func startDHCPServer(extraArguments: [String] = []) async throws {
        let d = plan.dhcp
        _ = try await startDaemon(.dhcpServer, argv: configuration.dhcpServerArguments + extraArguments, in: d.namespace,
                                  pidFile: d.pidFile, marker: d.pidFile)
    }

    /// Starts the upstream DNS server in the external namespace.
    func startUpstreamDNS() async throws {
        let c = configuration
        _ = try await startDaemon(.upstreamDNS, argv: c.upstreamDNSArguments, in: plan.external.namespace,
                                  pidFile: c.upstreamDNSPIDFile, marker: c.upstreamDNSPIDFile)
    }

    /// Writes the DHCP agent's hosts file (leaving out `omitted` instances) and tells dnsmasq to
    /// re-read it (SIGHUP), as the agent does on port changes.
    func writeDHCPHosts(omitting omitted: Set<String>, reload: Bool) async throws {
        try writeAtomically(Data(configuration.dhcpHostsFile(omitting: omitted).utf8), to: plan.dhcp.hostsFile)
        if reload { try await signalDaemon(.dhcpServer, SIGHUP) }
    }

    /// Plugs an instance again the way os-vif does: recreates its qvb/qvo veth pair, puts qvb
    /// back into its qbr, replaces its br-int port (OVS does not reopen a device that was
    /// deleted and recreated) and, like the agent's resync, reinstalls br-int's flows (their
    /// in_port numbers were resolved when they were added).
    func plugInstanceVeth(_ vm: some LabInstancePort) async throws {
        let node = plan.computeNode
        // A half-done earlier plug may have left the pair; start from none.
        _ = try? await HostCommand.run(["ip", "-n", node.namespace, "link", "del", vm.bridgeVeth], check: false)
        try await ipBatch(configuration.instanceVethLine(vm) + "\n", step: "creating \(vm.bridgeVeth)/\(vm.ovsPort)")
        try await ipBatch("link set \(vm.bridgeVeth) master \(vm.linuxBridge)\nlink set \(vm.bridgeVeth) up\nlink set \(vm.ovsPort) up\n",
                          in: node.namespace, step: "plugging \(vm.bridgeVeth) into \(vm.linuxBridge)")
        try await disableChecksumOffload([vm.bridgeVeth, vm.ovsPort], in: node.namespace)
        try await replugInstancePort(vm, waitForSwitch: true)
        try await ovs(node, "ovs-ofctl", ["-O", "OpenFlow13", "replace-flows", node.integrationBridge, "-"],
                      input: configuration.integrationFlows(for: node), step: "reinstalling br-int flows on \(node.name)")
    }

    /// Deletes and re-adds an instance's qvo port on br-int (with its tag and external_ids), as
    /// os-vif or an agent resync does. Without `waitForSwitch` it does not wait for
    /// ovs-vswitchd, which then reports a missing device in the Interface's `error` column.
    func replugInstancePort(_ vm: some LabInstancePort, waitForSwitch: Bool) async throws {
        let node = plan.computeNode
        let wait = waitForSwitch ? [] : ["--no-wait"]
        // Two transactions: within one, OVS would see the port unchanged and keep its old device.
        try await ovs(node, "ovs-vsctl", wait + ["--if-exists", "del-port", node.integrationBridge, vm.ovsPort],
                      step: "unplugging \(vm.ovsPort) from br-int")
        try await ovs(node, "ovs-vsctl", wait + LabConfiguration.joinedCommands(configuration.instancePortCommands(vm)),
                      step: "plugging \(vm.ovsPort) into br-int")
    }

    /// Deletes the router namespace's conntrack entries, as the L3 agent does when it changes
    /// NAT: an entry made while a NAT rule was missing (or present) would keep that treatment
    /// for its flow (dnsmasq, for one, reuses its upstream source port).
    func flushRouterConntrack() async throws {
        try await run(["conntrack", "-F"], in: plan.router.namespace, step: "flushing the router's conntrack table")
    }
}
