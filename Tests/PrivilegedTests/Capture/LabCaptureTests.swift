import Foundation
import Lab
import Namespaces
import Testing

/// `hopscope capture` in the OpenStack-style lab: an instance's ping followed at its tap, its qvo
/// (through an OVS mirror), the VXLAN underlay, and the router's qr- and qg-, healthy and broken.
@Suite(.serialized) struct LabCaptureTests {
    /// Runs `hopscope capture` on the five hops of vm1's path while `traffic` runs; returns the JSON report and exit code.
    func capture(_ plan: LabPlan, dir: String, text: Bool = false, traffic: @Sendable () async throws -> Void) async throws -> (Int32, String) {
        let vm = plan.floatingIPInstance
        let compute = plan.computeNode.namespace, router = plan.router.namespace
        let hops = ["\(vm.tapDevice)@\(compute)", "ovs:\(vm.ovsPort)@\(compute)", "\(plan.computeNode.underlayInterface)@\(compute)",
                    "\(plan.router.internalPort.name)@\(router)", "\(plan.router.gatewayPort.name)@\(router)"]
        async let run = HostCommand.run([hopscopeExecutable(), "capture"] + hops.flatMap { ["--on", $0] }
                                        + ["-f", "icmp or udp port 4789", "-d", "3s", "-o", dir] + (text ? [] : ["--json"]),
                                        environment: ["HOPSCOPE_STATE_DIR": dir + "-state", "NO_COLOR": "1"], timeout: .seconds(60), check: false)
        try await Task.sleep(for: .milliseconds(1200))
        try await traffic()
        let result = try await run
        return (result.exitCode, result.standardOutput + (result.exitCode == 2 ? result.standardError : ""))
    }

    @Test func followsAnInstancePingAcrossFiveHopsAndNamesWhereASecurityGroupDropsIt() async throws {
        try requireRoot()
        let lab = try Lab(prefix: "hscap-t\(getpid() % 10000)")
        let dir = NSTemporaryDirectory() + "hscap-labcap-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + "-state")
        }
        do {
            let plan = try await lab.up(instances: 1).plan
            let vm = plan.floatingIPInstance

            // Healthy: vm1 pings the external gateway; out through SNAT (its floating IP), and back.
            let (status, json) = try await capture(plan, dir: dir + "/healthy") {
                try await HostCommand.run(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "\(plan.external.gateway)"], in: .named(vm.namespace))
            }
            #expect(status == 0, "\(json)")
            let report = try JSONDecoder().decode(CaptureJSONReport.self, from: Data(json.utf8))
            #expect(report.mirrors.map(\.port) == [vm.ovsPort])
            #expect(report.hops.allSatisfy { $0.packets >= 4 && $0.kernelDropped == 0 }, "\(report.hops)")
            let timeline = try #require(report.timeline)
            let requests = timeline.journeys.filter { $0.summary.contains("echo request") }
            let replies = timeline.journeys.filter { $0.summary.contains("echo reply") }
            #expect(requests.count == 2 && replies.count == 2)
            for request in requests {
                #expect(request.direction == "forward" && request.arrived && request.answered == true)
                #expect(request.sightings.map(\.hop) == [0, 1, 2, 3, 4], "every hop, in path order")
                #expect(request.sightings[1].vlan == Int(vm.localVLAN), "the mirror shows the port VLAN")
                #expect(request.sightings[2].tunnel == "vxlan \(plan.network.segmentationID)")
                #expect(request.sightings[4].translation == "src \(vm.address) > \(plan.router.floatingIP.address)", "SNAT at qg-")
            }
            for reply in replies {
                #expect(reply.direction == "reverse" && reply.arrived)
                #expect(reply.sightings.map(\.hop) == [4, 3, 2, 1, 0])
                #expect(reply.sightings[1].translation == "dst \(plan.router.floatingIP.address) > \(vm.address)")
            }

            // Broken: vm1's security group lacks the ICMP ingress rule; a ping to its floating IP stops at the qvo.
            #expect(try await lab.apply("sg-drops-icmp"))
            let (brokenStatus, text) = try await capture(plan, dir: dir + "/broken", text: true) {
                _ = try await HostCommand.run(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "\(plan.router.floatingIP.address)"],
                                              in: .named(plan.external.namespace), check: false)
            }
            #expect(brokenStatus == 1, "a packet stopped: exit 1. \(text)")
            #expect(text.contains("STOPPED: 2 packet(s) last seen at \(vm.ovsPort)@\(plan.computeNode.namespace), never at \(vm.tapDevice)@\(plan.computeNode.namespace)"),
                    "\(text)")
        } catch {
            _ = try? await lab.down()
            throw error
        }
        _ = try await lab.down()
    }
}
