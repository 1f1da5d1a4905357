/// What a hop, table, chain or route decides about a packet.
///
/// Every evaluator returns one of three answers and never guesses: when it meets something it
/// does not model (an unsupported action, a match it cannot read, missing state) the answer is
/// `unknown` with the reason, so a caller can tell "dropped" from "could not say".
public enum Decision: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The packet goes on, to the named places (ports, interfaces, next hops; may be empty for
    /// "accepted here" decisions such as a netfilter ACCEPT).
    case forward(to: [String])
    /// The packet stops here.
    case drop
    /// The evaluator cannot say; the reason names what it could not model.
    case unknown(reason: String)

    public var isDrop: Bool { if case .drop = self { true } else { false } }
    public var isUnknown: Bool { if case .unknown = self { true } else { false } }
    public var isForward: Bool { if case .forward = self { true } else { false } }

    public var description: String {
        switch self {
        case .forward(let to): to.isEmpty ? "forward" : "forward to \(to.joined(separator: ", "))"
        case .drop: "drop"
        case .unknown(let reason): "unknown (\(reason))"
        }
    }
}

/// One piece of evidence behind a decision: the exact flow, rule, route, entry or observation,
/// with its raw text as the tool that owns it prints it.
public struct Evidence: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        case flow, firewallRule, route, policyRule, neighbor, fdb, link, address, sysctl
        case ovsdb, process, file, capture, probe, note
    }

    public var kind: Kind
    /// Where it lives, in operator words: `br-int table 0`, `filter neutron-openvswi-sg-fallback`,
    /// `route table main`, `/proc/sys/net/ipv4/ip_forward`.
    public var source: String
    /// The raw line as `ovs-ofctl`, `iptables-save`, `ip` or the file shows it.
    public var text: String
    /// An optional note on why it matters.
    public var note: String?

    public init(kind: Kind, source: String, text: String, note: String? = nil) {
        self.kind = kind
        self.source = source
        self.text = text
        self.note = note
    }

    public var description: String {
        "[\(kind.rawValue)] \(source): \(text)" + (note.map { " (\($0))" } ?? "")
    }
}
