import HopscopeModel
import PathTrace
import Topology

/// What to diagnose: an instance, and either one path (`--to DEST` or `--from SRC`) or, with
/// neither, the instance's basic connectivity (its DHCP server, its gateway, the external
/// network's gateway, its DNS server and that server's upstream).
public struct DiagnosisRequest: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// From the instance to DEST (an address or another instance) and back.
        case to(String)
        /// From SRC (an address or an instance) to the instance (its floating IP from outside) and back.
        case from(String)
        /// The instance's basic connectivity: what every instance needs to work.
        case basicConnectivity
    }
    /// IP, MAC, Neutron port id or prefix, tap, vm-uuid, libvirt domain name or lab namespace.
    public var instance: String
    public var target: Target
    public var proto: PathProtocol
    /// IP packet length for MTU checks of the requested path (nil: the protocol's default).
    public var size: Int?

    public init(instance: String, target: Target = .basicConnectivity, proto: PathProtocol = .icmp, size: Int? = nil) {
        self.instance = instance
        self.target = target
        self.proto = proto
        self.size = size
    }
}

/// One packet walked for a diagnosis: why it was chosen, what was asked, and the walk.
public struct DiagnosisWalk: Sendable, Codable {
    public enum Purpose: String, Sendable, Codable, CaseIterable {
        /// The path the operator asked for (`--to` / `--from`).
        case requested
        /// The instance to its gateway (the router interface on its subnet).
        case gateway
        /// The instance to the external network's gateway, through its router.
        case externalGateway
        /// A DHCP reply from the network's DHCP server to the instance (and the request back).
        case dhcp
        /// A DNS query from the instance to its DNS server.
        case dns
        /// The DNS server's query to its upstream server.
        case dnsUpstream
    }

    public var purpose: Purpose
    /// In words, with where the target came from: `vm1 -> 10.0.0.1, its gateway (DHCP router option of ...)`.
    public var description: String
    /// The source, destination and protocol as given to the walk.
    public var source: String
    public var destination: String
    public var proto: String
    /// The walk; nil when it could not be made (`error` says why).
    public var result: PathResult?
    public var error: String?

    public init(purpose: Purpose, description: String, source: String, destination: String, proto: String,
                result: PathResult? = nil, error: String? = nil) {
        self.purpose = purpose
        self.description = description
        self.source = source
        self.destination = destination
        self.proto = proto
        self.result = result
        self.error = error
    }

    /// The hop where the walk stopped or could not go on (nil when it arrived, or was not made).
    public var stopHop: PathHop? {
        guard let r = result, r.verdict.kind != .reachable, let h = r.verdict.hop, h >= 1, h <= r.hops.count else { return nil }
        return r.hops[h - 1]
    }

    public var isReachable: Bool { result?.verdict.kind == .reachable }
}

/// What active probing saw of one walk's probe at the hops it captured on (PACKET_LOST_AT is
/// made from these). Passive diagnosis has none; `--active` adds them to the run and evaluates
/// it again.
public struct ProbeObservation: Sendable, Codable, Hashable {
    /// What a capture on one hop of the walk saw.
    public struct HopSighting: Sendable, Codable, Hashable {
        /// 1-based hop index in the walk's hops.
        public var hop: Int
        /// True: the probe (or its reply, for reply hops) was captured there; false: the capture
        /// ran and did not see it.
        public var seen: Bool
        /// The capture point and what it saw (summary lines of the matching packets), as evidence.
        public var evidence: [Evidence]

        public init(hop: Int, seen: Bool, evidence: [Evidence] = []) {
            self.hop = hop
            self.seen = seen
            self.evidence = evidence
        }
    }

    /// Index into `DiagnosisRun.walks`.
    public var walk: Int
    /// The probe in words: `3 ICMP echo requests from vm1 (namespace) to 203.0.113.1`.
    public var probe: String
    /// True when the probe got its answer at the source.
    public var answered: Bool
    public var sightings: [HopSighting]

    public init(walk: Int, probe: String, answered: Bool, sightings: [HopSighting]) {
        self.walk = walk
        self.probe = probe
        self.answered = answered
        self.sightings = sightings
    }
}

/// The outcome of a diagnosis: the instance, the walks made, what active probing observed (if
/// it ran), the findings ranked by how surely they explain the failure, informational notes
/// (kept apart: they are not findings), and the verdict.
///
/// `Diagnoser.diagnose` makes one passively; active probing adds `observations` and calls
/// `Diagnoser.evaluate` again, which re-runs every check and ranks the findings anew.
public struct DiagnosisRun: Sendable, Codable {
    public var instance: Instance
    /// How the request was understood: `basic connectivity of vm1`, `vm1 -> 203.0.113.1 icmp`.
    public var request: String
    /// True once probes were sent (`--active`).
    public var active: Bool
    public var walks: [DiagnosisWalk]
    public var observations: [ProbeObservation]
    public var findings: [Finding]
    /// What was chosen and assumed (targets and where they came from, a guest's next hop).
    public var notes: [String]
    public var verdict: DiagnosisVerdict

    public init(instance: Instance, request: String, walks: [DiagnosisWalk], notes: [String]) {
        self.instance = instance
        self.request = request
        active = false
        self.walks = walks
        observations = []
        findings = []
        self.notes = notes
        verdict = DiagnosisVerdict(status: .undiagnosed, line: "not evaluated yet")
    }
}

/// The conclusion: healthy, a problem found, or could not diagnose, with the line printed first.
public struct DiagnosisVerdict: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable {
        /// Every walk arrives and back, and no check found anything.
        case healthy
        /// A walk stops, or a check found a problem.
        case problem
        /// Nothing was found, but a walk could not be followed to its end (or not made at all).
        case undiagnosed
    }
    public var status: Status
    /// `unreachable: the packet is dropped on compute1 by ...; allow ICMP in ...`.
    public var line: String

    /// The process exit code: 0 healthy, 1 problem found, 2 could not diagnose.
    public var exitCode: Int32 {
        switch status {
        case .healthy: 0
        case .problem: 1
        case .undiagnosed: 2
        }
    }
}
