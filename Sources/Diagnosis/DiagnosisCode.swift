/// The stable code of a finding: what kind of problem it is, in the words operators search for.
///
/// Codes never change meaning once published (scripts match on them); new problems get new
/// codes. Each code carries its generic title, its usual severity and how specific it is as an
/// explanation (a root cause such as a dead VLAN is more specific than the drop flow it causes),
/// which orders findings of the same relevance.
public enum DiagnosisCode: String, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case linkDown = "LINK_DOWN"
    case vethPeerMissing = "VETH_PEER_MISSING"
    case notInBridge = "NOT_IN_BRIDGE"
    case mtuMismatch = "MTU_MISMATCH"
    case ovsDeadVLAN = "OVS_DEAD_VLAN"
    case ovsTagMismatch = "OVS_TAG_MISMATCH"
    case ovsFlowDrop = "OVS_FLOW_DROP"
    case ovsPatchBroken = "OVS_PATCH_BROKEN"
    case ovsInterfaceError = "OVS_INTERFACE_ERROR"
    case tunnelEndpointUnreachable = "TUNNEL_ENDPOINT_UNREACHABLE"
    case firewallDrop = "FIREWALL_DROP"
    case firewallNotEnforced = "FIREWALL_NOT_ENFORCED"
    case noRoute = "NO_ROUTE"
    case ipForwardingDisabled = "IP_FORWARDING_DISABLED"
    case natMissing = "NAT_MISSING"
    case neighborUnresolved = "NEIGHBOR_UNRESOLVED"
    case rpFilterDrop = "RP_FILTER_DROP"
    case dhcpServerDown = "DHCP_SERVER_DOWN"
    case dhcpNoHostEntry = "DHCP_NO_HOST_ENTRY"
    case dhcpReplyBlocked = "DHCP_REPLY_BLOCKED"
    case dnsServerDown = "DNS_SERVER_DOWN"
    case dnsUpstreamUnreachable = "DNS_UPSTREAM_UNREACHABLE"
    /// Produced from captures by active probing: the probe was seen up to a hop and not after it.
    case packetLostAt = "PACKET_LOST_AT"

    public var description: String { rawValue }

    /// What the code means, in one line of operator words.
    public var title: String {
        switch self {
        case .linkDown: "an interface on the path is down"
        case .vethPeerMissing: "the other end of a veth pair is not where it can be followed"
        case .notInBridge: "a device that should be a bridge port is not"
        case .mtuMismatch: "a device's MTU is too small for the packets it must carry"
        case .ovsDeadVLAN: "an Open vSwitch port is on the dead VLAN 4095"
        case .ovsTagMismatch: "an Open vSwitch port carries the wrong local VLAN tag"
        case .ovsFlowDrop: "an OpenFlow table drops the packet (a drop flow or a table miss)"
        case .ovsPatchBroken: "an Open vSwitch patch port does not lead to its peer"
        case .ovsInterfaceError: "Open vSwitch reports an error on an interface"
        case .tunnelEndpointUnreachable: "a tunnel points at an endpoint that cannot be reached"
        case .firewallDrop: "an iptables rule drops the packet"
        case .firewallNotEnforced: "security-group rules exist but bridged traffic bypasses iptables"
        case .noRoute: "no route to the destination"
        case .ipForwardingDisabled: "IP forwarding is off where the packet must be routed"
        case .natMissing: "an address translation the path needs is missing"
        case .neighborUnresolved: "the next hop's MAC address cannot be resolved"
        case .rpFilterDrop: "reverse-path filtering drops the packet"
        case .dhcpServerDown: "the network's DHCP server is not running"
        case .dhcpNoHostEntry: "the DHCP server has no entry for the instance"
        case .dhcpReplyBlocked: "DHCP messages between the instance and its server are dropped"
        case .dnsServerDown: "the instance's DNS server does not answer"
        case .dnsUpstreamUnreachable: "the DNS server cannot reach its upstream server"
        case .packetLostAt: "probes were lost between two captured hops"
        }
    }

    /// The severity a finding of this code has unless its check says otherwise.
    public var defaultSeverity: Severity {
        switch self {
        case .mtuMismatch, .firewallNotEnforced: .warning
        default: .error
        }
    }

    /// How specific the code is as an explanation, 0 to 100: a root cause (a dead VLAN, a missing
    /// NAT rule) outranks the generic mechanism it triggers (a drop flow, a missing route) when
    /// both explain the same stop.
    public var specificity: Int {
        switch self {
        case .ovsDeadVLAN: 95
        case .ovsTagMismatch, .natMissing, .dhcpReplyBlocked: 90
        case .rpFilterDrop, .ipForwardingDisabled, .ovsPatchBroken, .tunnelEndpointUnreachable: 85
        case .vethPeerMissing, .notInBridge, .dhcpServerDown, .dhcpNoHostEntry: 80
        case .linkDown, .dnsServerDown: 75
        case .ovsInterfaceError: 70
        case .neighborUnresolved, .mtuMismatch: 60
        case .noRoute, .firewallNotEnforced: 50
        case .firewallDrop, .dnsUpstreamUnreachable: 40
        case .ovsFlowDrop: 30
        case .packetLostAt: 20
        }
    }
}

/// How bad a finding is.
public enum Severity: String, Hashable, Sendable, Codable, Comparable {
    /// Something works less well than it should (large packets, unenforced rules).
    case warning
    /// Something does not work.
    case error

    public static func < (a: Severity, b: Severity) -> Bool { a == .warning && b == .error }
}

/// How surely a finding explains what the operator asked about. Findings are ranked by this
/// first, then by their code's specificity.
public enum Relevance: String, Hashable, Sendable, Codable, Comparable {
    /// A problem found in the state that did not stop any walked packet (elsewhere on the
    /// instance's network, or on a path that still works for the packet walked).
    case contributing
    /// What stopped the packet at the hop where the walk stops: the deciding flow, rule or
    /// route, without saying why it is there.
    case mechanism
    /// Why the packet stops: the condition is tied to the stop by the walk's own evidence (the
    /// deciding rule, the dropped packet's VLAN, the device where it ends), or a service the
    /// instance needs is down.
    case cause

    var order: Int {
        switch self {
        case .contributing: 0
        case .mechanism: 1
        case .cause: 2
        }
    }

    public static func < (a: Relevance, b: Relevance) -> Bool { a.order < b.order }
}
