import Capture
import Foundation
import HopscopeModel
import Lab
import Namespaces
import Packets
import Testing

/// A walk as `hopscope path --json` prints it: the facts the capture proof compares.
struct WalkJSON: Decodable, Sendable {
    var hops: [PathHop]
    var verdict: PathVerdict
}

/// A hop of a walk where tcpdump can watch: a Linux device in a namespace.
struct WatchedDevice: Hashable, Sendable, CustomStringConvertible {
    var namespace: String
    var device: String
    var description: String { "\(device)@\(namespace)" }
}

/// What the capture saw of one ping at one device.
struct Sightings: Sendable {
    var requests = 0
    var replies = 0
}

/// Proves a walk against the real packets: `hopscope snapshot` of the lab, `hopscope path --json`
/// on it, then a capture on every device the walk names while a real ping runs in the lab's
/// namespaces. Where the walk forwards, the capture must see the packet (echo requests on the
/// forward hops, replies on the reply hops); where it says drop, the devices the healthy walk
/// goes through after that hop must see nothing.
///
/// Hops with no Linux device tcpdump could watch are left out: OVS bridges, patch ports and
/// userspace tunnel ports have no kernel device, a Linux bridge's own device does not see the
/// frames it forwards, and the `underlay` hop is the OVS internal port whose address the tunnel
/// uses, which the encapsulated packet never crosses as a kernel device. A hop whose device has
/// no carrier (its peer is down) cannot put the packet on the wire, so it is not required to.
enum PathProof {
    /// Writes a snapshot of the lab's namespaces to `file` with the CLI, as an operator would.
    static func snapshot(_ plan: LabPlan, to file: String) async throws {
        let r = try await HostCommand.run([hopscopeExecutable(), "snapshot", "--netns-prefix", "\(plan.prefix)-", "-o", file],
                                          timeout: .seconds(60), check: false)
        try #require(r.exitCode == 0, "hopscope snapshot failed: \(r.standardError)")
    }

    /// `hopscope path ARGS --snapshot FILE --json`: exit status and the decoded walk.
    static func walk(_ arguments: [String], snapshot file: String) async throws -> (status: Int32, walk: WalkJSON) {
        let r = try await HostCommand.run([hopscopeExecutable(), "path"] + arguments + ["--snapshot", file, "--json"],
                                          environment: ["NO_COLOR": "1"], timeout: .seconds(60), check: false)
        try #require(r.exitCode == 0 || r.exitCode == 1, "hopscope path \(arguments) exited \(r.exitCode): \(r.standardError)")
        return (r.exitCode, try JSONDecoder().decode(WalkJSON.self, from: Data(r.standardOutput.utf8)))
    }

    /// The watchable device of a hop, nil for hops with no kernel device on the packet's way.
    static func watched(_ h: PathHop) -> WatchedDevice? {
        guard let device = h.device, h.namespace != "(guest)" else { return nil }
        for prefix in ["OVS bridge", "Linux bridge", "patch", "underlay"] where h.role.hasPrefix(prefix) { return nil }
        if h.role.hasSuffix(" tunnel") { return nil }
        return WatchedDevice(namespace: h.namespace, device: device)
    }

    /// True when the hop's device can send: not admin-down, not without carrier.
    static func canTransmit(_ h: PathHop) -> Bool {
        h.state?.adminUp != false && h.state?.carrier != false
    }

    /// Captures on `devices` (ICMP and VXLAN only) while `traffic` runs; counts the echo requests
    /// and replies whose ICMP data is `size` bytes (the proof's ping), inside tunnels too.
    static func observe(_ devices: Set<WatchedDevice>, size: Int, traffic: @Sendable () async throws -> Void) async throws -> [WatchedDevice: Sightings] {
        let order = devices.sorted { $0.description < $1.description }
        for d in order {
            #expect(try deviceExists(d.device, in: .named(d.namespace)), "the walk names \(d), which does not exist")
        }
        let points = order.map { CapturePoint(interface: $0.device, namespace: .named($0.namespace)) }
        let options = LiveCaptureOptions(snapshotLength: 512, bufferSize: 2 << 20, immediate: true, filter: "icmp or udp port 4789")
        let session = try CaptureSession(CaptureConfiguration(points: points, options: options, duration: .seconds(30), deliverPackets: true))
        let collected = Task { () -> [CapturedPacket] in
            var all: [CapturedPacket] = []
            for await batch in session.packets { all += batch }
            return all
        }
        do {
            try await Task.sleep(for: .milliseconds(200))
            try await traffic()
            try await Task.sleep(for: .milliseconds(400))
        } catch {
            session.stop()
            _ = try? await session.finish()
            throw error
        }
        session.stop()
        let result = try await session.finish()
        #expect(result.packetsMissedByStream == 0 && result.hops.allSatisfy { $0.progress.kernel.droppedByKernel == 0 })
        var seen: [WatchedDevice: Sightings] = Dictionary(uniqueKeysWithValues: order.map { ($0, Sightings()) })
        var packet = Packet()
        for captured in await collected.value {
            captured.data.withUnsafeBytes { frame in
                packet.decode(frame, linkType: .ethernet, wireLength: captured.originalLength)
                let ids = packet.identities(in: frame)
                guard let id = ids.inner ?? ids.outer, id.ipProtocol == 1, id.payloadLength == size else { return }
                if id.icmpType == 8 { seen[order[captured.hop]]!.requests += 1 }
                if id.icmpType == 0 { seen[order[captured.hop]]!.replies += 1 }
            }
        }
        return seen
    }

    /// Pings `destination` from `namespace` (three echoes of `size` data bytes, from `source` when given).
    static func ping(from namespace: String, _ destination: String, size: Int, source: String? = nil) async throws {
        _ = try await HostCommand.run(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-s", "\(size)"]
                                      + (source.map { ["-I", $0] } ?? []) + [destination],
                                      in: .named(namespace), timeout: .seconds(20), check: false)
    }

    /// Compares a walk with what the capture saw. `healthy` is the same request walked in the
    /// healthy lab; for a stopped walk, its hops after the stop are the devices that must stay silent.
    static func check(_ walk: WalkJSON, against healthy: WalkJSON? = nil, size: Int, sourceLocation: SourceLocation = #_sourceLocation,
                      traffic: @Sendable () async throws -> Void) async throws {
        var mustSee: [PathHop.Direction: Set<WatchedDevice>] = [.forward: [], .reply: []]
        var mustNotSee: [PathHop.Direction: Set<WatchedDevice>] = [.forward: [], .reply: []]
        let stop = walk.verdict.kind == .stopped ? walk.verdict.hop : nil
        for h in walk.hops where h.index != stop && canTransmit(h) {
            if let d = watched(h) { mustSee[h.direction]!.insert(d) }
        }
        if let stop {
            let healthy = try #require(healthy, "a stopped walk needs the healthy walk to know where the packet would have gone",
                                       sourceLocation: sourceLocation)
            // Up to the stop, the broken walk follows the healthy one device by device.
            #expect(walk.hops.prefix(stop).map(\.device) == healthy.hops.prefix(stop).map(\.device),
                    "the walk leaves the healthy path before it stops", sourceLocation: sourceLocation)
            let stopDirection = walk.hops[stop - 1].direction
            for h in healthy.hops.dropFirst(stop) {
                guard let d = watched(h) else { continue }
                if h.direction == stopDirection || stopDirection == .forward { mustNotSee[h.direction]!.insert(d) }
            }
            for dir in [PathHop.Direction.forward, .reply] { mustNotSee[dir]!.subtract(mustSee[dir]!) }
            #expect(!mustNotSee[stopDirection]!.isEmpty, "the stop hides no watchable device", sourceLocation: sourceLocation)
        }
        // A device the walk found administratively down cannot be opened, and sees nothing.
        let down = Set(walk.hops.filter { $0.state?.adminUp == false }.compactMap(watched))
        for dir in [PathHop.Direction.forward, .reply] { mustNotSee[dir]!.subtract(down) }
        let all = mustSee[.forward]!.union(mustSee[.reply]!).union(mustNotSee[.forward]!).union(mustNotSee[.reply]!)
        #expect(!all.isEmpty, "the walk names no watchable device", sourceLocation: sourceLocation)
        let seen = try await observe(all, size: size, traffic: traffic)
        func count(_ d: WatchedDevice, _ dir: PathHop.Direction) -> Int { dir == .forward ? seen[d]!.requests : seen[d]!.replies }
        for dir in [PathHop.Direction.forward, .reply] {
            let silent = mustSee[dir]!.filter { count($0, dir) == 0 }.map(\.description).sorted()
            #expect(silent.isEmpty, "the walk's \(dir) hops \(silent) saw no packet of the ping", sourceLocation: sourceLocation)
            let heard = mustNotSee[dir]!.filter { count($0, dir) > 0 }.map(\.description).sorted()
            #expect(heard.isEmpty, "the walk stops at hop \(stop ?? 0), yet \(heard) saw the \(dir) packet", sourceLocation: sourceLocation)
        }
    }
}
