import Foundation
import Namespaces
import Testing

/// `hopscope path` on bad input: each mistake exits 2 with a message saying what was wrong and
/// what to do. Runs the CLI on the recorded demo snapshot (captures/snapshots/healthy.json).
@Suite struct PathCommandErrorTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let healthy = packageRoot.appendingPathComponent("captures/snapshots/healthy.json").path

    /// Runs `hopscope path ARGS`; returns the exit status and standard error.
    func path(_ arguments: [String]) async throws -> (Int32, String) {
        let r = try await HostCommand.run([hopscopeExecutable(), "path"] + arguments, environment: ["NO_COLOR": "1"],
                                          timeout: .seconds(30), check: false)
        return (r.exitCode, r.standardError)
    }

    @Test func badInputExitsTwoAndSaysWhatToDo() async throws {
        try requireRoot()
        let s = Self.healthy
        let scratch = NSTemporaryDirectory() + "hspath-errors-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let future = scratch + "/future.json", garbage = scratch + "/garbage.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s))) as? [String: Any])
        let versionKey = try #require(object.keys.first { $0.lowercased().contains("version") }, "the snapshot carries its schema version")
        object[versionKey] = 999
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: future))
        try Data("not json".utf8).write(to: URL(fileURLWithPath: garbage))

        let cases: [([String], [String])] = [
            (["nosuch", "--to", "203.0.113.1", "--snapshot", s], ["no instance matches \"nosuch\"", "hspath-rec-vm1", "hspath-rec-vm2", "Give an IP"]),
            (["vm1", "--to", "203.0.113.1", "--snapshot", s, "--snapshot", s], ["\"vm1\" matches 2 instances; say which", "snapshot 1 of", "snapshot 2 of"]),
            (["vm1", "--to", "203.0.113.1", "--proto", "udp", "--snapshot", s], ["--proto takes icmp, udp:PORT or tcp:PORT, not 'udp'"]),
            (["vm1", "--to", "203.0.113.1", "--proto", "tcp:70000", "--snapshot", s], ["--proto takes icmp, udp:PORT or tcp:PORT"]),
            (["vm1", "--snapshot", s], ["give exactly one of --to DEST or --from SRC"]),
            (["vm1", "--to", "nowhere", "--snapshot", s], ["destination \"nowhere\" is neither an IP address nor an instance"]),
            (["vm1", "--to", "203.0.113.1", "--snapshot", scratch + "/missing.json"], ["cannot read snapshot", "no such file", "hopscope snapshot -o FILE"]),
            (["vm1", "--to", "203.0.113.1", "--snapshot", future], ["schema version 999 is not supported", "collect it again"]),
            (["vm1", "--to", "203.0.113.1", "--snapshot", garbage], ["not a JSON snapshot", "hopscope snapshot -o FILE"]),
        ]
        for (arguments, expected) in cases {
            let (status, stderr) = try await path(arguments)
            #expect(status == 2, "hopscope path \(arguments): exit \(status), \(stderr)")
            for text in expected { #expect(stderr.contains(text), "hopscope path \(arguments) should say \"\(text)\": \(stderr)") }
        }
        // The same snapshot walks fine: the errors above come from the input, not the file.
        let (status, stderr) = try await path(["vm1", "--to", "203.0.113.1", "--snapshot", s])
        #expect(status == 0, "\(stderr)")
    }
}
