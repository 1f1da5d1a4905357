import HopscopeModel
import PathTrace

/// PACKET_LOST_AT: active probing captured the probe at some hops of a walk and not at the next
/// captured one. Made from `DiagnosisRun.observations` (passive runs have none, so it is silent).
///
/// The finding sits at the first captured hop that did not see the probe after the last one
/// that did, with the sightings of both as evidence. An answered probe gives no finding.
public struct PacketLostCheck: DiagnosisCheck {
    public let code = DiagnosisCode.packetLostAt
    public init() {}

    public func findings(in context: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for o in context.run.observations where !o.answered {
            guard context.walks.indices.contains(o.walk), let result = context.walks[o.walk].result else { continue }
            if let f = PacketLostCheck.finding(o, walk: o.walk, result: result, context: context) { out.append(f) }
        }
        return out
    }

    /// The PACKET_LOST_AT finding for one probe's sightings along a walk, or nil when the probe
    /// was never seen (nothing to place the loss after) or seen everywhere it was captured.
    public static func finding(_ o: ProbeObservation, walk: Int, result: PathResult, context: DiagnosisContext) -> Finding? {
        let sightings = o.sightings.sorted { $0.hop < $1.hop }
        guard let lastSeenIndex = sightings.lastIndex(where: \.seen), lastSeenIndex + 1 < sightings.count else { return nil }
        let lastSeen = sightings[lastSeenIndex]
        let missing = sightings[lastSeenIndex + 1]
        guard let seenHop = result.hops.first(where: { $0.index == lastSeen.hop }),
              let lostHop = result.hops.first(where: { $0.index == missing.hop }) else { return nil }
        func place(_ h: PathHop) -> String { "\(h.device ?? h.role) on \(h.node)" + (h.namespace == h.node ? "" : " (\(h.namespace))") }
        let between = result.hops.filter { $0.index > seenHop.index && $0.index <= lostHop.index }
            .map { "\($0.index) \($0.device ?? $0.role)" }.joined(separator: ", ")
        let passiveStop = context.walks[walk].stopHop
        let relevance: Relevance = passiveStop.map { $0.index >= seenHop.index && $0.index <= lostHop.index } ?? true ? .cause : .mechanism
        return Finding(
            code: .packetLostAt,
            title: "\(o.probe): last seen at hop \(seenHop.index) (\(place(seenHop))), not at hop \(lostHop.index) (\(place(lostHop)))",
            relevance: relevance,
            location: context.location(walk: walk, hop: lostHop),
            headline: "the probe is last seen at hop \(seenHop.index) (\(place(seenHop))) and lost before hop \(lostHop.index) (\(place(lostHop)))",
            evidence: lastSeen.evidence + missing.evidence,
            advice: Advice(summary: "look at the hops between them (\(between)): their flows, rules and counters decide the drop",
                           confirm: ["hopscope path \(context.instance.name) --to \(result.packet.ipDst?.description ?? "?") --verbose"]))
    }
}
