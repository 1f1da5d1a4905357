import Foundation
import HopscopeModel
import Lab
import Namespaces
import Testing

/// The lab's tap instance (tapvm1): a real tap device in compute1 held by the lab's guest
/// process, proved with the state the real tools report and with real traffic both ways.
@Suite(.serialized) struct TapGuestLabTests {
    static let tapChecks: Set<String> = ["dhcp:tapvm1", "ping:tapvm1", "snat:tapvm1"]

    @Test func theGuestGotItsLeaseThroughTheRealPath() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let vm = try #require(plan.tapInstance(named: "tapvm1"))

        // What the guest learned, from its own status file.
        let status = try #require(try lab.tapGuestStatus(vm.name))
        let lease = try #require(status.lease)
        #expect(status.running && status.dhcpState == .bound)
        #expect(lease.address == vm.address && lease.prefixLength == 24 && lease.router == plan.network.gateway)
        #expect(lease.mtu == plan.network.mtu && lease.dnsServers == [plan.dhcp.address] && lease.domainName == plan.network.dnsDomain)
        #expect(lease.serverID == plan.dhcp.address && lease.leaseSeconds == 86_400)

        // The server's side: dnsmasq leased the address to the guest's MAC.
        let leases = try String(contentsOfFile: plan.dhcp.leasesFile, encoding: .utf8)
        #expect(leases.contains("\(vm.mac) \(vm.address)"), "\(leases)")

        // The device: a real tap (not a veth) in compute1, in its qbr, with carrier because the guest holds it.
        let link = try await lab.run(["ip", "-d", "-o", "link", "show", vm.tapDevice], in: "compute1").standardOutput
        #expect(link.contains("tun type tap") && link.contains("master \(vm.linuxBridge)") && link.contains("LOWER_UP"), "\(link)")
        #expect(link.contains("link/ether \(vm.tapMAC)"))
        // The guest's frames came in through the tap: the qbr learned its MAC there.
        let fdb = try await lab.run(["bridge", "fdb", "show", "br", vm.linuxBridge], in: "compute1").standardOutput
        #expect(fdb.contains("\(vm.mac) dev \(vm.tapDevice)"), "\(fdb)")
        // ... and crossed its security group: the egress rule admitting DHCP client traffic counted them.
        let rules = try await lab.run(["iptables", "-v", "-x", "-n", "-L", vm.egressChain], in: "compute1").standardOutput
        let dhcpRule = try #require(rules.split(separator: "\n").first { $0.contains("udp spt:68 dpt:67") })
        #expect((Int(dhcpRule.split(separator: " ").first ?? "") ?? 0) > 0, "\(rules)")

        // The process: recorded, alive, inside compute1, holding /dev/net/tun.
        let process = try #require(try lab.status().processes.first { $0.role == LabProcess.Role.tapGuest.rawValue })
        #expect(process.running && process.pid == status.pid)
        #expect(try namespaceInode(of: "/proc/\(process.pid)/ns/net") == namespaceInode(of: "/run/netns/\(plan.computeNode.namespace)"))
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd")
        #expect(fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/fd/\($0)")) == "/dev/net/tun" })

        // Nova's external_ids on its qvo, as for any instance.
        let ids = try await lab.ovs("ovs-vsctl", ["get", "Interface", vm.ovsPort, "external_ids"], node: "compute1").standardOutput
        #expect(ids.contains("iface-id=\"\(vm.portID)\"") && ids.contains("vm-uuid=\"\(vm.vmID)\"") && ids.contains("attached-mac=\"\(vm.mac)\""))
    }

    @Test func pingsBothWaysAndRenewsUnicast() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        let vm = try #require(plan.tapInstance(named: "tapvm1"))

        // In: the router and a namespace instance ping the guest, which answers from behind its tap.
        try await lab.run(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "\(vm.address)"], in: "qrouter")
        try await lab.run(["ping", "-n", "-c", "1", "-W", "2", "\(vm.address)"], in: plan.instances[0].name)
        let neighbour = try await lab.run(["ip", "neigh", "show", "\(vm.address)"], in: "qrouter").standardOutput
        #expect(neighbour.contains("lladdr \(vm.mac)"), "the guest answered the router's ARP: \(neighbour)")

        // Out: the guest pings the external gateway through the router's SNAT.
        let outcome = try await lab.tapGuest(vm.name, .ping(target: plan.external.gateway, count: 3, payloadSize: 56))
        #expect(outcome.succeeded && outcome.ping?.received == 3, "\(outcome.detail)")
        let entries = try await lab.run(["conntrack", "-L", "-p", "icmp", "-s", "\(vm.address)", "-d", "\(plan.external.gateway)"],
                                        in: "qrouter").standardOutput
        #expect(entries.contains("src=\(plan.external.gateway) dst=\(plan.router.gatewayPort.address.address)"), "\(entries)")
        // Only lab addresses.
        let refused = try await lab.tapGuest(vm.name, .ping(target: IPv4Address(192, 0, 2, 99), count: 1, payloadSize: 56))
        #expect(!refused.succeeded && refused.detail.contains("not a lab address"))

        // Renewal: a unicast REQUEST to the server that gave the lease, answered by an ACK.
        let before = try #require(try lab.tapGuestStatus(vm.name)?.lease?.acknowledgements)
        let renewal = try await lab.tapGuest(vm.name, .renew)
        #expect(renewal.succeeded && renewal.lease?.acknowledgements == before + 1, "\(renewal.detail)")
    }

    @Test(arguments: ["tap-down", "sg-drops-icmp", "dhcp-host-missing"])
    func faultsAimedAtTheTapGuestStopItsChecksOnly(fault name: String) async throws {
        let fault = try #require(LabFaults.named(name))
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let expected = try fault.expectedFailures(in: plan, instance: "tapvm1")
        #expect(!expected.isEmpty && expected.isSubset(of: Self.tapChecks))
        let vm = try #require(plan.tapInstance(named: "tapvm1"))

        let failing = try await LabFixture.shared.withFault(name, instance: vm.name) { lab, plan in
            #expect(try lab.status().appliedFaults == ["\(name)@\(vm.name)"])
            switch name {
            case "tap-down":
                let link = try await lab.run(["ip", "-o", "link", "show", vm.tapDevice], in: "compute1").standardOutput
                #expect(!link.contains(",UP"), "\(link)")
            case "sg-drops-icmp":
                // Pings in are dropped by the fallback rule; the guest's own pings out still get their (established) replies.
                let out = try await lab.tapGuest(vm.name, .ping(target: plan.external.gateway, count: 1, payloadSize: 56))
                #expect(out.succeeded, "\(out.detail)")
            default:
                let hosts = try String(contentsOfFile: plan.dhcp.hostsFile, encoding: .utf8)
                #expect(!hosts.contains(vm.mac.description) && hosts.contains(plan.instances[0].mac.description))
            }
            let results = try await lab.check(only: Self.tapChecks.union(["dhcp:vm1", "router"]))
            return Set(results.filter { !$0.passed }.map(\.id))
        }
        #expect(failing == expected, "\(name)@tapvm1: failed \(failing.sorted()), expected \(expected.sorted())")
        let (lab, _) = try await LabFixture.shared.healthyLab()
        let after = try await lab.check(only: Self.tapChecks)
        for r in after { #expect(r.passed, "after repairing \(name)@tapvm1, \(r.id) fails: \(r.detail)") }
    }
}
