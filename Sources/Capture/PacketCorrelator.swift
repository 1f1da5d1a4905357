import Foundation
import HopscopeModel
import Packets

/// One sighting of a packet at a hop, as the timeline shows it.
public struct PacketSighting: Sendable, Codable, Equatable {
    /// Index of the hop in path order.
    public var hop: Int
    public var hopLabel: String
    public var timestampNanoseconds: Int64
    /// Time since the sighting before it in the timeline; nil for the first.
    public var sincePreviousNanoseconds: Int64?
    /// The packet's addresses and ports as seen here (the inner packet when tunnelled).
    public var source: String
    public var destination: String
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    public var ttl: UInt8
    /// `vxlan 100` / `geneve 5` / `gre key 7` when the packet was seen inside a tunnel here.
    public var tunnel: String?
    /// The tunnel's outer addresses: `192.0.2.1 > 192.0.2.2`.
    public var tunnelEndpoints: String?
    /// The 802.1Q VLAN id of the frame here, if tagged (mirrors show the port VLAN).
    public var vlan: UInt16?
    /// Set when the addresses or ports differ from the previous sighting: `src 10.0.0.5 > 203.0.113.10`.
    public var translation: String?
}

/// The path of one packet across the hops.
public struct PacketJourney: Sendable, Codable, Equatable {
    public enum Direction: String, Sendable, Codable {
        /// From the first hop towards the last, in the order the hops were given.
        case forward
        /// From the last hop towards the first (replies).
        case reverse
        /// Seen at one hop in the middle of the path, with no other packet of its flow to tell the way.
        case unknown
    }

    /// tcpdump-style summary of the packet at its first sighting in path order.
    public var summary: String
    public var direction: Direction
    /// Sightings in path order for the direction.
    public var sightings: [PacketSighting]
    /// True when the packet was seen at the end of the path for its direction.
    public var arrived: Bool
    /// The last hop (in path order for the direction) that saw the packet.
    public var lastSeenHop: Int
    /// Hops between the first and the end of the path that did not see it.
    public var missedHops: [Int]
    /// For an ICMP or ICMPv6 echo request: whether a reply to it (same sequence and data) was seen
    /// on any hop. Nil for other packets.
    public var answered: Bool?
}

/// The per-packet timeline across hops and what it says.
public struct PacketTimeline: Sendable, Codable, Equatable {
    public var hops: [String]
    public var journeys: [PacketJourney]
    /// Frames that could not be followed (ARP, undecodable or without a network header).
    public var framesNotFollowed: Int
    /// Frames beyond the correlation limit that were not read.
    public var framesSkipped: Int

    /// Journeys that did not reach the end of the path, with a known direction.
    public var stopped: [PacketJourney] { journeys.filter { !$0.arrived && $0.direction != .unknown } }

    /// Echo requests that reached the end of the path but were never answered on any hop: the
    /// fault is beyond the last hop, or the reply never came back (e.g. a router without SNAT).
    public var unanswered: [PacketJourney] { journeys.filter { $0.arrived && $0.answered == false } }
}

/// Recognises the same packet on several hops and builds its timeline.
///
/// A packet is matched by the fields that survive the path (`FlowIdentity.Invariant`: IP id,
/// protocol, ICMP type and sequence, TCP sequence/ack/flags, payload length and digest), never by
/// addresses or ports, so that NAT does not hide it; a tunnelled copy (VXLAN, Geneve, GRE) is
/// matched by its inner packet. Among copies with equal invariants, each sighting joins the
/// earliest open journey not yet seen at that hop within `window`. Direction comes from TTL
/// (routers lower it) and then time; latency is the time between consecutive sightings in path
/// order (mirror copies can be a little late, which shows as a negative step).
///
/// Not thread-safe: feed it from one thread, then call `timeline()`.
public final class PacketCorrelator {
    public let hops: [String]
    /// Two sightings further apart than this are different packets even with equal invariants.
    public let window: Int64
    private var packet = Packet()
    private var pending: [FlowIdentity.Invariant: [Int]] = [:]
    private var journeys: [Draft] = []
    private var notFollowed = 0

    private struct Draft {
        /// Summaries at the lowest and highest hop so far: the packet as it entered the path,
        /// for either direction.
        var lowest: (hop: Int, summary: String)
        var highest: (hop: Int, summary: String)
        var sightings: [Raw]
        var seenAt: Set<Int>
        var lastTime: Int64
    }

    /// A flow as seen at one hop (addresses, protocol, ports or echo id): packets of one flow at
    /// one hop travel the same way.
    private struct FlowAtHop: Hashable {
        var hop: Int
        var source: IPAddress?
        var destination: IPAddress?
        var ipProtocol: UInt8
        var sourcePort: UInt16?
        var destinationPort: UInt16?
        var icmpIdentifier: UInt16?

        init(_ raw: Raw) {
            hop = raw.hop
            source = raw.identity.source
            destination = raw.identity.destination
            ipProtocol = raw.identity.ipProtocol
            sourcePort = raw.identity.sourcePort
            destinationPort = raw.identity.destinationPort
            icmpIdentifier = raw.identity.icmpIdentifier
        }
    }

    /// What pairs an echo request with its reply.
    private struct EchoKey: Hashable {
        var etherType: UInt16
        var sequence: UInt16
        var payloadDigest: UInt64?

        /// The key of `identity` when it is an echo reply (`reply`) or request (`!reply`), else nil.
        init?(_ identity: FlowIdentity, reply: Bool) {
            guard let type = identity.icmpType, let sequence = identity.icmpSequence else { return nil }
            let v6 = identity.etherType == EtherType.ipv6
            let wanted: UInt8 = reply ? (v6 ? 129 : 0) : (v6 ? 128 : 8)
            guard type == wanted else { return nil }
            etherType = identity.etherType
            self.sequence = sequence
            payloadDigest = identity.payloadDigest
        }
    }

    private struct Raw {
        var hop: Int
        var time: Int64
        var identity: FlowIdentity
        var tunnel: PacketIdentities.Tunnel?
        var tunnelOuter: FlowIdentity?
        var vlan: UInt16?
    }

    public init(hops: [String], window: Duration = .seconds(2)) {
        self.hops = hops
        let (s, a) = window.components
        self.window = s * 1_000_000_000 + a / 1_000_000_000
    }

    /// Adds one captured frame of hop `hop`. Frames of each hop should come in time order; hops
    /// may be interleaved or fed one after the other (journeys are matched by time, not by order).
    public func add(hop: Int, timestampNanoseconds: Int64, frame: UnsafeRawBufferPointer, linkType: LinkType, wireLength: Int) {
        packet.decode(frame, linkType: linkType, wireLength: wireLength)
        let ids = packet.identities(in: frame)
        // The inner packet is the one that travels end to end; the outer one is the underlay's.
        guard let identity = ids.inner ?? ids.outer, identity.etherType != EtherType.arp,
              identity.ipIdentification != nil || identity.payloadDigest != nil || identity.tcpSequence != nil else {
            notFollowed += 1
            return
        }
        var vlan: UInt16?
        if let tag = packet.layers.first(.vlan), case .vlan(let header) = tag.header(in: frame) { vlan = header.vlanID }
        let raw = Raw(hop: hop, time: timestampNanoseconds, identity: identity, tunnel: ids.inner == nil ? nil : ids.tunnel,
                      tunnelOuter: ids.inner == nil ? nil : ids.outer, vlan: vlan)
        let key = identity.invariant
        if let candidates = pending[key],
           let j = candidates.first(where: { !journeys[$0].seenAt.contains(hop) && abs(journeys[$0].lastTime - timestampNanoseconds) <= window }) {
            journeys[j].sightings.append(raw)
            journeys[j].seenAt.insert(hop)
            if hop < journeys[j].lowest.hop { journeys[j].lowest = (hop, innerSummary(frame)) }
            if hop > journeys[j].highest.hop { journeys[j].highest = (hop, innerSummary(frame)) }
            journeys[j].lastTime = max(journeys[j].lastTime, timestampNanoseconds)
            return
        }
        let summary = innerSummary(frame)
        journeys.append(Draft(lowest: (hop, summary), highest: (hop, summary), sightings: [raw], seenAt: [hop], lastTime: timestampNanoseconds))
        pending[key, default: []].append(journeys.count - 1)
    }

    /// The summary of the packet that travels: the inner one for a tunnelled frame.
    private func innerSummary(_ frame: UnsafeRawBufferPointer) -> String {
        let line = packet.summary(in: frame)
        guard packet.innerStartIndex != nil, let colon = line.range(of: ": IP", options: .backwards) else { return line }
        return String(line[line.index(after: colon.lowerBound)...]).trimmingCharacters(in: .whitespaces)
    }

    /// The journeys so far, each with its sightings in path order, direction and arrival.
    public func timeline(framesSkipped: Int = 0) -> PacketTimeline {
        let last = hops.count - 1
        // Directions of packets seen at several hops: the earliest in the path has the highest
        // TTL (routers lower it), then the earliest time.
        let travelled: [PacketJourney.Direction?] = journeys.map { draft in
            let byPath = draft.sightings.sorted { ($0.identity.ttl, -$0.time) > ($1.identity.ttl, -$1.time) }
            guard byPath.count > 1, byPath.first!.hop != byPath.last!.hop else { return nil }
            return byPath.first!.hop < byPath.last!.hop ? .forward : .reverse
        }
        // A packet seen at one hop goes the way its flow went at that hop in other packets; failing
        // that, forward from the first hop and backward from the last one.
        var flowDirection: [FlowAtHop: PacketJourney.Direction] = [:]
        for (draft, direction) in zip(journeys, travelled) {
            guard let direction else { continue }
            for raw in draft.sightings { flowDirection[FlowAtHop(raw)] = direction }
        }
        // Replies echo the request's sequence number and data; NAT may change the identifier.
        var replies: Set<EchoKey> = []
        for draft in journeys {
            if let key = EchoKey(draft.sightings[0].identity, reply: true) { replies.insert(key) }
        }
        let result = zip(journeys, travelled).map { draft, travelled -> PacketJourney in
            var direction = travelled ?? .unknown
            if travelled == nil, let only = draft.sightings.first {
                if let known = flowDirection[FlowAtHop(only)] {
                    direction = known
                } else if only.hop == 0 {
                    direction = .forward
                } else if only.hop == last && last > 0 {
                    direction = .reverse
                }
            }
            let ordered = draft.sightings.sorted {
                direction == .reverse ? ($0.hop, $0.time) > ($1.hop, $1.time) : ($0.hop, $0.time) < ($1.hop, $1.time)
            }
            var sightings: [PacketSighting] = []
            for (i, raw) in ordered.enumerated() {
                let id = raw.identity
                var translation: String?
                if i > 0 {
                    let before = ordered[i - 1].identity
                    var changes: [String] = []
                    if before.source != id.source || before.sourcePort != id.sourcePort {
                        changes.append("src \(endpoint(before.source, before.sourcePort)) > \(endpoint(id.source, id.sourcePort))")
                    }
                    if before.destination != id.destination || before.destinationPort != id.destinationPort {
                        changes.append("dst \(endpoint(before.destination, before.destinationPort)) > \(endpoint(id.destination, id.destinationPort))")
                    }
                    if !changes.isEmpty { translation = changes.joined(separator: ", ") }
                }
                sightings.append(PacketSighting(
                    hop: raw.hop, hopLabel: hops[raw.hop], timestampNanoseconds: raw.time,
                    sincePreviousNanoseconds: i > 0 ? raw.time - ordered[i - 1].time : nil,
                    source: id.source.map { "\($0)" } ?? "?", destination: id.destination.map { "\($0)" } ?? "?",
                    sourcePort: id.sourcePort, destinationPort: id.destinationPort, ttl: id.ttl,
                    tunnel: raw.tunnel.map(tunnelName), tunnelEndpoints: raw.tunnelOuter.map { "\($0.source.map { "\($0)" } ?? "?") > \($0.destination.map { "\($0)" } ?? "?")" },
                    vlan: raw.vlan, translation: translation))
            }
            let end = direction == .reverse ? 0 : last
            let lastSeen = sightings.last!.hop
            let seen = Set(sightings.map(\.hop))
            let first = sightings.first!.hop
            let span = direction == .reverse ? Array(stride(from: first, through: 0, by: -1)) : Array(first...last)
            return PacketJourney(summary: direction == .reverse ? draft.highest.summary : draft.lowest.summary, direction: direction, sightings: sightings,
                                 arrived: seen.contains(end), lastSeenHop: lastSeen,
                                 missedHops: span.filter { !seen.contains($0) },
                                 answered: EchoKey(draft.sightings[0].identity, reply: false).map { replies.contains($0) })
        }
        return PacketTimeline(hops: hops, journeys: result, framesNotFollowed: notFollowed, framesSkipped: framesSkipped)
    }

    private func endpoint(_ address: IPAddress?, _ port: UInt16?) -> String {
        let a = address.map { "\($0)" } ?? "?"
        return port.map { "\(a).\($0)" } ?? a
    }

    private func tunnelName(_ t: PacketIdentities.Tunnel) -> String {
        let kind = t.kind.rawValue
        guard let id = t.id else { return kind }
        return t.kind == .gre ? "\(kind) key \(id)" : "\(kind) \(id)"
    }
}

extension PacketCorrelator {
    /// Builds the timeline of a finished capture from its per-hop files, reading at most
    /// `limitPerHop` frames of each (`packets` is how many the file holds, to count the rest as
    /// skipped). Throws `OfflineCaptureError` when a file cannot be read.
    public static func timeline(of hops: [(label: String, file: String, packets: Int)], limitPerHop: Int = 200_000) throws -> PacketTimeline {
        let correlator = PacketCorrelator(hops: hops.map(\.label))
        for (i, hop) in hops.enumerated() {
            let capture = try OfflineCapture(path: hop.file)
            try capture.forEach(limit: limitPerHop) { frame in
                correlator.add(hop: i, timestampNanoseconds: frame.seconds * 1_000_000_000 + Int64(frame.nanoseconds),
                               frame: frame.bytes, linkType: capture.linkType, wireLength: frame.wireLength)
                return true
            }
        }
        return correlator.timeline(framesSkipped: hops.reduce(0) { $0 + max(0, $1.packets - limitPerHop) })
    }
}
