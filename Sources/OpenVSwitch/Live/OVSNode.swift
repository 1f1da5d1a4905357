import Foundation
import HopscopeModel
import Namespaces

/// One live Open vSwitch instance: reads its database over OVSDB and its OpenFlow state with
/// `ovs-ofctl`/`ovs-appctl` (argument vectors, never a shell; OVS_RUNDIR set for every command,
/// bridges reached at `unix:RUNDIR/BRIDGE.mgmt`).
///
/// Stateless apart from the instance description; safe to use from any task.
public struct OVSNode: Sendable {
    public var instance: OVSInstanceInfo
    public var timeout: Duration

    public init(_ instance: OVSInstanceInfo, timeout: Duration = .seconds(30)) {
        self.instance = instance
        self.timeout = timeout
    }

    /// Environment every OVS command of this instance needs.
    public var environment: [String: String] {
        ["OVS_RUNDIR": instance.runDirectory, "OVS_DBDIR": instance.runDirectory, "OVS_LOGDIR": instance.runDirectory]
    }

    /// Opens an OVSDB connection to the instance.
    public func client(timeout: Duration = .seconds(5)) throws -> OVSDBClient {
        try OVSDBClient(target: instance.databaseSocket, timeout: timeout)
    }

    /// Reads the database in one transaction.
    public func readDatabase() throws -> OVSDatabase {
        try client().readDatabase()
    }

    /// `unix:RUNDIR/BRIDGE.mgmt`, the OpenFlow management socket of a bridge.
    public func managementSocket(_ bridge: String) -> String { "unix:\(instance.runDirectory)/\(bridge).mgmt" }

    /// `-O` versions for a bridge that restricts OpenFlow versions (none when it does not).
    static func versionArguments(_ protocols: [String]) -> [String] {
        let known = ["OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"]
        let allowed = protocols.filter { known.contains($0) }
        return allowed.isEmpty ? [] : ["-O", allowed.joined(separator: ",")]
    }

    /// The argument vector of `ovs-ofctl dump-flows` for `bridge`.
    public func dumpFlowsCommand(bridge: String, protocols: [String] = [], table: Int? = nil) -> [String] {
        ["ovs-ofctl"] + OVSNode.versionArguments(protocols) + ["dump-flows", managementSocket(bridge)] + (table.map { ["table=\($0)"] } ?? [])
    }

    /// Runs `ovs-ofctl dump-flows` and returns its text.
    public func dumpFlows(bridge: String, protocols: [String] = [], table: Int? = nil) async throws -> (argv: [String], text: String) {
        let argv = dumpFlowsCommand(bridge: bridge, protocols: protocols, table: table)
        let r = try await HostCommand.run(argv, environment: environment, timeout: timeout)
        return (argv, r.standardOutput)
    }

    /// Runs `ovs-ofctl dump-flows` and parses its output while it arrives (parsing overlaps with
    /// ovs-ofctl printing). Same text and the same `FlowDump` as `dumpFlows` then
    /// `FlowDump(parsing:)`; throws `CommandError` when ovs-ofctl fails, else the first
    /// `FlowParseError`.
    public func fetchFlowDump(bridge: String, protocols: [String] = [], table: Int? = nil) async throws -> (argv: [String], text: String, dump: FlowDump) {
        let argv = dumpFlowsCommand(bridge: bridge, protocols: protocols, table: table)
        let stream = FlowDumpStream()
        try await HostCommand.stream(argv, environment: environment, timeout: timeout) { stream.append($0) }
        let parsed = try stream.finish()
        return (argv, parsed.text, parsed.dump)
    }

    /// Runs `ovs-ofctl show` and parses the ports.
    public func openFlowPorts(bridge: String, protocols: [String] = []) async throws -> [OVSOpenFlowPort] {
        let r = try await HostCommand.run(["ovs-ofctl"] + OVSNode.versionArguments(protocols) + ["show", managementSocket(bridge)],
                                          environment: environment, timeout: timeout)
        return try OfctlOutput.parseShow(r.standardOutput)
    }

    /// `ovs-appctl -t CTL ARGS...`; fails with a clear message when the instance has no control socket.
    @discardableResult
    public func appctl(_ arguments: [String]) async throws -> String {
        guard let ctl = instance.controlSocket else {
            throw OVSDBError.connection(operation: arguments.first ?? "ovs-appctl", socket: instance.runDirectory,
                                        reason: "no ovs-vswitchd control socket found for node \(instance.node) (is ovs-vswitchd running?)")
        }
        return try await HostCommand.run(["ovs-appctl", "-t", ctl] + arguments, environment: environment, timeout: timeout).standardOutput
    }

    /// `ovs-appctl fdb/show BRIDGE`, parsed.
    public func macTable(bridge: String) async throws -> [OVSFDBEntry] {
        try OfctlOutput.parseFDB(try await appctl(["fdb/show", bridge]))
    }

    /// Collects flows, ports and MAC table of every bridge in `database`.
    public func collectOpenFlow(_ database: OVSDatabase) async throws -> [OVSBridgeOpenFlow] {
        var out: [OVSBridgeOpenFlow] = []
        for bridge in database.bridges {
            let dump = try await dumpFlows(bridge: bridge.name, protocols: bridge.protocols)
            let ports = try await openFlowPorts(bridge: bridge.name, protocols: bridge.protocols)
            let fdb = instance.controlSocket == nil ? [] : try await macTable(bridge: bridge.name)
            out.append(OVSBridgeOpenFlow(bridge: bridge.name, dumpCommand: dump.argv, flowDump: dump.text, ports: ports, fdb: fdb))
        }
        return out
    }

    /// Everything the evaluator needs, read now: database, per-bridge OpenFlow state, and the
    /// compiled model.
    public func snapshotModel() async throws -> (database: OVSDatabase, openFlow: [OVSBridgeOpenFlow], model: OpenFlowModel) {
        let db = try readDatabase()
        let of = try await collectOpenFlow(db)
        return (db, of, try OpenFlowModel(database: db, openFlow: of))
    }

    /// `ovs-appctl ofproto/trace BRIDGE FLOW [--ct-next STATE]...`: the oracle.
    public func ofprotoTrace(bridge: String, flow: String, conntrack: [String] = []) async throws -> String {
        try await appctl(["ofproto/trace", bridge, flow] + conntrack.flatMap { ["--ct-next", $0] })
    }
}
