import Foundation
import Lab
import Namespaces
import Testing

/// `diagnose --active`, `dhcp --active` and `dns --active` on the shared lab, as an operator runs
/// them: the healthy lab gives no finding and every probe is answered and captured at every hop
/// that can be captured; a DHCP fault, a DNS fault and a security-group drop are named with the
/// right code and hop; nothing (probe namespaces, ports, journals) is left behind.
@Suite(.serialized) struct ActiveProbeTests {
    /// Runs `hopscope ARGS --json` on the shared lab's namespaces with a scratch state directory,
    /// and returns the exit code and the decoded JSON object.
    static func hopscope(_ args: [String], state: String) async throws -> (code: Int32, json: [String: Any], stderr: String) {
        let r = try await HostCommand.run([hopscopeExecutable()] + args + ["--netns-prefix", "\(LabFixture.prefix)-", "--json"],
                                          environment: ["HOPSCOPE_STATE_DIR": state, "NO_COLOR": "1"], timeout: .seconds(120), check: false)
        let object = (try? JSONSerialization.jsonObject(with: Data(r.standardOutput.utf8))) as? [String: Any]
        return (r.exitCode, object ?? [:], r.standardError)
    }

    /// Real traffic first, as an operator's cloud has had: a lab fresh from `lab up` has not
    /// learned its MAC tables and neighbours yet (and its tap guest may still be plugging in),
    /// and the passive walks read those. Then a few seconds to settle (br-phy takes its final
    /// MAC, tunnel neighbours re-resolve): at most 15 passive diagnoses, one a second, until one
    /// is clean.
    static func warmUp(state: String) async throws {
        _ = try await HostCommand.run([hopscopeExecutable(), "lab", "check", "--prefix", LabFixture.prefix], timeout: .seconds(120), check: false)
        for _ in 0..<15 {
            if try await hopscope(["diagnose", "vm1"], state: state).code == 0 { return }
            try await Task.sleep(for: .seconds(1))
        }
    }

    static func stateDirectory() -> String { NSTemporaryDirectory() + scratchName("probe-state") }

    /// The run's observations as (answered, [seen per captured hop]).
    static func observations(_ run: [String: Any]) -> [(answered: Bool, seen: [Bool], probe: String)] {
        ((run["observations"] as? [[String: Any]]) ?? []).map { o in
            ((o["answered"] as? Bool) ?? false, ((o["sightings"] as? [[String: Any]]) ?? []).map { ($0["seen"] as? Bool) ?? false },
             (o["probe"] as? String) ?? "?")
        }
    }

    static func findings(_ run: [String: Any]) -> [[String: Any]] { (run["findings"] as? [[String: Any]]) ?? [] }

    /// Nothing the probes made is left: no probe namespace, no probe port device on the compute
    /// node, no journal in the state directory.
    static func expectNothingLeft(state: String, probePrefix: String, plan: LabPlan) async throws {
        let namespaces = try await HostCommand.run(["ip", "netns", "list"]).standardOutput
        #expect(!namespaces.contains("\(probePrefix)-probe-"), "probe namespace left: \(namespaces)")
        let links = try await HostCommand.run(["ip", "-o", "link"], in: .named(plan.computeNode.namespace)).standardOutput
        #expect(!links.contains(": \(probePrefix)b"), "probe port left on the compute node: \(links)")
        let journals = (try? FileManager.default.contentsOfDirectory(atPath: state + "/cleanup")) ?? []
        #expect(journals.isEmpty, "cleanup journals left: \(journals)")
    }

    @Test func healthyLabHasNoFindingAndEveryProbeIsSeenAtEveryCapturedHop() async throws {
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let state = Self.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await Self.warmUp(state: state)

        let diagnose = try await Self.hopscope(["diagnose", "vm1", "--active"], state: state)
        #expect(diagnose.code == 0, "healthy: exit 0. \(diagnose.stderr)")
        #expect(Self.findings(diagnose.json).isEmpty)
        let seen = Self.observations(diagnose.json)
        #expect(seen.count >= 4, "gateway, external gateway, DHCP, DNS (and upstream) probed")
        for o in seen {
            #expect(o.answered, "\(o.probe)")
            #expect(!o.seen.isEmpty && o.seen.allSatisfy { $0 }, "\(o.probe): seen at every captured hop: \(o.seen)")
        }

        let dhcp = try await Self.hopscope(["dhcp", "vm1", "--active"], state: state)
        #expect(dhcp.code == 0, "\(dhcp.stderr)")
        let exchange = try #require(dhcp.json["exchange"] as? [String: Any])
        #expect(exchange["answered"] as? Bool == true)
        let checks = (dhcp.json["optionChecks"] as? [[String: Any]]) ?? []
        #expect(Set(checks.compactMap { $0["option"] as? String }).isSuperset(of: ["address", "router", "dns-server", "mtu"]))
        #expect(checks.allSatisfy { $0["ok"] as? Bool == true }, "\(checks)")
        let dhcpRun = try #require(dhcp.json["run"] as? [String: Any])
        #expect(Self.observations(dhcpRun).allSatisfy { $0.answered && $0.seen.allSatisfy { $0 } })
        #expect(((dhcp.json["securityGroupRules"] as? [String]) ?? []).count >= 2, "the port's DHCP rules both ways")

        let dns = try await Self.hopscope(["dns", "vm1", plan.external.dnsRecords[0].name, "--active"], state: state)
        #expect(dns.code == 0, "\(dns.stderr)")
        let answers = (dns.json["answers"] as? [[String: Any]]) ?? []
        #expect(answers.count == 2, "the instance's query and the server's upstream query")
        #expect(answers.allSatisfy { $0["answered"] as? Bool == true })
        #expect(answers.contains { (($0["detail"] as? String) ?? "").contains("\(plan.external.dnsRecords[0].address)") })

        // From a probe port on br-int with the network's VLAN, as neutron-debug does.
        let probePort = try await Self.hopscope(["dhcp", "vm1", "--active", "--probe-port", "--probe-prefix", "hsprobep"], state: state)
        #expect(probePort.code == 0, "\(probePort.stderr)")
        let viaPort = try #require(probePort.json["exchange"] as? [String: Any])
        #expect((viaPort["origin"] as? [String: Any])?["kind"] as? String == "probePort")
        #expect(viaPort["answered"] as? Bool == true)
        try await Self.expectNothingLeft(state: state, probePrefix: "hsprobep", plan: plan)
    }

    /// Every DHCP and DNS fault of the lab, through the command that applies (`dhcp` or `dns`,
    /// active): the first finding is the code and place `LabFaultDiagnoses` gives for the fault
    /// (what `diagnose` reports, README fault table), and the probe says the same.
    @Test(arguments: ["dnsmasq-stopped", "dhcp-host-missing", "sg-drops-dhcp", "upstream-dns-down", "dns-server-down"])
    func serviceFaultIsNamedByItsCommand(_ fault: String) async throws {
        let state = Self.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let expected = try #require(LabFaultDiagnoses.named(fault), "the fault table has \(fault)")
        try await LabFixture.shared.withFault(fault) { _, plan in
            let vm = expected.instance(plan)
            let isDHCP = expected.code.hasPrefix("DHCP")
            let name = plan.external.dnsRecords[0].name
            let r = try await Self.hopscope(isDHCP ? ["dhcp", vm, "--active"] : ["dns", vm, name, "--active"], state: state)
            #expect(r.code == 1, "\(fault): a problem: exit 1. \(r.stderr)")
            let run = try #require(r.json["run"] as? [String: Any])
            let first = try #require(Self.findings(run).first, "\(fault): a finding")
            #expect(first["code"] as? String == expected.code, "\(fault)")
            let location = (first["location"] as? [String: Any]) ?? [:]
            let place = expected.place(plan)
            #expect(location["namespace"] as? String == place.namespace, "\(fault): \(location)")
            if let device = place.device { #expect(location["device"] as? String == device, "\(fault): \(location)") }
            if isDHCP {
                #expect((r.json["exchange"] as? [String: Any])?["answered"] as? Bool == false, "\(fault): no DHCPACK")
            } else if fault == "dns-server-down" {
                #expect(r.json["resolver"] == nil, "DNS off in dnsmasq: DHCP gives no resolver, so there is nothing to query")
            } else {
                #expect(((r.json["answers"] as? [[String: Any]]) ?? []).contains { $0["answered"] as? Bool == false }, "\(fault): a query unanswered")
            }
            if fault == "sg-drops-dhcp", let stop = location["hop"] as? Int {
                // The server's offers are captured on every hop up to the bridge that drops them.
                let offers = ((run["observations"] as? [[String: Any]]) ?? []).first { ($0["probe"] as? String)?.hasPrefix("the answers to") == true }
                let sightings = (offers?["sightings"] as? [[String: Any]]) ?? []
                #expect(!sightings.isEmpty && sightings.allSatisfy { $0["seen"] as? Bool == true }, "\(sightings)")
                #expect(sightings.compactMap { $0["hop"] as? Int }.max() == stop - 1, "last seen right before hop \(stop)")
            }
            try await Self.expectNothingLeft(state: state, probePrefix: "hsprobe", plan: plan)
        }
    }

    /// The provider gateway stops answering ARP: the probes are last seen entering the router and
    /// lost at its qg- port, and an ARP request from that port gets no answer.
    @Test func unresolvedGatewayIsConfirmedByARPFromTheRoutersGatewayPort() async throws {
        let state = Self.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await LabFixture.shared.withFault("gateway-unresolved") { _, plan in
            let vm = plan.probeInstance.namespace
            let d = try await Self.hopscope(["diagnose", vm, "--to", "\(plan.external.internetClient)", "--active"], state: state)
            #expect(d.code == 1, "\(d.stderr)")
            let first = try #require(Self.findings(d.json).first)
            #expect((first["location"] as? [String: Any])?["device"] as? String == plan.router.gatewayPort.name, "\(first)")
            let arp = Self.observations(d.json).first { $0.probe.hasPrefix("an ARP request for \(plan.router.defaultGateway)") }
            #expect(arp != nil && arp?.answered == false, "\(Self.observations(d.json).map(\.probe))")
        }
    }

    @Test func securityGroupDropIsNamedAtTheBridgeAndTheProbeIsLastSeenBeforeIt() async throws {
        let state = Self.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await LabFixture.shared.withFault("sg-drops-icmp", instance: "vm1") { _, plan in
            let vm = try #require(plan.instance(named: "vm1"))
            let d = try await Self.hopscope(["diagnose", "vm1", "--from", "\(plan.external.internetClient)", "--active"], state: state)
            #expect(d.code == 1, "\(d.stderr)")
            let first = try #require(Self.findings(d.json).first)
            #expect(first["code"] as? String == "FIREWALL_DROP")
            let location = try #require(first["location"] as? [String: Any])
            #expect(location["device"] as? String == vm.linuxBridge)
            let hop = try #require(location["hop"] as? Int)
            let o = try #require(Self.observations(d.json).first)
            #expect(!o.answered)
            // Seen on every captured hop before the drop (the last is the qvb entering the bridge).
            #expect(!o.seen.isEmpty && o.seen.allSatisfy { $0 })
            let sightings = ((d.json["observations"] as? [[String: Any]])?.first?["sightings"] as? [[String: Any]]) ?? []
            #expect(sightings.compactMap { $0["hop"] as? Int }.max() == hop - 1, "last seen right before hop \(hop)")
            try await Self.expectNothingLeft(state: state, probePrefix: "hsprobe", plan: plan)
        }
    }
}

/// A signal while a probe port exists: the command stops its captures, skips the rest and
/// removes the probe port, its namespace and its journal before it exits.
@Suite(.serialized) struct ProbeCleanupOnSignalTests {
    @Test func sigtermWhileAProbePortExistsLeavesNothingBehind() async throws {
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let guest = try #require(plan.tapInstances.first, "the lab has a tap instance (no namespace: probes need a probe port)")
        let state = ActiveProbeTests.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await ActiveProbeTests.warmUp(state: state)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hopscopeExecutable())
        process.arguments = ["diagnose", guest.tapDevice, "--active", "--probe-prefix", "hsprobes", "--probe-address", "10.0.0.250/24",
                             "--netns-prefix", "\(LabFixture.prefix)-"]
        process.environment = ["HOPSCOPE_STATE_DIR": state, "NO_COLOR": "1", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"]
        let output = state + "-output"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Wait (at most 20 s) for the probe port's namespace, then signal.
        var sawPort = false
        for _ in 0..<1000 where process.isRunning {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
            if names.contains(where: { $0.hasPrefix("hsprobes-probe-") }) { sawPort = true; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(sawPort, "the probe port was made: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<300 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "the command ends within 30 s of the signal")
        try await ActiveProbeTests.expectNothingLeft(state: state, probePrefix: "hsprobes", plan: plan)
    }
}
