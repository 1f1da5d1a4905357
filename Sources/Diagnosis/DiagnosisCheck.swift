/// One check: a small type that looks at the topology and the walks of a run (never the live
/// machine) and reports findings of its code.
///
/// A check reports nothing on a healthy path: informational facts go to the run's notes, not
/// into findings. It says how surely each finding explains the failure (`Relevance`): `cause`
/// when the walk's own evidence ties the condition to where the packet stops (or a service the
/// instance needs is down), `mechanism` for the deciding flow, rule or route at the stop
/// without its reason, `contributing` for a problem that did not stop the packet walked.
///
/// To add one: write a struct conforming to `DiagnosisCheck` in `Checks/`, and list it in
/// `DiagnosisChecks.all`. Checks must be pure and cheap; they run once per evaluation.
public protocol DiagnosisCheck: Sendable {
    /// The code of its findings.
    var code: DiagnosisCode { get }
    func findings(in context: DiagnosisContext) -> [Finding]
}

/// The registry of checks, in the order their findings are listed when everything else ties.
public enum DiagnosisChecks {
    public static let all: [any DiagnosisCheck] = [
        // Devices and links
        LinkDownCheck(),
        VethPeerMissingCheck(),
        NotInBridgeCheck(),
        MTUCheck(),
        // Open vSwitch
        OVSDeadVLANCheck(),
        OVSTagMismatchCheck(),
        OVSFlowDropCheck(),
        OVSPatchBrokenCheck(),
        OVSInterfaceErrorCheck(),
        TunnelEndpointCheck(),
        // Firewall
        FirewallDropCheck(),
        FirewallNotEnforcedCheck(),
        // Routing and NAT
        NoRouteCheck(),
        IPForwardingCheck(),
        NATMissingCheck(),
        NeighborUnresolvedCheck(),
        RPFilterCheck(),
        // DHCP and DNS
        DHCPServerDownCheck(),
        DHCPNoHostEntryCheck(),
        DHCPReplyBlockedCheck(),
        DNSServerDownCheck(),
        DNSUpstreamCheck(),
        // Captures (active probing)
        PacketLostCheck(),
    ]
}
