import Foundation
import Namespaces

/// One place on the path where packets are captured: a Linux interface in a network namespace,
/// possibly the capture end of a temporary OVS mirror standing in for a port tcpdump cannot reach.
public struct CapturePoint: Sendable, Hashable {
    /// The Linux interface libpcap opens.
    public var interface: String
    /// The namespace the interface lives in.
    public var namespace: NamespaceRef
    /// The hop's short name as the operator gave it: `tap1@compute1`, or the OVS port name for a mirror.
    public var label: String
    /// A sentence saying what is captured, written into the pcapng interface description.
    public var about: String

    public init(interface: String, namespace: NamespaceRef = .current, label: String? = nil, about: String? = nil) {
        self.interface = interface
        self.namespace = namespace
        let defaultLabel = namespace == .current ? interface : "\(interface)@\(namespace.description)"
        self.label = label ?? defaultLabel
        self.about = about ?? (namespace == .current
            ? "interface \(interface) in the current network namespace"
            : "interface \(interface) in network namespace \(namespace.description)")
    }

    /// Parses the command-line form `IF[@NETNS]`. Throws `CapturePointSyntaxError` when empty parts
    /// or more than one `@` make it ambiguous.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
            throw CapturePointSyntaxError(text: text)
        }
        self.init(interface: parts[0], namespace: parts.count == 2 ? .named(parts[1]) : .current)
    }

    /// A file-name-safe form of the label, for per-hop pcap files.
    public var fileStem: String {
        String(label.map { $0.isLetter || $0.isNumber || "-_.@".contains($0) ? $0 : "_" })
    }
}

/// A `--on` argument that is not of the form `IF[@NETNS]`.
public struct CapturePointSyntaxError: Error, CustomStringConvertible {
    public var text: String
    public var description: String {
        "\"\(text)\" is not a capture point; write INTERFACE or INTERFACE@NETNS, e.g. tap1234@compute1"
    }
}
