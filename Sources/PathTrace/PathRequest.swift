import HopscopeModel
import Topology

/// The packet a walk sends: ICMP echo, or UDP or TCP to a port.
public enum PathProtocol: Hashable, Sendable, Codable, CustomStringConvertible {
    case icmp
    case udp(UInt16)
    case tcp(UInt16)

    /// Parses `icmp`, `udp:PORT` or `tcp:PORT`; nil otherwise.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: ":", maxSplits: 1).map(String.init)
        switch parts.first {
        case "icmp" where parts.count == 1: self = .icmp
        case "udp" where parts.count == 2: guard let p = UInt16(parts[1]), p > 0 else { return nil }; self = .udp(p)
        case "tcp" where parts.count == 2: guard let p = UInt16(parts[1]), p > 0 else { return nil }; self = .tcp(p)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .icmp: "icmp"
        case .udp(let p): "udp:\(p)"
        case .tcp(let p): "tcp:\(p)"
        }
    }

    /// The IP packet length a walk assumes when none is given: a default ping (84 bytes), or a
    /// small UDP datagram or TCP SYN.
    public var defaultSize: Int {
        switch self {
        case .icmp: 84
        case .udp: 60
        case .tcp: 60
        }
    }
}

/// What to walk: from an instance to a destination (`to`), or from a source to the instance
/// (`from`, to its floating IP when the source is outside its subnet and one exists).
public struct PathRequest: Sendable {
    public enum Direction: Sendable, Hashable {
        /// DEST: an IP address or another instance.
        case to(String)
        /// SRC: an IP address (of a namespace in the snapshots, or outside them) or another instance.
        case from(String)
    }
    /// The instance: IP, MAC, port id or prefix, tap, vm-uuid, domain name or namespace.
    public var instance: String
    public var direction: Direction
    public var proto: PathProtocol
    /// IP packet length in bytes (for MTU checks); nil for the protocol's default.
    public var size: Int?
    /// Source port of UDP and TCP packets.
    public var sourcePort: UInt16

    public init(instance: String, direction: Direction, proto: PathProtocol = .icmp, size: Int? = nil, sourcePort: UInt16 = 40000) {
        self.instance = instance
        self.direction = direction
        self.proto = proto
        self.size = size
        self.sourcePort = sourcePort
    }
}

/// A walk's outcome: the hops forward and back, the verdict, and what it was based on.
public struct PathResult: Sendable, Codable {
    public var instance: Instance
    /// Where the walk starts and what it aims at, in words.
    public var source: String
    public var destination: String
    public var proto: String
    /// The packet as it leaves the source.
    public var packet: PacketKey
    public var hops: [PathHop]
    /// The forward walk's own conclusion, and the reply's (nil when the forward walk did not arrive).
    public var forward: PathVerdict
    public var reply: PathVerdict?
    /// The overall verdict: reachable only when the packet arrives and its reply comes back.
    public var verdict: PathVerdict
    /// Where flooded copies went that are not the reported path.
    public var otherBranches: [String]
    /// Assumptions and facts (a floating IP used, a guest's gateway taken from DHCP).
    public var notes: [String]
}

/// The request cannot be walked: unknown instance, source or destination.
public struct PathRequestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
