import Capture
import Foundation
import Namespaces
import Testing

/// Live capture in scratch `hscap-` namespaces: real veth links, real pings, real files.
@Suite struct LiveCaptureTests {
    /// Runs `tool` with `args` and returns its standard output (tshark, capinfos: the oracles).
    func oracle(_ argv: [String]) async throws -> String {
        try await HostCommand.run(argv, timeout: .seconds(60)).standardOutput
    }

    @Test func capturesEveryHopOfAChainAtOnceAndWritesFilesTsharkReads() async throws {
        try requireRoot()
        try await CaptureScratch.with(4) { scratch in
            let dir = NSTemporaryDirectory() + "\(scratch.stem)-files"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // One hop per namespace, in path order: host 0's left end, then each forwarding host's exit.
            let points = (0..<3).map { k in CapturePoint(interface: CaptureScratch.linkEnds(k).left, namespace: .named(scratch.hosts[k])) }
            let session = try CaptureSession(CaptureConfiguration(
                points: points, options: LiveCaptureOptions(filter: "icmp"), duration: .seconds(20),
                outputDirectory: dir, deliverPackets: true))
            try await scratch.ping(scratch.farAddress, count: 5)
            // 5 requests and 5 replies cross every hop.
            var seen = [Int](repeating: 0, count: 3)
            for await batch in session.packets {
                for p in batch { seen[p.hop] += 1 }
                if seen.allSatisfy({ $0 >= 10 }) { session.stop() }
            }
            let result = try await session.finish()
            #expect(seen == [10, 10, 10])
            for hop in result.hops {
                #expect(hop.progress.packets == 10, "\(hop.point.label)")
                #expect(hop.progress.kernel.droppedByKernel == 0)
                let file = try #require(hop.file)
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                #expect((attributes[.posixPermissions] as? Int) == 0o600)
                let count = try await oracle(["capinfos", "-c", "-M", "-T", "-r", file])
                #expect(count.contains("\t10"), "capinfos: \(count)")
            }
            let merged = try #require(result.mergedFile)
            let attributes = try FileManager.default.attributesOfItem(atPath: merged)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            // tshark names each packet's interface; the order of frames must be by time.
            let rows = try await oracle(["tshark", "-r", merged, "-T", "fields", "-e", "frame.interface_name",
                                         "-e", "frame.interface_description", "-e", "frame.time_epoch", "-e", "icmp.seq"])
                .split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            #expect(rows.count == 30)
            #expect(Set(rows.map { $0[0] }) == Set(points.map(\.label)))
            #expect(rows.allSatisfy { $0[1].contains("in network namespace \(scratch.stem)") })
            let times = rows.compactMap { Decimal(string: $0[2]) }
            #expect(times.count == 30 && times == times.sorted(), "timestamps ordered across hops")
            // The first request crosses hop 1, 2 and 3 in that order.
            let firstRequest = rows.filter { $0[3] == "1" }.prefix(3).map { $0[0] }
            #expect(firstRequest == points.map(\.label))
            // Statistics blocks carry the drop counters per hop.
            let stats = try await oracle(["capinfos", "-I", merged])
            #expect(stats.contains("Number of stat entries = 1"), "\(stats)")
            // No partial file left behind.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(left.allSatisfy { !$0.hasSuffix(".partial") }, "\(left)")
            #expect(left.count == 4)
        }
    }

    @Test func stopsEachHopAtThePacketLimitAndTheSessionAtItsDeadline() async throws {
        try requireRoot()
        try await CaptureScratch.with(2) { scratch in
            let (left, right) = CaptureScratch.linkEnds(0)
            let counted = try CaptureSession(CaptureConfiguration(
                points: [CapturePoint(interface: left, namespace: .named(scratch.hosts[0]))],
                options: LiveCaptureOptions(filter: "icmp[icmptype] == icmp-echo"), packetLimitPerHop: 3, duration: .seconds(30)))
            try await scratch.ping(scratch.farAddress, count: 6)
            let countedResult = try await counted.finish()
            #expect(countedResult.hops[0].progress.packets == 3)
            #expect(countedResult.hops[0].stopReason == .packetLimit(3))
            #expect(countedResult.mergedFile == nil)

            let start = ContinuousClock.now
            let timed = try CaptureSession(CaptureConfiguration(
                points: [CapturePoint(interface: right, namespace: .named(scratch.hosts[1]))], duration: .milliseconds(500)))
            let timedResult = try await timed.finish()
            let elapsed = ContinuousClock.now - start
            #expect(timedResult.hops[0].stopReason == .requested)
            #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(10), "stopped by the deadline, not hanging: \(elapsed)")
        }
    }

    @Test func writesPacketsThatArrivedJustBeforeTheStop() async throws {
        try requireRoot()
        try await CaptureScratch.with(2) { scratch in
            // Block delivery (the default) hands over a partly filled block only after 100 ms; a
            // stop right after the traffic must still write every packet.
            let session = try CaptureSession(CaptureConfiguration(
                points: [CapturePoint(interface: CaptureScratch.linkEnds(0).right, namespace: .named(scratch.hosts[1]))],
                options: LiveCaptureOptions(filter: "icmp"), duration: .seconds(30)))
            try await HostCommand.run(["ping", "-n", "-q", "-c", "3", "-i", "0.01", "-W", "1", CaptureScratch.address(link: 0, right: true)],
                                      in: .named(scratch.hosts[0]))
            session.stop()
            let result = try await session.finish()
            #expect(result.hops[0].progress.packets == 6, "3 requests and 3 replies")
        }
    }

    @Test func explainsAMissingInterfaceAndABadFilter() async throws {
        try requireRoot()
        try await CaptureScratch.with(2) { scratch in
            do {
                _ = try CaptureSession(CaptureConfiguration(points: [CapturePoint(interface: "hscap-nope", namespace: .named(scratch.hosts[0]))]))
                Issue.record("expected an error for a missing interface")
            } catch let e as PcapError {
                #expect(e.description.contains("no interface hscap-nope in netns \(scratch.hosts[0])"), "\(e)")
            }
            do {
                _ = try CaptureSession(CaptureConfiguration(
                    points: [CapturePoint(interface: CaptureScratch.linkEnds(0).left, namespace: .named(scratch.hosts[0]))],
                    options: LiveCaptureOptions(filter: "icmp and and")))
                Issue.record("expected an error for a bad filter")
            } catch let e as PcapError {
                #expect(e.description.contains("compiling the filter \"icmp and and\""), "\(e)")
            }
        }
    }
}
