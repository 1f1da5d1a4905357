import Foundation
import HopscopeModel
import Namespaces

/// A private Open vSwitch for tests and benchmarks: a fresh network namespace holding its own
/// `ovsdb-server` and `ovs-vswitchd --disable-system` (userspace datapath), with its own run
/// directory, as LAB-NOTES.md describes.
///
/// `start` creates everything under the given name (which must carry the caller's prefix);
/// `stop` stops the daemons by the PIDs they wrote (never by name), deletes the namespace and the
/// run directory, and is safe to call twice. Needs root.
public final class OVSSandbox: @unchecked Sendable {
    public let name: String
    public let runDirectory: String
    public private(set) var ovsdbPID: Int32?
    public private(set) var vswitchdPID: Int32?
    private var stopped = false

    /// The instance description, as discovery would report it.
    public var instance: OVSInstanceInfo {
        OVSInstanceInfo(node: name, namespace: name, databaseSocket: "unix:\(runDirectory)/db.sock", runDirectory: runDirectory,
                        controlSocket: vswitchdPID.map { "\(runDirectory)/ovs-vswitchd.\($0).ctl" },
                        ovsdbServerPID: ovsdbPID, vswitchdPID: vswitchdPID)
    }
    public var node: OVSNode { OVSNode(instance) }
    var environment: [String: String] { ["OVS_RUNDIR": runDirectory, "OVS_DBDIR": runDirectory, "OVS_LOGDIR": runDirectory] }

    private init(name: String) {
        self.name = name
        runDirectory = "/tmp/\(name)"
    }

    /// Creates namespace `name` and starts both daemons in it. On failure everything created so
    /// far is removed before the error is thrown.
    public static func start(name: String) async throws -> OVSSandbox {
        let s = OVSSandbox(name: name)
        do {
            try? FileManager.default.removeItem(atPath: s.runDirectory)
            try FileManager.default.createDirectory(atPath: s.runDirectory, withIntermediateDirectories: true)
            try await HostCommand.run(["ip", "netns", "add", name])
            try await s.inNamespace(["ip", "link", "set", "lo", "up"])
            let db = "\(s.runDirectory)/conf.db"
            try await HostCommand.run(["ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"], environment: s.environment)
            try await s.inNamespace(["ovsdb-server", db, "--remote=punix:\(s.runDirectory)/db.sock", "--pidfile=\(s.runDirectory)/ovsdb-server.pid",
                                     "--unixctl=\(s.runDirectory)/ovsdb-server.ctl", "--log-file=\(s.runDirectory)/ovsdb-server.log", "--detach"])
            s.ovsdbPID = s.readPID("ovsdb-server")
            try await s.vsctl(["--no-wait", "init"])
            try await s.inNamespace(["ovs-vswitchd", "unix:\(s.runDirectory)/db.sock", "--disable-system",
                                     "--pidfile=\(s.runDirectory)/ovs-vswitchd.pid", "--log-file=\(s.runDirectory)/ovs-vswitchd.log", "--detach"])
            s.vswitchdPID = s.readPID("ovs-vswitchd")
            return s
        } catch {
            await s.stop()
            throw error
        }
    }

    private func readPID(_ program: String) -> Int32? {
        (try? String(contentsOfFile: "\(runDirectory)/\(program).pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs `argv` inside the sandbox namespace with the sandbox's OVS environment.
    @discardableResult
    public func inNamespace(_ argv: [String], input: String? = nil, timeout: Duration = .seconds(120)) async throws -> CommandResult {
        try await HostCommand.run(argv, in: .named(name), input: input, environment: environment, timeout: timeout)
    }

    /// `ovs-vsctl --db=unix:RUNDIR/db.sock ARGS`.
    @discardableResult
    public func vsctl(_ args: [String]) async throws -> String {
        try await HostCommand.run(["ovs-vsctl", "--db=unix:\(runDirectory)/db.sock", "--timeout=30"] + args, environment: environment).standardOutput
    }

    /// `ovs-ofctl ARGS` with the bridge reached at its management socket (pass the bridge as
    /// `bridge`, the rest in `args` after the command).
    @discardableResult
    public func ofctl(_ command: String, _ bridge: String, _ args: [String] = [], options: [String] = [], input: String? = nil) async throws -> String {
        try await HostCommand.run(["ovs-ofctl"] + options + [command, "unix:\(runDirectory)/\(bridge).mgmt"] + args,
                                  input: input, environment: environment, timeout: .seconds(300)).standardOutput
    }

    /// `ovs-appctl -t CTL ARGS`.
    @discardableResult
    public func appctl(_ args: [String]) async throws -> String {
        try await node.appctl(args)
    }

    /// Stops the daemons by PID, deletes the namespace and run directory. Idempotent.
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        for pid in [vswitchdPID, ovsdbPID].compactMap({ $0 }) {
            kill(pid, SIGTERM)
            for _ in 0..<50 where kill(pid, 0) == 0 {
                // A detached daemon is re-parented to PID 1; once it exits it may linger as a zombie.
                if let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), s.contains(") Z ") { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        _ = try? await HostCommand.run(["ip", "netns", "delete", name], check: false)
        try? FileManager.default.removeItem(atPath: runDirectory)
    }
}
