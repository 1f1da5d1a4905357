import Foundation
import Namespaces
import Testing

/// `hopscope capture` end to end, as an operator runs it: several namespaces, a fault, the verdict.
@Suite struct CaptureCommandTests {
    @Test func namesTheLastHopThatSawPingsDroppedByAFirewallOnThePath() async throws {
        try requireRoot()
        try await CaptureScratch.with(4) { scratch in
            let dir = NSTemporaryDirectory() + "\(scratch.stem)-cli"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // Host 2 forwards nothing but the first echo request (a firewall fault in the middle of the path).
            try await HostCommand.run(["iptables", "-A", "FORWARD", "-p", "icmp", "--icmp-type", "echo-request", "-m", "limit", "--limit", "1/hour",
                                       "--limit-burst", "1", "-j", "ACCEPT"], in: .named(scratch.hosts[2]))
            try await HostCommand.run(["iptables", "-A", "FORWARD", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"], in: .named(scratch.hosts[2]))
            let hops = (0..<3).map { "\(CaptureScratch.linkEnds($0).left)@\(scratch.hosts[$0])" }
            async let capture = HostCommand.run([hopscopeExecutable(), "capture"] + hops.flatMap { ["--on", $0] }
                                                + ["-f", "icmp", "-d", "3s", "-o", dir, "--json"],
                                                environment: ["HOPSCOPE_STATE_DIR": dir + "-state"], timeout: .seconds(30), check: false)
            try await Task.sleep(for: .milliseconds(800))
            _ = try? await scratch.ping(scratch.farAddress, count: 3)
            let result = try await capture
            defer { try? FileManager.default.removeItem(atPath: dir + "-state") }
            #expect(result.exitCode == 1, "a packet stopped: exit 1. stderr: \(result.standardError)")
            let report = try JSONDecoder().decode(CaptureJSONReport.self, from: Data(result.standardOutput.utf8))
            #expect(report.hops.map(\.packets) == [4, 4, 2], "3 requests leave host 0 and host 1, one gets past host 2 and is answered")
            let timeline = try #require(report.timeline)
            #expect(timeline.hops == hops)
            let requests = timeline.journeys.filter { $0.summary.contains("echo request") }
            #expect(requests.count == 3)
            #expect(requests.filter(\.arrived).count == 1)
            let stopped = requests.filter { !$0.arrived }
            #expect(stopped.count == 2)
            #expect(stopped.allSatisfy { $0.direction == "forward" && $0.lastSeenHop == 1 && $0.missedHops == [2] })
            let replies = timeline.journeys.filter { $0.summary.contains("echo reply") }
            #expect(replies.count == 1)
            #expect(replies.allSatisfy { $0.direction == "reverse" && $0.arrived })
            #expect(report.mergedFile != nil)

            // The human report names that hop in its verdict.
            async let again = HostCommand.run([hopscopeExecutable(), "capture"] + hops.flatMap { ["--on", $0] }
                                              + ["-f", "icmp", "-d", "2s", "-o", dir + "/text"],
                                              environment: ["HOPSCOPE_STATE_DIR": dir + "-state", "NO_COLOR": "1"], timeout: .seconds(30), check: false)
            try await Task.sleep(for: .milliseconds(800))
            _ = try? await scratch.ping(scratch.farAddress, count: 2)
            let text = try await again.standardOutput
            #expect(text.contains("STOPPED: 2 packet(s) last seen at \(hops[1]), never at \(hops[2])"), "\(text)")
        }
    }
}
