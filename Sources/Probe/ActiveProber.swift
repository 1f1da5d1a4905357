import Capture
import Diagnosis
import Foundation
import HopscopeModel
import Namespaces
import PathTrace
import Topology

/// How active probing behaves.
public struct ProbeOptions: Sendable {
    /// Names of probe namespaces and ports start with it (at most 8 characters are used).
    public var prefix: String = "hsprobe"
    /// How long each probe waits for its answer.
    public var timeout: Duration = .seconds(2)
    public var pingCount: Int = 3
    /// The name DNS probes ask for; nil: the instance's own host name (answered by its dnsmasq)
    /// for the instance's query, and the same name for the server's upstream.
    public var dnsName: String?
    /// Send from a probe port on the instance's bridge even when the instance has a namespace.
    public var preferProbePort = false
    /// The address (CIDR) a probe port takes for ICMP, UDP, TCP and DNS probes; without it a
    /// probe port sends only DHCP and ARP.
    public var probePortAddress: IPPrefix?
    /// Where to keep what the captures saw: one directory per walk (`walk-N-PURPOSE`) with a
    /// pcap per hop and the merged `all-hops.pcapng`; nil keeps nothing.
    public var captureDirectory: String?

    public init() {}
}

/// The probe of one walk: what was sent from where, what came back, and where it was seen.
public struct WalkProbe: Sendable, Codable {
    public var walk: Int
    public var result: ProbeResult?
    /// Why this walk was not probed (nil when it was).
    public var notProbed: String?
    /// 1-based hop index and whether the probe (or its answer, on reply hops) was captured there.
    public var sightings: [ProbeObservation.HopSighting]
    /// Hops not captured, and why.
    public var uncaptured: [Int: String]
    /// The walk's reply hops (the rest are forward hops).
    public var replyHops: Set<Int> = []
    /// Which leg of the probe travels the walk's forward hops (the answers, for a DHCP walk,
    /// which goes from the server to the instance).
    public var forwardLeg: Probe.Leg = .request
    /// The merged capture of the walk's hops, when `ProbeOptions.captureDirectory` was given.
    public var captureFile: String?
    /// When the walk stops at a neighbour entry that is not resolved: an ARP request for that
    /// next hop sent from the stop hop's own device, and whether it was answered now.
    public var arp: ProbeResult?
    /// The hop the ARP request left from (the walk's stop).
    public var arpHop: Int?
}

/// Sends probes along a diagnosis' walks while capturing on their hops, and turns what was seen
/// into `ProbeObservation`s for `Diagnoser.evaluate` (PACKET_LOST_AT) and into `WalkProbe`s for
/// the commands to show.
///
/// Each walk gets the probe its purpose calls for: ICMP echo to the gateway and external
/// gateway, a DHCP exchange with the instance's MAC for the DHCP walk, a DNS query for the DNS
/// walks, and the requested protocol for `--to`/`--from`. Probes leave from the instance's own
/// namespace when it has one (the lab), from a probe port on its integration bridge otherwise (or
/// when asked), and from the namespace owning the source address for `--from` and for a DNS
/// server's upstream query (router or DHCP namespace, as neutron-debug does).
///
/// Cleanup: probe ports are recorded in `journal` before they are made and removed with it
/// (`undoAll()` at the end, also after an error; `stop()` from a signal handler ends the captures
/// and skips the remaining walks). Concurrency: one `observe` at a time; `stop()` from anywhere.
public final class ActiveProber: @unchecked Sendable {
    public let topology: Topology
    public let options: ProbeOptions
    public let journal: CleanupJournal
    private let lock = NSLock()
    private var stopped = false
    private var sessions: [CaptureSession] = []
    private var probePort: ProbePort?

    public init(topology: Topology, options: ProbeOptions = ProbeOptions(), journal: CleanupJournal) {
        self.topology = topology
        self.options = options
        self.journal = journal
    }

    /// Ends the capture under way and skips the walks not yet probed.
    public func stop() {
        let current = lock.withLock { () -> [CaptureSession] in
            stopped = true
            return sessions
        }
        current.forEach { $0.stop() }
    }

    var isStopped: Bool { lock.withLock { stopped } }

    /// Probes every walk of `run` that was made (or those in `only`), one after the other.
    public func observe(_ run: DiagnosisRun, only: Set<DiagnosisWalk.Purpose>? = nil) async -> [WalkProbe] {
        var out: [WalkProbe] = []
        for (i, walk) in run.walks.enumerated() where only?.contains(walk.purpose) ?? true {
            if isStopped {
                out.append(WalkProbe(walk: i, notProbed: "stopped (signal)", sightings: [], uncaptured: [:]))
                continue
            }
            guard let result = walk.result else {
                out.append(WalkProbe(walk: i, notProbed: "the walk could not be made: \(walk.error ?? "?")", sightings: [], uncaptured: [:]))
                continue
            }
            do {
                out.append(try await probe(walk: i, walk, result: result, instance: run.instance))
            } catch {
                out.append(WalkProbe(walk: i, notProbed: "\(error)", sightings: [], uncaptured: [:]))
            }
        }
        return out
    }

    /// The observations PACKET_LOST_AT reads, from probed walks: one per leg of each probe (its
    /// requests on the hops they travel, its answers on theirs), so that each observation's hops
    /// in index order are the order that leg passed them, whichever way the walk goes.
    public static func observations(_ probes: [WalkProbe]) -> [ProbeObservation] {
        var out: [ProbeObservation] = []
        for p in probes {
            guard let r = p.result else { continue }
            let dst = r.probe.destination.map { " to \($0)" } ?? ""
            let base = "\(r.probe.kind) from \(r.origin.label)\(dst)"
            let forward = p.sightings.filter { !p.replyHops.contains($0.hop) }
            let reply = p.sightings.filter { p.replyHops.contains($0.hop) }
            for (leg, hops) in [(p.forwardLeg, forward), (p.forwardLeg == .request ? Probe.Leg.answer : .request, reply)] where !hops.isEmpty {
                out.append(ProbeObservation(walk: p.walk, probe: leg == .request ? base : "the answers to \(base)", answered: r.answered,
                                            sightings: hops))
            }
            // The ARP request at an unresolved neighbour, as one sighting at the hop it left from.
            if let a = p.arp, let stop = p.arpHop {
                let evidence = Evidence(kind: .probe, source: "ARP from \(a.origin.label)", text: a.detail,
                                        note: a.answered ? "answered now" : "unanswered: the next hop does not answer ARP")
                out.append(ProbeObservation(walk: p.walk, probe: "\(a.probe.kind) for \(a.probe.destination?.description ?? "?") from \(a.origin.label)",
                                            answered: a.answered, sightings: [.init(hop: stop, seen: true, evidence: [evidence])]))
            }
        }
        return out
    }

    /// Sends one walk's probe while capturing on the walk's hops.
    public func probe(walk index: Int, _ walk: DiagnosisWalk, result: PathResult, instance: Instance) async throws -> WalkProbe {
        let (probe, forwardLeg) = try choose(walk, result: result, instance: instance)
        let origin = try await origin(for: walk, result: result, instance: instance, probe: probe)
        let plan = HopCapturePlan(walk: result, topology: topology,
                                  bypassed: origin.kind == .probePort ? instanceSideDevices(instance) : [:])
        let directory = options.captureDirectory.map { "\($0)/walk-\(index)-\(walk.purpose.rawValue)" }
        let (sent, seen, file) = try await ProbeCapture.run(plan, probe: probe, outputDirectory: directory, journal: journal, onSession: { [weak self] s in
            guard let self else { return }
            let stopNow = self.lock.withLock { () -> Bool in
                self.sessions.append(s)
                return self.stopped
            }
            if stopNow { s.stop() }
        }) {
            try await ProbeSender.send(probe, from: origin, timeout: options.timeout)
        }
        lock.withLock { sessions.removeAll() }
        let arp = isStopped ? nil : try? await arpAtUnresolvedNeighbour(walk)
        let sightings = ProbeCapture.hopSightings(result, plan: plan, seen: seen, forwardLeg: forwardLeg)
            .map { ProbeObservation.HopSighting(hop: $0.hop, seen: $0.seen, evidence: [$0.evidence]) }
        return WalkProbe(walk: index, result: sent, notProbed: nil, sightings: sightings, uncaptured: plan.skipped,
                         replyHops: Set(result.hops.filter { $0.direction == .reply }.map(\.index)), forwardLeg: forwardLeg,
                         captureFile: file, arp: arp, arpHop: arp == nil ? nil : walk.stopHop?.index)
    }

    /// An ARP request from the device where the walk stopped for the next hop it could not
    /// resolve (a neighbour entry `INCOMPLETE`/`FAILED`, or none at all), or nil when the walk did
    /// not stop for want of a neighbour or the device cannot be entered. The next hop is the
    /// route lookup's in the stop hop's namespace for the packet there.
    func arpAtUnresolvedNeighbour(_ walk: DiagnosisWalk) async throws -> ProbeResult? {
        guard let hop = walk.stopHop, let device = hop.device, let verdict = walk.result?.verdict else { return nil }
        let unresolvedEntry = hop.evidence.contains { e in
            e.kind == .neighbor && ["INCOMPLETE", "FAILED"].contains { e.text.contains($0) } && !e.text.contains("lladdr")
        }
        guard unresolvedEntry || verdict.reason.contains("neighbour"),
              let nsID = HopCapturePlan.namespaceID(label: hop.namespace, node: hop.node, in: topology),
              let ns = topology.namespace(nsID), let ref = HopCapturePlan.reference(ns.inventory.namespace),
              let iface = topology.interface(named: device, in: nsID), let mac = iface.link.mac,
              let destination = hop.packet.ipDst,
              case .v4(let target)? = RouteLookup.lookup(ns.inventory, destination: destination).nextHop(for: destination) else { return nil }
        let sender: IPv4Address? = iface.addresses.compactMap { p -> IPv4Address? in
            if case .v4(let a) = p.address, p.contains(.v4(target)) { a } else { nil }
        }.first
        let origin = ProbeOrigin(kind: .service, namespaceName: ns.inventory.namespace.names.first,
                                 pid: ref == .current ? nil : ns.inventory.namespace.processes.first?.pid,
                                 interface: device, mac: mac, address: sender, label: "\(device) in \(ns.label)")
        return try await ProbeSender.send(Probe(kind: .arp, destination: target), from: origin, timeout: options.timeout)
    }

    // MARK: Choosing the probe

    /// The probe a walk calls for, and which of its legs travels the walk's forward hops.
    func choose(_ walk: DiagnosisWalk, result: PathResult, instance: Instance) throws -> (Probe, Probe.Leg) {
        let dst: IPv4Address? = result.packet.ipDst.flatMap { if case .v4(let a) = $0 { a } else { nil } }
        switch walk.purpose {
        case .gateway, .externalGateway:
            return (Probe(kind: .ping(count: options.pingCount), destination: dst), .request)
        case .dhcp:
            guard let mac = instance.mac else { throw ProbeError.noClientMAC }
            // The walk goes from the server to the instance: its forward hops carry the answers.
            return (Probe(kind: .dhcp, destination: nil, clientMAC: mac), .answer)
        case .dns, .dnsUpstream:
            return (Probe(kind: .dns(name: dnsName(for: instance)), destination: dst), .request)
        case .requested:
            switch PathProtocol(parsing: walk.proto) ?? .icmp {
            case .icmp: return (Probe(kind: .ping(count: options.pingCount), destination: dst), .request)
            case .udp(53): return (Probe(kind: .dns(name: dnsName(for: instance)), destination: dst), .request)
            case .udp(let p): return (Probe(kind: .udp(port: p), destination: dst), .request)
            case .tcp(let p): return (Probe(kind: .tcp(port: p), destination: dst), .request)
            }
        }
    }

    /// The name a DNS probe asks: the one given, else the instance's host name from its DHCP
    /// hosts entry (its own dnsmasq answers it), else its address's reverse name.
    func dnsName(for instance: Instance) -> String {
        if let n = options.dnsName { return n }
        for s in topology.dhcpServers {
            if let h = s.hosts.first(where: { $0.mac != nil && instance.macs.contains($0.mac!) }), let name = h.name { return name }
        }
        guard let ip = instance.ipv4, case .v4(let a) = ip else { return "localhost" }
        let b = a.bytes
        return "\(b[3]).\(b[2]).\(b[1]).\(b[0]).in-addr.arpa"
    }

    // MARK: Choosing the origin

    /// Where the walk's probe leaves from: the namespace owning the walk's source address when
    /// that is not the instance (a `--from` source, a DNS server querying upstream), else the
    /// instance's namespace, else a probe port on its bridge.
    func origin(for walk: DiagnosisWalk, result: PathResult, instance: Instance, probe: Probe) async throws -> ProbeOrigin {
        let fromInstance: Bool
        switch walk.purpose {
        case .gateway, .externalGateway, .dns, .dhcp: fromInstance = true
        case .dnsUpstream: fromInstance = false
        case .requested: fromInstance = result.packet.ipSrc == instance.ipv4 || walk.source == instance.name
        }
        if !fromInstance {
            guard let src = result.packet.ipSrc, let o = serviceOrigin(owning: src) else {
                throw ProbeOriginError("\(walk.source) is not an address of a namespace in the snapshots: nowhere to send the probe from")
            }
            return o
        }
        if !options.preferProbePort, let nic = instance.nic, let iface = topology.interface(nic),
           let ns = topology.namespace(nic.namespace), let ref = HopCapturePlan.reference(ns.inventory.namespace) {
            let addr: IPv4Address? = instance.ipv4.flatMap { if case .v4(let a) = $0 { a } else { nil } }
            return ProbeOrigin(kind: .instance, namespaceName: ns.inventory.namespace.names.first,
                               pid: ref == .current ? nil : ns.inventory.namespace.processes.first?.pid,
                               interface: iface.name, mac: iface.link.mac ?? instance.mac ?? .zero, address: addr,
                               label: "\(instance.name) (namespace \(ns.label), \(iface.name))")
        }
        let port = try await probePort(for: instance)
        let address: IPv4Address? = options.probePortAddress.flatMap { if case .v4(let a) = $0.address { a } else { nil } }
        if case .dhcp = probe.kind {} else if case .arp = probe.kind {} else if address == nil {
            throw ProbeError.noSourceAddress("the probe port for \(instance.name) (give --probe-address CIDR)")
        }
        return port.origin(address: address, for: instance.name)
    }

    /// The devices between an instance and its integration bridge (its NIC, tap, qbr, qvb and
    /// qvo), as `name@namespace`: a probe port joins the bridge beside them, so its probes never
    /// pass them and their captures would only say so.
    func instanceSideDevices(_ instance: Instance) -> [String: String] {
        let why = "the probe port joins the bridge beside the instance: not on the probe's path"
        var out: [String: String] = ["-@": why]
        func add(_ iid: InterfaceID?) {
            guard let iid, let i = topology.interface(iid) else { return }
            out["\(i.name)@\(iid.namespace.label)"] = why
        }
        add(instance.nic)
        add(instance.tap)
        if let tap = topology.interface(instance.tap) {
            add(tap.bridgeMaster)
            if let master = tap.bridgeMaster {
                for (id, i) in topology.interfaces where i.bridgeMaster == master && id != instance.tap {
                    add(id)
                    add(i.vethPeer)
                }
            }
        }
        let context = DiagnosisContext(topology: topology, run: DiagnosisRun(instance: instance, request: "", walks: [], notes: []))
        for p in context.instancePorts {
            if let iid = topology.portDevices[p] { add(iid) } else { out["\(p.port)@\(topology.switches[p.instance].namespace?.label ?? "")"] = why }
        }
        return out
    }

    /// The namespace (router, DHCP, external) that owns `address`, as an origin.
    func serviceOrigin(owning address: IPAddress) -> ProbeOrigin? {
        guard case .v4(let a) = address else { return nil }
        for iid in topology.addressOwners[address] ?? [] {
            guard let iface = topology.interface(iid), let ns = topology.namespace(iid.namespace),
                  let ref = HopCapturePlan.reference(ns.inventory.namespace) else { continue }
            return ProbeOrigin(kind: .service, namespaceName: ns.inventory.namespace.names.first,
                               pid: ref == .current ? nil : ns.inventory.namespace.processes.first?.pid,
                               interface: iface.name, mac: iface.link.mac ?? .zero, address: a,
                               label: "\(ns.label) (\(iface.name) \(a))")
        }
        return nil
    }

    /// The probe port for `instance`, made once per prober on the bridge and VLAN of its OVS port.
    func probePort(for instance: Instance) async throws -> ProbePort {
        if let p = lock.withLock({ probePort }) { return p }
        let context = DiagnosisContext(topology: topology, run: DiagnosisRun(instance: instance, request: "", walks: [], notes: []))
        guard let port = context.instancePorts.first, let row = topology.port(port) else {
            throw ProbeOriginError("\(instance.name) has no Open vSwitch port in the snapshot: no bridge to put a probe port on")
        }
        let sw = topology.switches[port.instance]
        guard let nsID = sw.namespace, let ns = topology.namespace(nsID), let ref = HopCapturePlan.reference(ns.inventory.namespace) else {
            throw ProbeOriginError("the switch of \(instance.name)'s port runs in a namespace Hopscope cannot enter")
        }
        let gateway = InstanceServices(topology: topology, instance: instance).dhcpRouter
        let made = try await ProbePort.create(prefix: options.prefix, bridge: port.bridge, tag: row.port.tag, switchNamespace: ref,
                                              address: options.probePortAddress, gateway: gateway, journal: journal)
        lock.withLock { probePort = made }
        return made
    }
}

/// No place to send a probe from.
public struct ProbeOriginError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
