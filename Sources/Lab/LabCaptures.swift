import Foundation
import HopscopeModel
import Namespaces

/// Records the small reference captures of `captures/` in a healthy lab with tcpdump inside the
/// lab's namespaces: a DHCP exchange at an instance's tap, ping and DNS at the router's qr-, and
/// VXLAN on the underlay. `scripts/record-captures` re-records them.
public enum LabCaptures {
    /// One recorded file.
    public struct Recording: Sendable {
        public var file: String
        public var packets: Int
        public var description: String
    }

    /// Records every capture into `directory` (created if needed) and returns what was written.
    /// Each tcpdump stops after its packet count or after 8 s; traffic starts once tcpdump listens.
    public static func record(in lab: Lab, to directory: String) async throws -> [Recording] {
        try Lab.requirePrivileges()
        let plan = try lab.plan
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let vm = plan.floatingIPInstance, probe = plan.probeInstance
        let config = LabConfiguration(plan: plan)
        var recordings: [Recording] = []

        recordings.append(try await capture(
            file: "\(directory)/dhcp-instance-tap.pcap", namespace: plan.computeNode.namespace, interface: vm.tapDevice,
            filter: "udp port 67 or udp port 68", count: 4,
            description: "DHCP discover/offer/request/ack of \(vm.name) at its tap device on the compute node") {
                try await HostCommand.run(["busybox", "udhcpc", "-i", vm.interface, "-n", "-q", "-f", "-t", "3", "-T", "1",
                                           "-s", config.dhcpProbeScript], in: .named(vm.namespace))
            })
        recordings.append(try await capture(
            file: "\(directory)/router-qr-ping-dns.pcap", namespace: plan.router.namespace, interface: plan.router.internalPort.name,
            filter: "icmp or udp port 53", count: 4,
            description: "at the router's qr-: \(probe.name) pings \(plan.external.gateway); dnsmasq forwards a query upstream") {
                try await HostCommand.run(["ping", "-n", "-c", "1", "-W", "2", "\(plan.external.gateway)"], in: .named(probe.namespace))
                // A name the DHCP server has not cached yet, so it forwards it upstream.
                try await HostCommand.run(["dig", "+short", "+time=2", "+tries=1", "@\(plan.dhcp.address)", plan.external.dnsRecords[1].name],
                                          in: .named(probe.namespace))
            })
        recordings.append(try await capture(
            file: "\(directory)/underlay-vxlan.pcap", namespace: plan.computeNode.namespace, interface: plan.computeNode.underlayInterface,
            filter: "udp port 4789 and udp[8:2] = 0x0800 and udp[28:2] = 0x0800 and udp[39] = 1", count: 2,
            description: "VXLAN (VNI \(plan.network.segmentationID)) on the underlay: \(probe.name) pings the router, echo request and reply") {
                try await HostCommand.run(["ping", "-n", "-c", "1", "-W", "2", "\(plan.network.gateway)"], in: .named(probe.namespace))
            })
        return recordings
    }

    /// Runs tcpdump on `interface` in `namespace` writing `file`, runs `traffic` once tcpdump
    /// listens, and waits for tcpdump to stop.
    static func capture(file: String, namespace: String, interface: String, filter: String, count: Int, description: String,
                        traffic: @escaping @Sendable () async throws -> Void) async throws -> Recording {
        try? FileManager.default.removeItem(atPath: file)
        let dump = Task {
            try await HostCommand.run(["timeout", "8", "tcpdump", "-Z", "root", "-n", "-i", interface, "-c", "\(count)",
                                       "-w", file, filter], in: .named(namespace), timeout: .seconds(15), check: false)
        }
        // tcpdump creates the file when it starts listening.
        let deadline = ContinuousClock.now + .seconds(5)
        while !FileManager.default.fileExists(atPath: file) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(200))
        try await traffic()
        let result = try await dump.value
        let counted = result.standardError.split(separator: "\n").first { $0.hasSuffix("packets captured") }
            .flatMap { Int($0.split(separator: " ")[0]) } ?? 0
        guard counted == count else {
            throw LabError.setupFailed(step: "recording \(file)", detail: "captured \(counted) of \(count) packets: \(result.standardError)")
        }
        return Recording(file: (file as NSString).lastPathComponent, packets: counted, description: description)
    }
}
