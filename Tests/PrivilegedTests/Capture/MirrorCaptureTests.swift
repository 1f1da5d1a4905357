import Capture
import Foundation
import Namespaces
import Testing

/// Capturing OVS ports through temporary mirrors on a scratch Open vSwitch, and removing them
/// always: at the end of a run, and after the capturing process was killed.
@Suite(.serialized) struct MirrorCaptureTests {
    func stateDirectory() -> String { NSTemporaryDirectory() + "hscap-state-\(UUID().uuidString)" }

    @Test func mirrorsAPortWithItsVlanTagAndRemovesTheMirrorAfterwards() async throws {
        try requireRoot()
        try await ScratchOVS.with { ovs in
            let state = stateDirectory()
            defer { try? FileManager.default.removeItem(atPath: state) }
            let run = try await CaptureRun(journalDirectory: state)
            try await run.start([HopRequest(name: ScratchOVS.hostPort(0), namespace: .named(ovs.node), forceMirror: true),
                                 HopRequest(name: "patch0", namespace: .named(ovs.node))]) { points in
                CaptureConfiguration(points: points, options: LiveCaptureOptions(filter: "icmp"), duration: .seconds(15), deliverPackets: true)
            }
            #expect(run.mirrors.count == 2)
            #expect(run.mirrors[0].selection == .port(ScratchOVS.hostPort(0)))
            #expect(run.mirrors[0].caveat == nil)
            // The patch port cannot be a mirror source: the whole bridge is mirrored, and the operator is told.
            #expect(run.mirrors[1].selection == .wholeBridge)
            #expect(run.mirrors[1].caveat?.contains("patch port") == true)
            #expect(try await ovs.mirrors().count == 2)
            #expect(try await ovs.mirrorLinks().count == 4)

            try await ovs.ping(count: 3)
            var vlanTagged = [0, 0]
            var total = [0, 0]
            for await batch in run.session!.packets {
                for p in batch {
                    total[p.hop] += 1
                    // Ethernet type 0x8100 after the two MAC addresses, VLAN id 10.
                    if p.data.count > 16, p.data[12] == 0x81, p.data[13] == 0x00, (Int(p.data[14] & 0x0F) << 8 | Int(p.data[15])) == 10 {
                        vlanTagged[p.hop] += 1
                    }
                }
                if total.allSatisfy({ $0 >= 6 }) { run.stop() }
            }
            let (result, cleanup) = try await run.finish()
            #expect(cleanup.failures.isEmpty)
            #expect(result.hops.map(\.progress.packets) == [6, 6], "3 requests and 3 replies through each mirror")
            #expect(vlanTagged == [6, 6], "mirrored packets carry the access VLAN of the port")
            #expect(try await ovs.mirrors().isEmpty, "mirrors removed")
            #expect(try await ovs.mirrorLinks().isEmpty, "mirror veth pairs removed")
            #expect(try await ovs.vsctl(["list-ports", "br0"]).standardOutput.split(separator: "\n").sorted()
                == [ScratchOVS.hostPort(0), ScratchOVS.hostPort(1), "patch0"].map { Substring($0) })
            #expect((try? FileManager.default.contentsOfDirectory(atPath: state))?.filter { $0.hasSuffix(".json") } == [])
        }
    }

    /// Starts `hopscope capture ARGS` as a child process and waits (bounded) until it journaled
    /// and created its mirror and is writing its files.
    func startCapture(_ arguments: [String], ovs: ScratchOVS, state: String, output: String) async throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: hopscopeExecutable())
        child.arguments = ["capture"] + arguments + ["--duration", "120s", "--output-dir", output]
        child.environment = ProcessInfo.processInfo.environment.merging(["HOPSCOPE_STATE_DIR": state]) { $1 }
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        var capturing = false
        for _ in 0..<100 where !capturing {
            try await Task.sleep(for: .milliseconds(100))
            capturing = try await ovs.mirrors().count == 1
                && ((try? FileManager.default.contentsOfDirectory(atPath: output))?.contains { $0.hasSuffix(".partial") } ?? false)
        }
        if !capturing {
            child.terminate()
            child.waitUntilExit()
        }
        try #require(capturing, "the child capture did not start within 10 s")
        return child
    }

    @Test func ctrlCStopsTheCaptureWritesTheFilesAndRemovesTheMirror() async throws {
        try requireRoot()
        try await ScratchOVS.with { ovs in
            let state = stateDirectory()
            let output = NSTemporaryDirectory() + "hscap-interrupted-\(UUID().uuidString)"
            defer {
                try? FileManager.default.removeItem(atPath: state)
                try? FileManager.default.removeItem(atPath: output)
            }
            let child = try await startCapture(["--on", "ovs:\(ScratchOVS.hostPort(0))@\(ovs.node)", "-f", "icmp"], ovs: ovs, state: state, output: output)
            try await ovs.ping(count: 2)
            kill(child.processIdentifier, SIGINT)
            child.waitUntilExit()
            #expect(child.terminationReason == .exit && child.terminationStatus == 0, "Ctrl-C is a normal stop")
            #expect(try await ovs.mirrors().isEmpty, "mirror removed on Ctrl-C")
            #expect(try await ovs.mirrorLinks().isEmpty)
            let files = try FileManager.default.contentsOfDirectory(atPath: output).sorted()
            #expect(files.count == 2 && files.allSatisfy { !$0.hasSuffix(".partial") }, "\(files)")
            let count = try await HostCommand.run(["capinfos", "-c", "-M", "-T", "-r", output + "/all-hops.pcapng"]).standardOutput
            #expect(count.contains("\t4"), "2 requests and 2 replies: \(count)")
        }
    }

    @Test func cleanupRemovesTheMirrorOfAKilledCapture() async throws {
        try requireRoot()
        try await ScratchOVS.with { ovs in
            let state = stateDirectory()
            let output = NSTemporaryDirectory() + "hscap-killed-\(UUID().uuidString)"
            defer {
                try? FileManager.default.removeItem(atPath: state)
                try? FileManager.default.removeItem(atPath: output)
            }
            let child = try await startCapture(["--on", "ovs:\(ScratchOVS.hostPort(1))@\(ovs.node)"], ovs: ovs, state: state, output: output)
            // The journal names the capturing process: that PID is the one killed.
            struct Journal: Decodable { var ownerPID: Int32 }
            let journals = try FileManager.default.contentsOfDirectory(atPath: state + "/cleanup").filter { $0.hasSuffix(".json") }
            let pid = try JSONDecoder().decode(Journal.self, from: Data(contentsOf: URL(fileURLWithPath: state + "/cleanup/" + journals[0]))).ownerPID
            #expect(journals.count == 1 && pid == child.processIdentifier)
            kill(pid, SIGKILL)
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal)
            #expect(try await ovs.mirrors().count == 1, "SIGKILL leaves the mirror behind")
            #expect(try await ovs.mirrorLinks().count == 2)

            let cleanup = try await HostCommand.run([hopscopeExecutable(), "cleanup"], environment: ["HOPSCOPE_STATE_DIR": state])
            #expect(cleanup.standardOutput.contains("removed: mirror hscap-m"), "\(cleanup.standardOutput)")
            #expect(try await ovs.mirrors().isEmpty)
            #expect(try await ovs.mirrorLinks().isEmpty)
            #expect(try await ovs.vsctl(["list-ports", "br0"]).standardOutput.split(separator: "\n").count == 3)
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
            #expect(leftovers.allSatisfy { !$0.hasSuffix(".partial") }, "partial capture files removed: \(leftovers)")
            #expect((try? FileManager.default.contentsOfDirectory(atPath: state + "/cleanup")) == [])
            let again = try await HostCommand.run([hopscopeExecutable(), "cleanup"], environment: ["HOPSCOPE_STATE_DIR": state])
            #expect(again.standardOutput.contains("nothing to clean up"))
        }
    }
}

/// The `hopscope` executable built next to the test bundle.
func hopscopeExecutable() -> String {
    let testBinary = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    return testBinary.deletingLastPathComponent().appendingPathComponent("hopscope").path
}
