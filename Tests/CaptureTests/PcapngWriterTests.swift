import CPcap
@testable import Capture
import Foundation
import Namespaces
import Testing

/// The pcapng writer and the per-hop merge, read back with libpcap and with tshark/capinfos.
@Suite struct PcapngWriterTests {
    func scratchDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "hscap-pcapng-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// An Ethernet frame whose last byte is `marker`, `length` bytes long.
    func frame(_ marker: UInt8, length: Int = 60) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: length)
        f[12] = 0x08; f[13] = 0x00
        f[length - 1] = marker
        return f
    }

    /// Every packet of a capture file as libpcap reads it: (timestamp ns, original length, bytes).
    func readWithLibpcap(_ path: String) throws -> [(Int64, UInt32, [UInt8])] {
        let cursor = try SavefileCursor(path: path, hopLabel: "test")
        var out: [(Int64, UInt32, [UInt8])] = []
        while cursor.hasPacket {
            out.append((cursor.timestampNanoseconds, cursor.originalLength, Array(cursor.data)))
            try cursor.advance()
        }
        return out
    }

    func tool(_ argv: [String]) async throws -> String {
        try await HostCommand.run(argv).standardOutput
    }

    @Test func writesInterfacesPacketsAndStatisticsThatLibpcapAndTsharkRead() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/two.pcapng"
        let writer = try PcapngWriter(path: path)
        try writer.addInterface(PcapngInterface(name: "tap1@compute1", description: "interface tap1 in network namespace compute1"))
        try writer.addInterface(PcapngInterface(name: "qr-1@qrouter-1", description: "interface qr-1 in network namespace qrouter-1"))
        let t0: Int64 = 1_763_700_000_123_456_789
        // A 61-byte frame needs padding; a truncated one keeps its original length.
        let packets: [(UInt32, Int64, UInt32, [UInt8])] = [(0, t0, 61, frame(1, length: 61)),
                                                            (1, t0 + 1_500, 1514, frame(2, length: 96)),
                                                            (0, t0 + 2_000_000_000, 60, frame(3))]
        for (interface, ts, original, data) in packets {
            try data.withUnsafeBytes { try writer.writePacket(interface: interface, timestampNanoseconds: ts, originalLength: original, data: $0) }
        }
        try writer.writeStatistics(interface: 0, PcapngInterfaceStatistics(startNanoseconds: t0, endNanoseconds: t0 + 3_000_000_000,
                                                                            received: 2, droppedByOS: 7, delivered: 2))
        #expect(!FileManager.default.fileExists(atPath: path), "nothing under the final name before commit")
        try writer.commit()
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)

        let read = try readWithLibpcap(path)
        #expect(read.map(\.0) == packets.map(\.1), "nanosecond timestamps survive")
        #expect(read.map(\.1) == packets.map(\.2))
        #expect(read.map(\.2) == packets.map(\.3))

        let rows = try await tool(["tshark", "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.interface_description",
                                   "-e", "frame.time_epoch", "-e", "frame.len"]).split(separator: "\n")
        #expect(rows == ["tap1@compute1\tinterface tap1 in network namespace compute1\t1763700000.123456789\t61",
                         "qr-1@qrouter-1\tinterface qr-1 in network namespace qrouter-1\t1763700000.123458289\t1514",
                         "tap1@compute1\tinterface tap1 in network namespace compute1\t1763700002.123456789\t60"])
        let info = try await tool(["capinfos", "-I", path])
        #expect(info.contains("Number of interfaces in file: 2"))
        #expect(info.contains("Time precision = nanoseconds (9)"))
        // capinfos parses the statistics block (a malformed one fails the whole read).
        #expect(info.contains("Number of stat entries = 1"))
    }

    @Test func abandonedWriterLeavesNoFile() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let writer = try PcapngWriter(path: dir + "/gone.pcapng")
            try writer.addInterface(PcapngInterface(name: "x", description: "y"))
            // Released without commit, as when an error unwinds the caller.
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// Writes a nanosecond pcap file with libpcap's own dumper, as a hop reader does.
    func writePcap(_ path: String, _ packets: [(Int64, [UInt8])]) throws {
        let dead = try #require(pcap_open_dead_with_tstamp_precision(1, 65535, UInt32(PCAP_TSTAMP_PRECISION_NANO)))
        defer { pcap_close(dead) }
        let dumper = try #require(pcap_dump_open(dead, path))
        for (ts, data) in packets {
            var header = pcap_pkthdr()
            header.ts.tv_sec = Int(ts / 1_000_000_000)
            header.ts.tv_usec = Int(ts % 1_000_000_000)
            header.caplen = UInt32(data.count)
            header.len = UInt32(data.count)
            pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), &header, data)
        }
        pcap_dump_close(dumper)
    }

    @Test func mergesHopFilesInTimestampOrderWithOneInterfacePerHop() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t: Int64 = 1_700_000_000_000_000_000
        try writePcap(dir + "/a.pcap", [(t + 10, frame(1)), (t + 30, frame(3)), (t + 50, frame(5))])
        try writePcap(dir + "/b.pcap", [(t + 20, frame(2)), (t + 40, frame(4))])
        try writePcap(dir + "/c.pcap", [])
        let hops = [CapturePoint(interface: "tap1", namespace: .named("compute1")),
                    CapturePoint(interface: "qr-1", namespace: .named("qrouter-1")),
                    CapturePoint(interface: "eth9")]
        try PcapngMerger.merge(hops: [(hops[0], dir + "/a.pcap", PcapStatistics(received: 3, droppedByKernel: 0)),
                                      (hops[1], dir + "/b.pcap", PcapStatistics(received: 4, droppedByKernel: 2)),
                                      (hops[2], dir + "/c.pcap", PcapStatistics())],
                               into: dir + "/all.pcapng", startNanoseconds: t, endNanoseconds: t + 100)
        let read = try readWithLibpcap(dir + "/all.pcapng")
        #expect(read.map(\.0) == [10, 20, 30, 40, 50].map { t + $0 })
        #expect(read.map { $0.2.last! } == [1, 2, 3, 4, 5])
        let names = try await tool(["tshark", "-r", dir + "/all.pcapng", "-T", "fields", "-e", "frame.interface_name"]).split(separator: "\n")
        #expect(names == ["tap1@compute1", "qr-1@qrouter-1", "tap1@compute1", "qr-1@qrouter-1", "tap1@compute1"])
        let info = try await tool(["capinfos", "-I", dir + "/all.pcapng"])
        #expect(info.contains("Number of interfaces in file: 3"))
        #expect(info.contains("Name = eth9"))
        #expect(info.contains("Description = interface qr-1 in network namespace qrouter-1"))
    }

    @Test func mergeOfAnUnreadableHopFileNamesItAndWritesNothing() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a capture".utf8).write(to: URL(fileURLWithPath: dir + "/bad.pcap"))
        #expect(throws: PcapError.self) {
            try PcapngMerger.merge(hops: [(CapturePoint(interface: "tap1"), dir + "/bad.pcap", PcapStatistics())],
                                   into: dir + "/all.pcapng", startNanoseconds: 0, endNanoseconds: 0)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/all.pcapng"))
    }
}
