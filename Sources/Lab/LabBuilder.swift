import Foundation
import HopscopeModel
import Namespaces

/// Builds a lab from its plan in a few batched steps: one `ip -batch` for every namespace and
/// link, one `ip -batch` per namespace for addresses and routes, one `ovs-vsctl` transaction and
/// two `ovs-ofctl add-flows` per node, `ipset restore` and `iptables-restore`, the two dnsmasq
/// daemons, a DHCP exchange in every instance, and the guest process of every tap instance
/// (which gets its address by DHCP itself). Independent steps run concurrently.
///
/// Records every namespace before creating it and every daemon as soon as it runs, so a lab
/// half built when this fails (or the process dies) is fully removed by the next `up`/`down`.
struct LabBuilder {
    let plan: LabPlan
    let store: LabStateStore

    func build(timer: inout StepTimer) async throws {
        let config = LabConfiguration(plan: plan)
        let etcDirectories = plan.instances.map { "/etc/netns/\($0.namespace)" }
        let recorder = LabStateRecorder(state: LabState(plan: plan, externalDirectories: etcDirectories), store: store)
        try await recorder.update { _ in }
        let runtime = LabRuntime(plan: plan, recorder: recorder)

        try writeFiles(config)
        timer.mark("writing configuration files")

        try await runtime.ipBatch(config.namespaceAndLinkBatch, step: "creating namespaces and links")
        if !plan.tapInstances.isEmpty {
            try await runtime.ipBatch(config.tapDeviceBatch, in: plan.computeNode.namespace, step: "creating the tap instances' tap devices")
        }
        timer.mark("creating namespaces and links")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for (ns, batch) in config.interfaceBatches {
                group.addTask { try await runtime.ipBatch(batch + "\n", in: ns, step: "configuring interfaces in \(ns)") }
            }
            for (ns, interfaces) in config.checksumOffloadInterfaces {
                group.addTask { try await runtime.disableChecksumOffload(interfaces, in: ns) }
            }
            for (ns, key, value) in config.sysctls {
                group.addTask { try await runtime.sysctl(ns, key, value) }
            }
            try await group.waitForAll()
        }
        timer.mark("addresses, routes, offloads, sysctls")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in plan.nodes {
                group.addTask { try await startOpenVSwitch(node, runtime: runtime) }
            }
            try await group.waitForAll()
        }
        timer.mark("Open vSwitch on both nodes (daemons, bridges, flows)")

        // The userspace datapath drops a tunnel packet whose underlay next hop it has not
        // resolved yet; one ping each way over br-phy lets OVS learn both (it snoops the ARP).
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in plan.nodes {
                group.addTask {
                    try await runtime.run(["ping", "-n", "-q", "-c", "1", "-W", "2", "\(node.vxlanRemote)"], in: node.namespace,
                                          step: "reaching \(node.vxlanRemote) over \(node.name)'s underlay")
                }
            }
            try await group.waitForAll()
        }
        timer.mark("underlay reachable both ways")

        try await withThrowingTaskGroup(of: Void.self) { group in
            let compute = plan.computeNode.namespace
            group.addTask {
                try await runtime.run(["ipset", "restore", "-exist"], in: compute, input: config.securityGroupIPSet,
                                      step: "creating the security group's ipset on compute1")
                try await runtime.run(["iptables-restore", "-w", "5"], in: compute, input: config.computeIptables,
                                      step: "loading security group chains on compute1")
            }
            group.addTask {
                try await runtime.run(["iptables-restore", "-w", "5"], in: plan.router.namespace, input: config.routerIptables,
                                      step: "loading the router's NAT and filter chains")
            }
            group.addTask { try await runtime.startUpstreamDNS() }
            group.addTask { try await runtime.startDHCPServer() }
            try await group.waitForAll()
        }
        timer.mark("iptables, ipset, dnsmasq")

        try await withThrowingTaskGroup(of: Void.self) { group in
            for vm in plan.instances {
                group.addTask { try await boot(vm, config: config, runtime: runtime) }
            }
            for vm in plan.tapInstances {
                group.addTask { try await runtime.startTapGuest(vm) }
            }
            try await group.waitForAll()
        }
        timer.mark("instances get their addresses by DHCP")

        try await recorder.update { $0.phase = .up }
    }

    /// The state directory's files: OVS rundirs, dnsmasq's files, the DHCP client scripts, and the
    /// instances' /etc/netns/<ns>/resolv.conf (filled by their DHCP client).
    func writeFiles(_ config: LabConfiguration) throws {
        let fm = FileManager.default
        for node in plan.nodes {
            try fm.createDirectory(atPath: node.ovs.rundir, withIntermediateDirectories: true)
        }
        try fm.createDirectory(atPath: plan.dhcp.directory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: config.upstreamDNSDirectory, withIntermediateDirectories: true)
        try writeAtomically(Data(config.dhcpHostsFile().utf8), to: plan.dhcp.hostsFile)
        try writeAtomically(Data(config.dhcpAdditionalHostsFile.utf8), to: plan.dhcp.additionalHostsFile)
        try writeAtomically(Data(config.dhcpOptionsFile.utf8), to: plan.dhcp.optionsFile)
        try writeAtomically(Data(), to: plan.dhcp.leasesFile)
        try writeAtomically(Data(config.upstreamDNSHosts.utf8), to: config.upstreamDNSHostsFile)
        try writeAtomically(Data(LabConfiguration.dhcpClientScriptText.utf8), to: config.dhcpClientScript, permissions: 0o755)
        try writeAtomically(Data(LabConfiguration.dhcpProbeScriptText.utf8), to: config.dhcpProbeScript, permissions: 0o755)
        for vm in plan.instances {
            let path = config.resolvConf(for: vm)
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeAtomically(Data(), to: path)
        }
    }

    /// Starts a node's ovsdb-server and ovs-vswitchd (userspace datapath) inside its namespace
    /// with the node's own rundir, creates its bridges and ports in one transaction, puts the
    /// tunnel address on br-phy and installs the agent's br-int and br-tun flows.
    func startOpenVSwitch(_ node: LabNode, runtime: LabRuntime) async throws {
        let ovs = node.ovs
        let env = ovs.environment
        let config = runtime.configuration
        try await runtime.run(["ovsdb-tool", "create", ovs.databaseFile, try LabBuilder.ovsSchema()], environment: env,
                              step: "creating \(node.name)'s OVS database")
        _ = try await runtime.startDaemon(
            .ovsdbServer,
            argv: ["ovsdb-server", ovs.databaseFile, "--remote=punix:\(ovs.rundir)/db.sock",
                   "--pidfile=\(ovs.ovsdbServerPIDFile)", "--log-file=\(ovs.rundir)/ovsdb-server.log",
                   "--detach", "--no-chdir"],
            in: node.namespace, pidFile: ovs.ovsdbServerPIDFile, marker: ovs.rundir, environment: env)
        try await runtime.ovs(node, "ovs-vsctl", config.vsctlArguments(for: node), step: "creating \(node.name)'s bridges and ports")
        _ = try await runtime.startDaemon(
            .ovsVswitchd,
            argv: ["ovs-vswitchd", ovs.databaseSocket, "--disable-system", "--pidfile=\(ovs.vswitchdPIDFile)",
                   "--log-file=\(ovs.rundir)/ovs-vswitchd.log", "--detach", "--no-chdir"],
            in: node.namespace, pidFile: ovs.vswitchdPIDFile, marker: ovs.rundir, environment: env)
        try await waitForInterface(node.underlayBridge, in: node.namespace)
        try await runtime.ipBatch(config.underlayBatch(for: node), in: node.namespace,
                                  step: "putting \(node.name)'s tunnel address on \(node.underlayBridge)")
        try await runtime.ovs(node, "ovs-ofctl", ["add-flows", node.integrationBridge, "-"],
                              input: config.integrationFlows(for: node), step: "installing \(node.name)'s br-int flows")
        try await runtime.ovs(node, "ovs-ofctl", ["add-flows", node.tunnelBridge, "-"],
                              input: config.tunnelFlows(for: node), step: "installing \(node.name)'s br-tun flows")
    }

    /// Boots an instance the way a cloud image does: its DHCP client asks for an address and
    /// applies the lease (address, MTU, default route, resolv.conf).
    func boot(_ vm: LabInstance, config: LabConfiguration, runtime: LabRuntime) async throws {
        let result = try await runtime.run(
            ["busybox", "udhcpc", "-i", vm.interface, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", config.dhcpClientScript],
            in: vm.namespace, environment: ["HOPSCOPE_RESOLV_CONF": config.resolvConf(for: vm)], timeout: .seconds(20),
            step: "\(vm.name) asking for its address by DHCP")
        guard result.standardOutput.contains("lease ip=\(vm.address) ") else {
            throw LabError.setupFailed(step: "\(vm.name) asking for its address by DHCP",
                                       detail: "unexpected lease: \(result.standardOutput)\(result.standardError)")
        }
    }

    /// Waits (up to 5 s) until ovs-vswitchd has created `interface` in `namespace`.
    func waitForInterface(_ interface: String, in namespace: String) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            // if_nametoindex asks the kernel on a socket of the thread's namespace. (Reading
            // /proc/thread-self/net/dev with String(contentsOfFile:) stops after 4 KiB.)
            let index = try await withNetworkNamespace(.named(namespace)) { if_nametoindex(interface) }
            if index != 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LabError.setupFailed(step: "waiting for \(interface) in \(namespace)",
                                   detail: "ovs-vswitchd did not create it within 5 s (see its log in the state directory)")
    }

    /// The vswitch schema shipped with openvswitch-switch.
    static func ovsSchema() throws -> String {
        let candidates = ["/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema"]
        guard let schema = candidates.first(where: FileManager.default.fileExists(atPath:)) else {
            throw LabError.missingTool("vswitch.ovsschema", package: "openvswitch-switch")
        }
        return schema
    }
}
