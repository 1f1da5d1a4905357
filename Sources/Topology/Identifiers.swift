import HopscopeModel

/// A network namespace of one snapshot: the snapshot's position in the topology and the
/// namespace's inventory label. Labels repeat across machines (`host`), so both are needed.
public struct NamespaceID: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var snapshot: Int
    public var label: String

    public init(snapshot: Int, label: String) {
        self.snapshot = snapshot
        self.label = label
    }

    public var description: String { label }
    public static func < (a: NamespaceID, b: NamespaceID) -> Bool { (a.snapshot, a.label) < (b.snapshot, b.label) }
}

/// One Linux interface: its namespace and ifindex.
public struct InterfaceID: Hashable, Sendable, Codable, Comparable {
    public var namespace: NamespaceID
    public var index: Int

    public init(namespace: NamespaceID, index: Int) {
        self.namespace = namespace
        self.index = index
    }

    public static func < (a: InterfaceID, b: InterfaceID) -> Bool { (a.namespace, a.index) < (b.namespace, b.index) }
}

/// One port of one bridge of one Open vSwitch instance (by its position in `Topology.switches`).
public struct OVSPortID: Hashable, Sendable, Codable {
    public var instance: Int
    public var bridge: String
    public var port: String

    public init(instance: Int, bridge: String, port: String) {
        self.instance = instance
        self.bridge = bridge
        self.port = port
    }
}

/// A fact about an instance (its IP, MAC, port id, ...) and where it was read.
public struct InstanceFact: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Field: String, Hashable, Sendable, Codable { case ip, mac, portID, vmUUID, domainName, tap, namespace }
    public var field: Field
    public var value: String
    /// Where it comes from, in operator words: `OVS external_ids:attached-mac of qvo…@compute1`.
    public var source: String

    public init(field: Field, value: String, source: String) {
        self.field = field
        self.value = value
        self.source = source
    }

    public var description: String { "\(field.rawValue) \(value) (from \(source))" }
}
