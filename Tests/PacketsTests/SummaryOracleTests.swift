import Foundation
import Packets
import Testing

/// Summaries compared with tcpdump's own output (`tcpdump -n -S -t -#`, run in the test) on the
/// shared real captures.
@Suite struct SummaryOracleTests {
    /// tcpdump's lines per packet; a continuation line (VXLAN's inner frame) is joined with `: `.
    static func tcpdumpLines(_ path: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/tcpdump")
        process.arguments = ["-n", "-S", "-t", "-#", "-r", path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var packets: [String] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            if let space = trimmed.firstIndex(of: " "), Int(trimmed[..<space]) != nil, trimmed[space...].hasPrefix("  ") {
                packets.append(String(trimmed[trimmed.index(space, offsetBy: 2)...]))
            } else if !line.isEmpty, !packets.isEmpty {
                packets[packets.count - 1] += (packets[packets.count - 1].hasSuffix(" ") ? "" : ": ") + line
            }
        }
        return packets
    }

    /// True when `longer` is `shorter` followed by more detail (`: HTTP: GET /`, `, xid 0x1`).
    static func extends(_ longer: String, _ shorter: String) -> Bool {
        guard longer.hasPrefix(shorter) else { return false }
        let rest = longer.dropFirst(shorter.count)
        return rest.hasPrefix(": ") || rest.hasPrefix(", ") || rest.hasPrefix(" ")
    }

    @Test func dumpMismatches() throws {
        var total = 0, exact = 0, prefix = 0
        var report = ""
        for path in sharedCaptures() {
            guard let (link, frames) = try? readCapture(path), link.isSupported else { continue }
            let expected = try Self.tcpdumpLines(path)
            for (i, frame) in frames.enumerated() where i < expected.count {
                let packet = frame.decode(link)
                let ours = frame.bytes.withUnsafeBytes { packet.summary(in: $0) }
                total += 1
                if ours == expected[i] { exact += 1 } else if Self.extends(expected[i], ours) || Self.extends(ours, expected[i]) { prefix += 1 } else {
                    report += "\(path.split(separator: "/").suffix(2).joined(separator: "/"))#\(i + 1)\n  ours: \(ours)\n  tcpd: \(expected[i])\n"
                }
            }
        }
        try report.write(toFile: "/tmp/summary-mismatches.txt", atomically: true, encoding: .utf8)
        print("summary: \(exact)/\(total) exact, \(prefix) prefix")
    }
}
