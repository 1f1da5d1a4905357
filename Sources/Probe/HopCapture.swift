import Capture
import Foundation
import HopscopeModel
import Namespaces
import PathTrace
import Topology

/// Where to capture a walk's probe: one capture point per Linux interface the walk passes
/// (instance NIC, tap, qvb, qvo, underlay NIC, router and DHCP ports), shared by the forward and
/// the reply hops on it. Hops that are not a Linux interface in reach (OVS bridges, patch and
/// tunnel ports, Linux bridge masters, which do not see what they forward, a guest behind its
/// tap) are not captured and say why.
public struct HopCapturePlan: Sendable {
    public var points: [CapturePoint]
    /// 1-based hop index -> index into `points`.
    public var hopPoints: [Int: Int]
    /// 1-based hop index -> why it is not captured.
    public var skipped: [Int: String]

    /// `bypassed`: devices (`name@namespace label`) the probe does not pass although the walk
    /// does, with why: the instance's own tap, qbr, qvb and qvo when it leaves from a probe port.
    public init(walk result: PathResult, topology: Topology, bypassed: [String: String] = [:]) {
        var points: [CapturePoint] = []
        var hopPoints: [Int: Int] = [:]
        var skipped: [Int: String] = [:]
        for hop in result.hops {
            let isGuest = hop.device == nil || hop.role.hasSuffix("(guest)")
            if let why = bypassed["\(hop.device ?? "-")@\(hop.namespace)"] ?? (isGuest || hop.role.hasPrefix("instance NIC") ? bypassed["-@"] : nil) {
                skipped[hop.index] = why
                continue
            }
            if isGuest { skipped[hop.index] = "the guest behind its tap: seen on the tap"; continue }
            guard let device = hop.device else { skipped[hop.index] = "no device (a guest behind its tap)"; continue }
            if hop.role.hasPrefix("OVS bridge") || hop.role == "patch" || hop.role.hasSuffix("tunnel") {
                skipped[hop.index] = "\(hop.role): inside Open vSwitch, seen on the ports around it"
                continue
            }
            guard let ns = HopCapturePlan.namespaceID(label: hop.namespace, node: hop.node, in: topology),
                  let node = topology.namespace(ns), let iface = topology.interface(named: device, in: ns) else {
                skipped[hop.index] = "\(device) is not a Linux interface of the snapshot"
                continue
            }
            if let op = iface.ovsPort, let row = topology.port(op), row.interface.type == "internal" {
                skipped[hop.index] = "OVS internal port \(device): traffic Open vSwitch routes itself (tunnels) passes it by"
                continue
            }
            if iface.link.kind == .bridge {
                skipped[hop.index] = "Linux bridge \(device): a capture on the bridge itself does not see what it forwards"
                continue
            }
            guard let ref = HopCapturePlan.reference(node.inventory.namespace) else {
                skipped[hop.index] = "namespace \(hop.namespace) has no name or process to enter"
                continue
            }
            let label = "\(device)@\(hop.namespace)"
            if let i = points.firstIndex(where: { $0.interface == device && $0.namespace == ref }) {
                hopPoints[hop.index] = i
            } else {
                points.append(CapturePoint(interface: device, namespace: ref, label: label))
                hopPoints[hop.index] = points.count - 1
            }
        }
        self.points = points
        self.hopPoints = hopPoints
        self.skipped = skipped
    }

    /// The namespace a hop is in (by label, and node when labels repeat across snapshots).
    static func namespaceID(label: String, node: String, in topology: Topology) -> NamespaceID? {
        let candidates = topology.namespaceOrder.filter { $0.label == label }
        if candidates.count <= 1 { return candidates.first }
        return candidates.first { topology.namespace($0)?.node == node } ?? candidates.first
    }

    /// How to enter a namespace of the snapshot now: this process's own (the host), its
    /// `ip netns` name, or a process inside it.
    public static func reference(_ ns: NetworkNamespace) -> NamespaceRef? {
        if ns.isHost { return .current }
        if let name = ns.names.first { return .named(name) }
        if let pid = ns.processes.first?.pid { return .process(pid) }
        return nil
    }
}

/// What one capture point saw of a probe during one capture.
public struct PointSightings: Sendable {
    public var requests: [String] = []
    public var answers: [String] = []
}

/// Captures on every point of a plan while `body` sends a probe, then sorts the captured
/// packets into the probe's requests and answers per point.
///
/// The libpcap handles are open (capturing) before `body` starts and are closed when this
/// returns or throws; `stop()` of the returned session is also reachable through `onSession` for
/// Ctrl-C. With `outputDirectory`, every hop's packets are also written there (one pcap per hop
/// and `all-hops.pcapng`, committed atomically; partial files are journaled in `journal`).
public enum ProbeCapture {
    /// Extra time after `body` for the last replies to pass every hop.
    public static let settle: Duration = .milliseconds(300)

    public static func run<T: Sendable>(_ plan: HopCapturePlan, probe: Probe, outputDirectory: String? = nil, journal: CleanupJournal? = nil,
                                        onSession: @Sendable (CaptureSession) -> Void = { _ in },
                                        _ body: () async throws -> T) async throws -> (T, [PointSightings], String?) {
        guard !plan.points.isEmpty else { return (try await body(), [], nil) }
        var configuration = CaptureConfiguration(
            points: plan.points,
            options: LiveCaptureOptions(snapshotLength: 2048, bufferSize: 2 << 20, immediate: true, promiscuous: true),
            duration: .seconds(30), outputDirectory: outputDirectory, deliverPackets: true)
        configuration.streamBatchLimit = 4096
        configuration.journal = journal
        let session = try CaptureSession(configuration)
        onSession(session)
        let collector = Task { () -> [PointSightings] in
            var out = [PointSightings](repeating: PointSightings(), count: plan.points.count)
            for await batch in session.packets {
                for p in batch {
                    guard out.indices.contains(p.hop), let leg = probe.leg(of: p.data) else { continue }
                    let line = Probe.summary(of: p.data)
                    switch leg {
                    case .request: if out[p.hop].requests.count < 8 { out[p.hop].requests.append(line) }
                    case .answer: if out[p.hop].answers.count < 8 { out[p.hop].answers.append(line) }
                    }
                }
            }
            return out
        }
        let value: T
        do {
            value = try await body()
            try? await Task.sleep(for: settle)
        } catch {
            session.stop()
            _ = await collector.value
            _ = try? await session.finish()
            throw error
        }
        session.stop()
        let sightings = await collector.value
        let result = try await session.finish()
        return (value, sightings, result.mergedFile)
    }

    /// The walk's hops as sightings: a forward hop saw the probe when its point captured the
    /// leg the walk sends forward (`forwardLeg`), a reply hop when it captured the other one.
    public static func hopSightings(_ result: PathResult, plan: HopCapturePlan, seen: [PointSightings],
                                    forwardLeg: Probe.Leg) -> [(hop: Int, seen: Bool, evidence: Evidence)] {
        var out: [(Int, Bool, Evidence)] = []
        for hop in result.hops {
            guard let i = plan.hopPoints[hop.index], seen.indices.contains(i) else { continue }
            let wanted: Probe.Leg = hop.direction == .forward ? forwardLeg : (forwardLeg == .request ? .answer : .request)
            let lines = wanted == .request ? seen[i].requests : seen[i].answers
            let point = plan.points[i]
            let evidence = Evidence(kind: .capture, source: "capture on \(point.label)",
                                    text: lines.isEmpty ? "(nothing of the probe's \(wanted.rawValue)s)" : lines.prefix(3).joined(separator: "\n"),
                                    note: lines.isEmpty ? "not seen" : "\(lines.count) seen")
            out.append((hop.index, !lines.isEmpty, evidence))
        }
        return out
    }
}
