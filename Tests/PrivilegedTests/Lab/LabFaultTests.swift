import Foundation
import HopscopeModel
import Lab
import Namespaces
import Testing

/// Every fault breaks exactly the checks that need what it breaks (and nothing else), shows the
/// evidence a diagnosis would look for, and `repair` gives the healthy lab back.
@Suite(.serialized) struct LabFaultTests {
    @Test(arguments: LabFaults.all.map(\.name))
    func faultBreaksWhatItShouldAndRepairHeals(name: String) async throws {
        let fault = try #require(LabFaults.named(name))
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let expected = fault.expectedFailures(in: plan)

        let failing = try await LabFixture.shared.withFault(name) { lab, plan in
            if let evidence = LabFaultTests.evidence[name] { try await evidence(lab, plan) }
            let results = try await lab.check()
            return Set(results.filter { !$0.passed }.map(\.id))
        }
        #expect(failing == expected,
                "\(name): failed \(failing.sorted()), expected \(expected.sorted()); unexpected \(failing.subtracting(expected).sorted()), still passing \(expected.subtracting(failing).sorted())")

        let after = try await lab.check()
        for r in after { #expect(r.passed, "after repairing \(name), \(r.id) fails: \(r.detail)") }
        #expect(try lab.status().appliedFaults.isEmpty)
    }

    @Test func breakingTwiceIsANoOpAndUnknownFaultsAreRejected() async throws {
        let (lab, _) = try await LabFixture.shared.healthyLab()
        #expect(try await lab.apply("upstream-dns-down"))
        #expect(try await lab.apply("upstream-dns-down") == false)
        #expect(try lab.status().appliedFaults == ["upstream-dns-down"])
        #expect(try await lab.repair() == ["upstream-dns-down"])
        #expect(try lab.status().complete)
        await #expect(throws: LabError.self) { try await lab.apply("no-such-fault") }
    }

    /// What each fault leaves for a diagnosis to find, checked with the real tools while it is applied.
    static let evidence: [String: @Sendable (Lab, LabPlan) async throws -> Void] = [
        "tap-down": { lab, plan in
            let link = try await lab.run(["ip", "-o", "link", "show", plan.instances[0].tapDevice], in: "compute1").standardOutput
            #expect(!link.contains(",UP"), "\(link)")
        },
        "dead-vlan": { lab, plan in
            let vm = plan.instances[0]
            let tag = try await lab.ovs("ovs-vsctl", ["get", "Port", vm.ovsPort, "tag"], node: "compute1").standardOutput
            #expect(tag.trimmingCharacters(in: .whitespacesAndNewlines) == "4095")
            let flows = try await lab.ovs("ovs-ofctl", ["dump-flows", "br-int", "table=0,in_port=\(vm.ovsPort)"], node: "compute1").standardOutput
            #expect(flows.contains("priority=2") && flows.contains("actions=drop"))
        },
        "tunnel-flow-missing": { lab, _ in
            let flows = try await lab.ovs("ovs-ofctl", ["dump-flows", "br-tun", "table=4"], node: "compute1").standardOutput
            #expect(!flows.contains("tun_id=0x3e9"))
        },
        "underlay-mtu": { lab, _ in
            let link = try await lab.run(["ip", "-o", "link", "show", "eth1"], in: "network1").standardOutput
            #expect(link.contains("mtu 1400"))
        },
        "dnsmasq-stopped": { lab, _ in
            let processes = try lab.status().processes
            #expect(processes.contains { $0.role == LabProcess.Role.dhcpServer.rawValue && !$0.running })
        },
        "dhcp-host-missing": { _, plan in
            let hosts = try String(contentsOfFile: plan.dhcp.hostsFile, encoding: .utf8)
            #expect(!hosts.contains(plan.instances[0].mac.description))
        },
        "sg-drops-dhcp": { lab, plan in
            let chain = try await lab.run(["iptables", "-S", plan.instances[0].ingressChain], in: "compute1").standardOutput
            #expect(!chain.contains("--sport 67 --dport 68"))
        },
        "br-netfilter-off": { _, plan in
            let value = try await sysctl("net.bridge.bridge-nf-call-iptables", in: plan.computeNode.namespace)
            #expect(value == "0")
        },
        "router-ip-forward-off": { _, plan in
            let value = try await sysctl("net.ipv4.ip_forward", in: plan.router.namespace)
            #expect(value == "0")
        },
        "tunnel-remote-ip-wrong": { lab, plan in
            let remote = try await lab.ovs("ovs-vsctl", ["get", "Interface", plan.computeNode.vxlanPort, "options:remote_ip"], node: "compute1").standardOutput
            #expect(remote.contains("198.18.0.99"))
        },
        "patch-port-broken": { lab, _ in
            let error = try await lab.ovs("ovs-vsctl", ["get", "Interface", "patch-tun", "error"], node: "compute1").standardOutput
            #expect(error.contains("patch-nowhere") || error.contains("peer"), "\(error)")
        },
        "qvo-missing": { lab, plan in
            // OVS keeps the port and reports the missing device once it has tried to open it.
            let port = plan.instances[0].ovsPort
            var error = ""
            for _ in 0..<50 {
                error = try await lab.ovs("ovs-vsctl", ["get", "Interface", port, "error"], node: "compute1").standardOutput
                if error.contains("No such device") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(error.contains("No such device"), "\(error)")
        },
        "gateway-unresolved": { lab, plan in
            _ = try await lab.run(["ping", "-n", "-c", "1", "-W", "1", "\(plan.external.gateway)"], in: "qrouter", check: false)
            let neighbour = try await lab.run(["ip", "neigh", "show", "\(plan.external.gateway)"], in: "qrouter").standardOutput
            #expect(neighbour.contains("INCOMPLETE") || neighbour.contains("FAILED"), "\(neighbour)")
        },
        "instance-mac-changed": { lab, plan in
            let vm = plan.instances[0]
            // A broadcast ping sends an IP packet whatever the ARP cache holds.
            _ = try await lab.run(["ping", "-n", "-b", "-c", "1", "-W", "1", "10.0.0.255"], in: vm.name, check: false)
            let rules = try await lab.run(["iptables", "-v", "-x", "-n", "-L", vm.spoofChain], in: "compute1").standardOutput
            // The "Drop traffic without an IP/MAC allow rule." rule counted the guest's packets.
            let drop = rules.split(separator: "\n").first { $0.contains("DROP") }
            let packets = drop.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
            #expect(packets > 0, "\(rules)")
        },
        "port-not-in-bridge": { lab, plan in
            let members = try await lab.run(["ip", "-o", "link", "show", "master", plan.instances[0].linuxBridge], in: "compute1").standardOutput
            #expect(!members.contains(plan.instances[0].bridgeVeth))
        },
    ]
}
