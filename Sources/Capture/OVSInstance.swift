import Foundation
import Namespaces

/// One running Open vSwitch (an `ovs-vswitchd` and the database it uses), found by the network
/// namespace it runs in, and reached with `ovs-vsctl` through its own database socket and rundir.
///
/// The OVSDB client of the `OpenVSwitch` module will replace `ovs-vsctl` here once it has
/// transactions; until then `ovs-vsctl` is run through `HostCommand` (an argument vector, never a shell).
public struct OVSInstance: Sendable, Equatable {
    /// The network namespace `ovs-vswitchd` runs in (where its netdev ports and tap devices live).
    public var namespace: NamespaceRef
    /// `unix:PATH` of the OVSDB server the switch uses.
    public var database: String
    /// The rundir every OVS command must be given (`OVS_RUNDIR`), or it waits on /var/run/openvswitch.
    public var rundir: String
    public var vswitchdPID: Int32

    public init(namespace: NamespaceRef, database: String, rundir: String, vswitchdPID: Int32) {
        self.namespace = namespace
        self.database = database
        self.rundir = rundir
        self.vswitchdPID = vswitchdPID
    }

    /// Finds the `ovs-vswitchd` running in `namespace` by comparing namespace inodes under /proc.
    /// Throws `OVSLookupError` when there is none, or more than one (then `--ovs-db` must choose).
    public static func find(in namespace: NamespaceRef) throws -> OVSInstance {
        let target = try namespaceInode(namespace.path ?? "/proc/self/ns/net")
        var found: [OVSInstance] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == "ovs-vswitchd",
                  (try? namespaceInode("/proc/\(pid)/ns/net")) == target,
                  let argv = try? readNulSeparated("/proc/\(pid)/cmdline") else { continue }
            let environment = (try? readNulSeparated("/proc/\(pid)/environ")) ?? []
            let envRundir = environment.first { $0.hasPrefix("OVS_RUNDIR=") }.map { String($0.dropFirst("OVS_RUNDIR=".count)) }
            let pidfileDir = argv.first { $0.hasPrefix("--pidfile=") }
                .map { URL(fileURLWithPath: String($0.dropFirst("--pidfile=".count))).deletingLastPathComponent().path }
            let rundir = envRundir ?? pidfileDir ?? "/var/run/openvswitch"
            let database = argv.dropFirst().first { $0.hasPrefix("unix:") } ?? "unix:\(rundir)/db.sock"
            found.append(OVSInstance(namespace: namespace, database: database, rundir: rundir, vswitchdPID: pid))
        }
        guard found.count == 1 else {
            throw OVSLookupError(namespace: namespace, reason: found.isEmpty
                ? "no ovs-vswitchd runs in this namespace"
                : "\(found.count) ovs-vswitchd processes run in this namespace (PIDs \(found.map { "\($0.vswitchdPID)" }.joined(separator: ", ")))")
        }
        return found[0]
    }

    /// Runs `ovs-vsctl` against this instance with a 20-second deadline and returns its stdout.
    @discardableResult
    public func vsctl(_ arguments: [String], check: Bool = true) async throws -> CommandResult {
        try await HostCommand.run(vsctlArgv(arguments), in: namespace, environment: environment, timeout: .seconds(20), check: check)
    }

    /// The full `ovs-vsctl` argument vector for `arguments` (also recorded in cleanup journals).
    public func vsctlArgv(_ arguments: [String]) -> [String] {
        ["ovs-vsctl", "--db=\(database)", "--timeout=15"] + arguments
    }

    /// The environment every OVS command of this instance needs.
    public var environment: [String: String] { ["OVS_RUNDIR": rundir] }

    /// What OVS knows about one port: its bridge, VLAN tag and interface type.
    public struct Port: Sendable, Equatable {
        public var name: String
        public var bridge: String
        /// The access VLAN (`tag` column), nil for a trunk.
        public var tag: Int?
        /// The interface type: "" or "system" for a Linux device, "internal", "patch", "vxlan", ...
        public var interfaceType: String

        /// Patch ports are not Linux devices and, in the userspace datapath, are not usable as
        /// mirror sources (LAB-NOTES: selecting one captured nothing).
        public var isPatch: Bool { interfaceType == "patch" }
    }

    /// Looks up `name` as an OVS port. Returns nil when no such port exists on this instance.
    public func port(named name: String) async throws -> Port? {
        let bridge = try await vsctl(["port-to-br", name], check: false)
        guard bridge.succeeded else { return nil }
        let tag = try await vsctl(["get", "Port", name, "tag"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let type = try await vsctl(["get", "Interface", name, "type"]).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return Port(name: name, bridge: bridge.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines),
                    tag: Int(tag), interfaceType: type)
    }
}

/// No single Open vSwitch could be found for a namespace.
public struct OVSLookupError: Error, CustomStringConvertible {
    public var namespace: NamespaceRef
    public var reason: String
    public var description: String {
        "cannot reach Open vSwitch in netns \(namespace.description): \(reason); name the namespace where ovs-vswitchd runs after @"
    }
}

/// The inode of a namespace file: two paths name the same namespace when their inodes agree.
func namespaceInode(_ path: String) throws -> UInt64 {
    var st = stat()
    try systemCall("stat \(path)") { stat(path, &st) }
    return UInt64(st.st_ino)
}

/// Reads a /proc file of NUL-separated strings (cmdline, environ).
private func readNulSeparated(_ path: String) throws -> [String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
}
