import Foundation
import HopscopeModel
import Namespaces
import OpenVSwitch

/// One running Open vSwitch (an `ovs-vswitchd` and the database it uses), found by the network
/// namespace it runs in. Ports are looked up and mirrors made over OVSDB (`OVSDBClient`); the
/// cleanup journal records `ovs-vsctl` commands with the right rundir, so that `hopscope cleanup`
/// can undo them with nothing but the OVS tools.
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

    /// Finds the `ovs-vswitchd` running in `namespace` (named, or this process's own) among the
    /// instances `OVSDiscovery` sees in the process table. Throws `OVSLookupError` when there is
    /// none, or more than one.
    public static func find(in namespace: NamespaceRef) throws -> OVSInstance {
        let wanted: String?
        switch namespace {
        case .current: wanted = nil
        case .named(let name): wanted = name
        case .process, .path:
            throw OVSLookupError(namespace: namespace, reason: "OVS ports are found by the name of the namespace ovs-vswitchd runs in")
        }
        let found = OVSDiscovery.discover().filter { $0.vswitchdPID != nil && $0.namespace == wanted && !$0.node.hasPrefix("net:[") }
        guard found.count == 1, let info = found.first, let pid = info.vswitchdPID else {
            throw OVSLookupError(namespace: namespace, reason: found.isEmpty
                ? "no ovs-vswitchd runs in this namespace"
                : "\(found.count) ovs-vswitchd processes run in this namespace (PIDs \(found.compactMap { $0.vswitchdPID.map(String.init) }.joined(separator: ", ")))")
        }
        return OVSInstance(namespace: namespace, database: info.databaseSocket, rundir: info.runDirectory, vswitchdPID: pid)
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

    /// Looks up `name` as an OVS port in one OVSDB read. Returns nil when no such port exists.
    /// Blocks on the OVSDB socket: runs on a thread of its own, not on the cooperative pool.
    public func port(named name: String) async throws -> Port? {
        let database = self.database
        let state = try await withNetworkNamespace(.current) { () throws -> OVSDatabase in
            try OVSDBClient(target: database).readDatabase()
        }
        guard let port = state.ports.first(where: { $0.name == name }),
              let bridge = state.bridges.first(where: { $0.ports.contains(port.uuid) }) else { return nil }
        let type = state.interfaces.first { port.interfaces.contains($0.uuid) }?.type ?? ""
        return Port(name: name, bridge: bridge.name, tag: port.tag, interfaceType: type)
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
