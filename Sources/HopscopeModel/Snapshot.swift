import Foundation

/// Everything Hopscope collects from one machine, at one time, in one Codable value: every
/// network namespace with its netlink state, sysctls and processes; every Open vSwitch instance
/// (database, flow dumps as text, OpenFlow port map, MAC tables); every namespace's iptables,
/// ip6tables and ipset dumps; the dnsmasq command lines with the files they name; libvirt domain
/// XML; host name, time and what could not be read.
///
/// Every analysis reads a snapshot, never the live system: live commands collect one first,
/// offline commands load one or several (`--snapshot FILE`, one per node). Raw texts (flow dumps,
/// iptables-save, dnsmasq files, domain XML) are kept as the tools printed them, and parsed when
/// analysed, so a snapshot is also the evidence.
///
/// The JSON layout is versioned by `schemaVersion`; `Snapshot.decode(_:)` refuses versions it
/// does not know, naming both. Pure value, `Sendable`.
public struct Snapshot: Hashable, Sendable, Codable {
    /// The schema this code writes and reads. Raise it when a field changes meaning or is removed.
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// The machine's host name (`gethostname`): the node this snapshot describes.
    public var hostname: String
    /// When the collection started.
    public var collectedAt: Date
    /// Seconds the collection took.
    public var collectionSeconds: Double
    /// The version of hopscope that collected it.
    public var collector: String
    /// The label of the namespace hopscope ran in (what `-n` defaults to).
    public var collectorNamespace: String?
    /// Namespaces, interfaces, addresses, routes of every table, rules, neighbours, FDB,
    /// forwarding sysctls and processes.
    public var network: NetworkInventory
    public var openVSwitch: [OVSInstanceSnapshot]
    /// iptables, ip6tables and ipset dumps, one entry per namespace.
    public var firewalls: [NamespaceFirewall]
    public var dnsmasq: [DnsmasqSnapshot]
    public var libvirtDomains: [LibvirtDomainFile]
    /// What could not be read, each a sentence naming the piece and the reason.
    public var warnings: [String]

    public init(hostname: String, collectedAt: Date, collectionSeconds: Double = 0, collector: String,
                collectorNamespace: String? = nil, network: NetworkInventory = NetworkInventory(),
                openVSwitch: [OVSInstanceSnapshot] = [], firewalls: [NamespaceFirewall] = [], dnsmasq: [DnsmasqSnapshot] = [],
                libvirtDomains: [LibvirtDomainFile] = [], warnings: [String] = []) {
        schemaVersion = Snapshot.currentSchemaVersion
        self.hostname = hostname
        self.collectedAt = collectedAt
        self.collectionSeconds = collectionSeconds
        self.collector = collector
        self.collectorNamespace = collectorNamespace
        self.network = network
        self.openVSwitch = openVSwitch
        self.firewalls = firewalls
        self.dnsmasq = dnsmasq
        self.libvirtDomains = libvirtDomains
        self.warnings = warnings
    }

    /// The firewall dumps of a namespace, with its addresses and br_netfilter settings from the
    /// inventory; nil when no iptables state was collected there.
    public func firewallDumps(namespace label: String) -> FirewallDumps? {
        guard let rules = firewalls.first(where: { $0.namespace == label }) else { return nil }
        return FirewallDumps(rules: rules, inventory: network.namespace(labelled: label))
    }

    /// The Open vSwitch instance whose ovs-vswitchd runs in the namespace `label`.
    public func openVSwitch(inNamespace label: String) -> OVSInstanceSnapshot? {
        openVSwitch.first { $0.namespaceLabel == label }
    }

    // MARK: JSON

    /// Encodes the snapshot as JSON (sorted keys, ISO 8601 time). `pretty` indents it.
    public func jsonData(pretty: Bool = false) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(self)
    }

    /// Decodes a snapshot written by `jsonData`. Throws `SnapshotFormatError` for a schema
    /// version this code does not read, or for JSON that is not a snapshot (naming the field).
    public static func decode(_ data: Data) throws -> Snapshot {
        struct Version: Decodable { var schemaVersion: Int? }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        let version: Version
        do { version = try d.decode(Version.self, from: data) } catch {
            throw SnapshotFormatError.notJSON(String(describing: error))
        }
        guard let v = version.schemaVersion else { throw SnapshotFormatError.notASnapshot }
        guard v == currentSchemaVersion else { throw SnapshotFormatError.unsupportedVersion(v, supported: currentSchemaVersion) }
        do { return try d.decode(Snapshot.self, from: data) } catch let e as DecodingError {
            throw SnapshotFormatError.invalid(SnapshotFormatError.describe(e))
        }
    }
}

/// A file that is not a snapshot this code can read.
public enum SnapshotFormatError: Error, CustomStringConvertible, Equatable {
    case notJSON(String)
    case notASnapshot
    case unsupportedVersion(Int, supported: Int)
    case invalid(String)

    public var description: String {
        switch self {
        case .notJSON(let why): "not a JSON snapshot (\(why)); write one with `hopscope snapshot -o FILE`"
        case .notASnapshot: "JSON without schemaVersion: not a hopscope snapshot; write one with `hopscope snapshot -o FILE`"
        case .unsupportedVersion(let v, let s):
            "snapshot schema version \(v) is not supported by this hopscope (it reads version \(s)); collect it again with this version"
        case .invalid(let why): "the snapshot does not decode: \(why)"
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [any CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined() }
        switch e {
        case .keyNotFound(let k, let ctx): return "missing field \(path(ctx.codingPath + [k]))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}

/// One Open vSwitch instance as collected: where it runs, its database, and per bridge the flow
/// dump text, OpenFlow port numbers and MAC table.
public struct OVSInstanceSnapshot: Hashable, Sendable, Codable {
    public var instance: OVSInstanceInfo
    /// The inventory label of the namespace ovs-vswitchd (or ovsdb-server) runs in.
    public var namespaceLabel: String?
    /// Nil when the database could not be read (see `warnings`).
    public var database: OVSDatabase?
    public var openFlow: [OVSBridgeOpenFlow]
    public var warnings: [String]

    public init(instance: OVSInstanceInfo, namespaceLabel: String?, database: OVSDatabase?,
                openFlow: [OVSBridgeOpenFlow] = [], warnings: [String] = []) {
        self.instance = instance
        self.namespaceLabel = namespaceLabel
        self.database = database
        self.openFlow = openFlow
        self.warnings = warnings
    }
}

/// The netfilter state of one namespace as the save commands print it.
public struct NamespaceFirewall: Hashable, Sendable, Codable {
    /// The inventory label of the namespace.
    public var namespace: String
    /// `iptables-save -c`; nil when the command is missing or failed (see `warnings`).
    public var iptablesSave: String?
    public var ip6tablesSave: String?
    /// `ipset save`; nil when ipset is missing or there are no sets.
    public var ipsetSave: String?
    public var warnings: [String]

    public init(namespace: String, iptablesSave: String? = nil, ip6tablesSave: String? = nil, ipsetSave: String? = nil,
                warnings: [String] = []) {
        self.namespace = namespace
        self.iptablesSave = iptablesSave
        self.ip6tablesSave = ip6tablesSave
        self.ipsetSave = ipsetSave
        self.warnings = warnings
    }
}

/// A dnsmasq process with its command line and the files that command line names (hosts,
/// additional hosts, options, leases, configuration), read when it was collected.
public struct DnsmasqSnapshot: Hashable, Sendable, Codable {
    public var pid: Int32
    /// The inventory label of the namespace it runs in.
    public var namespace: String
    /// The argument vector (`/proc/PID/cmdline`).
    public var arguments: [String]
    public var files: [CollectedFile]
    public var warnings: [String]

    public init(pid: Int32, namespace: String, arguments: [String], files: [CollectedFile] = [], warnings: [String] = []) {
        self.pid = pid
        self.namespace = namespace
        self.arguments = arguments
        self.files = files
        self.warnings = warnings
    }

    /// The value of `--NAME=VALUE` or `--NAME VALUE` options, in order.
    public func option(_ name: String) -> [String] {
        var out: [String] = []
        var i = 1
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("--\(name)=") {
                out.append(String(a.dropFirst(name.count + 3)))
            } else if a == "--\(name)", i + 1 < arguments.count {
                out.append(arguments[i + 1])
                i += 1
            }
            i += 1
        }
        return out
    }

    /// The file collected for a command-line option (`dhcp-hostsfile`, `addn-hosts`, ...).
    public func file(for option: String) -> CollectedFile? { files.first { $0.option == option } }

    /// The options whose values name files worth keeping, as dnsmasq(8) spells them.
    public static let fileOptions = ["dhcp-hostsfile", "addn-hosts", "dhcp-optsfile", "dhcp-leasefile", "conf-file",
                                     "dhcp-hostsdir", "dhcp-optsdir", "hostsdir", "resolv-file", "servers-file"]
}

/// A small text file collected from the machine, or why it could not be.
public struct CollectedFile: Hashable, Sendable, Codable {
    /// The command-line option that named it (`dhcp-hostsfile`), or a role such as `libvirt`.
    public var option: String
    public var path: String
    /// The content, nil when it could not be read.
    public var content: String?
    /// True when the file was larger than the collection limit and was cut.
    public var truncated: Bool
    public var error: String?

    public init(option: String, path: String, content: String?, truncated: Bool = false, error: String? = nil) {
        self.option = option
        self.path = path
        self.content = content
        self.truncated = truncated
        self.error = error
    }
}

/// A libvirt domain definition (`/etc/libvirt/qemu/NAME.xml`) or live state
/// (`/run/libvirt/qemu/NAME.xml`), kept as XML text.
public struct LibvirtDomainFile: Hashable, Sendable, Codable {
    public var path: String
    public var xml: String

    public init(path: String, xml: String) {
        self.path = path
        self.xml = xml
    }
}
