import HopscopeModel

/// One problem a check found: its code, a title in operator words, where it is (the walk and
/// hop, node, namespace, device), the evidence with its raw text, and the commands to confirm
/// and to fix it.
///
/// Pure value; the JSON field names are stable (`hopscope diagnose --json` prints them).
public struct Finding: Hashable, Sendable, Codable {
    public var code: DiagnosisCode
    /// What is wrong, where, in one line: `tapd8ac2005-fb (vm1's tap) is administratively down on compute1`.
    public var title: String
    public var severity: Severity
    public var relevance: Relevance
    /// The code's specificity, kept in the JSON so that the order can be read from it.
    public var specificity: Int
    public var location: FindingLocation
    /// The sentence the verdict line uses when this finding comes first, without the leading
    /// `unreachable:`: `the packet is dropped on compute1 by security-group rule "..." (chain)`.
    public var headline: String
    /// The flows, rules, routes, sysctls, link states, processes and file lines that show it.
    public var evidence: [Evidence]
    public var advice: Advice

    public init(code: DiagnosisCode, title: String, severity: Severity? = nil, relevance: Relevance,
                location: FindingLocation, headline: String? = nil, evidence: [Evidence], advice: Advice) {
        self.code = code
        self.title = title
        self.severity = severity ?? code.defaultSeverity
        self.relevance = relevance
        specificity = code.specificity
        self.location = location
        self.headline = headline ?? title
        self.evidence = evidence
        self.advice = advice
    }

    /// The same place and code: two checks (or two walks) saying the same thing.
    func isSame(as other: Finding) -> Bool {
        code == other.code && location.node == other.location.node && location.namespace == other.location.namespace
            && location.device == other.location.device
    }
}

/// Where a finding is: the walk and hop when it lies on a walked path, and always the node,
/// namespace and device.
public struct FindingLocation: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Index into `DiagnosisRun.walks` (nil: not tied to one walk).
    public var walk: Int?
    /// 1-based hop index within that walk's hops (nil: not on the walked path).
    public var hop: Int?
    public var node: String
    public var namespace: String
    /// The interface, bridge, port or process; nil for the namespace as a whole.
    public var device: String?

    public init(walk: Int? = nil, hop: Int? = nil, node: String, namespace: String, device: String?) {
        self.walk = walk
        self.hop = hop
        self.node = node
        self.namespace = namespace
        self.device = device
    }

    /// `hop 2: compute1 compute1 tapd8ac2005-fb`, or `compute1 qdhcp-… ns-1234` off the path.
    public var description: String {
        let place = [node, namespace == node ? nil : namespace, device].compactMap { $0 }.joined(separator: " ")
        return hop.map { "hop \($0): \(place)" } ?? place
    }
}

/// What to do about a finding: one sentence, then exact commands to confirm it and to fix it,
/// each runnable where the finding is (`ip netns exec qrouter-… ip route`, `OVS_RUNDIR=… ovs-vsctl
/// …` for a switch with its own run directory, `openstack …` for the cloud's API).
public struct Advice: Hashable, Sendable, Codable {
    /// What to do, in operator words: `allow ICMP in the instance's security group or test with SSH`.
    public var summary: String
    public var confirm: [String]
    public var fix: [String]

    public init(summary: String, confirm: [String] = [], fix: [String] = []) {
        self.summary = summary
        self.confirm = confirm
        self.fix = fix
    }
}
