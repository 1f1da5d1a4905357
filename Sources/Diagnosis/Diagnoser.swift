import HopscopeModel
import PathTrace
import Topology

/// Diagnoses an instance from one or more snapshots: plans the walks (the path asked for, or the
/// instance's basic connectivity), walks them with `PathTracer`, runs every check of
/// `DiagnosisChecks.all` on the result, ranks the findings by how surely they explain the
/// failure, and writes the verdict.
///
/// Passive: it reads the snapshots only. Active probing (`--active`) takes the run, adds its
/// `ProbeObservation`s and calls `evaluate(_:)` again, so every check (PACKET_LOST_AT among them)
/// sees what the probes saw.
///
/// Not thread-safe (the tracer caches evaluators): one diagnosis at a time per diagnoser.
public final class Diagnoser {
    public let topology: Topology
    let tracer: PathTracer
    let checks: [any DiagnosisCheck]

    public init(topology: Topology, checks: [any DiagnosisCheck] = DiagnosisChecks.all) {
        self.topology = topology
        tracer = PathTracer(topology: topology)
        self.checks = checks
    }

    public convenience init(snapshots: [Snapshot]) {
        self.init(topology: Topology(snapshots: snapshots))
    }

    /// Plans, walks and evaluates `request`. Throws `InstanceLookupError` when the instance is not
    /// found (or ambiguous); a walk that cannot be made is recorded in the run, not thrown.
    public func diagnose(_ request: DiagnosisRequest) throws -> DiagnosisRun {
        var run = try walk(request)
        evaluate(&run)
        return run
    }

    /// Plans and walks `request`, without evaluating: the run active probing starts from.
    public func walk(_ request: DiagnosisRequest) throws -> DiagnosisRun {
        let instance = try topology.findInstance(request.instance)
        let services = InstanceServices(topology: topology, instance: instance)
        var notes: [String] = []
        var walks: [DiagnosisWalk] = []
        let proto = request.proto.description
        switch request.target {
        case .to(let dest):
            walks.append(make(.requested, "\(instance.name) -> \(dest)", source: instance.name, destination: dest, proto: proto) {
                try self.tracer.trace(PathRequest(instance: request.instance, direction: .to(dest), proto: request.proto, size: request.size))
            })
        case .from(let src):
            walks.append(make(.requested, "\(src) -> \(instance.name)", source: src, destination: instance.name, proto: proto) {
                try self.tracer.trace(PathRequest(instance: request.instance, direction: .from(src), proto: request.proto, size: request.size))
            })
        case .basicConnectivity:
            walks = basicWalks(request, instance: instance, services: services, notes: &notes)
        }
        let asked: String
        switch request.target {
        case .to(let d): asked = "\(instance.name) -> \(d), \(proto)"
        case .from(let s): asked = "\(s) -> \(instance.name), \(proto)"
        case .basicConnectivity: asked = "basic connectivity of \(instance.name)"
        }
        return DiagnosisRun(instance: instance, request: asked, walks: walks, notes: notes)
    }

    /// Runs every check on `run` (its walks and observations), ranks the findings and writes the verdict.
    public func evaluate(_ run: inout DiagnosisRun) {
        let context = DiagnosisContext(topology: topology, run: run)
        var found: [(Finding, Int)] = []
        for (order, check) in checks.enumerated() {
            for f in check.findings(in: context) { found.append((f, order)) }
        }
        run.findings = Diagnoser.rank(found)
        run.verdict = Diagnoser.verdict(run)
    }

    // MARK: Planning

    /// The walks of a basic-connectivity diagnosis: the instance to its gateway and to the
    /// external network's gateway, a DHCP reply from its DHCP server, a DNS query to its DNS
    /// server, and that server's query to each upstream. Each target says where it came from.
    func basicWalks(_ request: DiagnosisRequest, instance: Instance, services: InstanceServices, notes: inout [String]) -> [DiagnosisWalk] {
        var walks: [DiagnosisWalk] = []
        let name = instance.name
        let gateway = self.gateway(of: instance, services: services)
        if let (gw, how) = gateway {
            notes.append("gateway \(gw): \(how)")
            walks.append(make(.gateway, "\(name) -> its gateway \(gw)", source: name, destination: gw.description, proto: "icmp") {
                try self.tracer.trace(PathRequest(instance: request.instance, direction: .to(gw.description)))
            })
            if let (ext, extHow) = externalGateway(behind: gw) {
                notes.append("external gateway \(ext): \(extHow)")
                walks.append(make(.externalGateway, "\(name) -> the external gateway \(ext)", source: name, destination: ext.description, proto: "icmp") {
                    try self.tracer.trace(PathRequest(instance: request.instance, direction: .to(ext.description)))
                })
            } else {
                notes.append("the router owning \(gw) has no default route: the external network's gateway is not known, so it is not walked")
            }
        } else {
            notes.append("\(name)'s gateway is not known (no DHCP router option, no default route inside it, no router on its subnet): not walked")
        }
        if let ns = services.dhcpNamespaces.first, let server = services.address(of: ns, in: topology) {
            notes.append("DHCP server \(server) in \(ns.label)")
            walks.append(make(.dhcp, "a DHCP reply from \(server) (\(ns.label)) to \(name)", source: server.description, destination: name,
                              proto: "udp:68") {
                try self.tracer.trace(PathRequest(instance: request.instance, direction: .from(server.description), proto: .udp(68), sourcePort: 67))
            })
        } else {
            notes.append("no DHCP namespace on \(name)'s subnet \(services.subnet?.description ?? "(unknown)") in the snapshots: DHCP not walked")
        }
        if let resolver = services.resolver(topology: topology) {
            notes.append("DNS server \(resolver.address): \(resolver.how)")
            walks.append(make(.dns, "a DNS query from \(name) to its DNS server \(resolver.address)", source: name,
                              destination: resolver.address.description, proto: "udp:53") {
                try self.tracer.trace(PathRequest(instance: request.instance, direction: .to(resolver.address.description), proto: .udp(53)))
            })
            if let server = resolver.server, let from = services.address(of: server.namespace, in: topology) {
                for (upstream, argument) in InstanceServices.upstreams(server) {
                    notes.append("upstream DNS server \(upstream): dnsmasq \(server.pid) \(argument)")
                    walks.append(make(.dnsUpstream, "the DNS server's query from \(from) to its upstream \(upstream)", source: from.description,
                                      destination: upstream.description, proto: "udp:53") {
                        try self.tracer.trace(from: from.description, to: upstream.description, proto: .udp(53), onBehalfOf: request.instance)
                    })
                }
            }
        } else {
            notes.append("DHCP gives \(name) no DNS server: DNS not walked")
        }
        return walks
    }

    /// The instance's gateway: the DHCP router option, else the default route inside the
    /// instance, else a router's address on its subnet.
    func gateway(of instance: Instance, services: InstanceServices) -> (IPAddress, String)? {
        if let r = services.dhcpRouter, let o = services.option("router") {
            return (r, "the DHCP router option \"\(o.raw)\" (\(o.source))")
        }
        if let nic = instance.nic, let inv = topology.namespace(nic.namespace)?.inventory,
           let route = inv.routes.first(where: { $0.isDefault && $0.table == RoutingTable.main && $0.isIPv4 }), let gw = route.gateway {
            return (gw, "the default route inside \(nic.namespace.label): \(route.text)")
        }
        if let subnet = services.subnet {
            for ns in topology.namespaceOrder where topology.namespace(ns)?.isRouter == true {
                for a in topology.namespace(ns)!.inventory.addresses where subnet.contains(a.prefix.address) && a.prefix.length == subnet.length {
                    return (a.prefix.address, "the router interface \(a.interface ?? "?") of \(ns.label) on \(subnet)")
                }
            }
        }
        return nil
    }

    /// The gateway of the router that owns `gateway`: its default route's next hop.
    func externalGateway(behind gateway: IPAddress) -> (IPAddress, String)? {
        for owner in topology.addressOwners[gateway] ?? [] {
            guard let inv = topology.namespace(owner.namespace)?.inventory else { continue }
            let decision = RouteLookup.lookup(inv, destination: IPAddress("0.0.0.0")!, source: gateway)
            if case .unicast(_, let next?) = decision.outcome, let r = decision.route, r.isDefault {
                return (next, "the default route of \(owner.namespace.label): \(r.text)")
            }
        }
        return nil
    }

    func make(_ purpose: DiagnosisWalk.Purpose, _ description: String, source: String, destination: String, proto: String,
              _ body: () throws -> PathResult) -> DiagnosisWalk {
        var w = DiagnosisWalk(purpose: purpose, description: description, source: source, destination: destination, proto: proto)
        do { w.result = try body() } catch { w.error = "\(error)" }
        return w
    }

    // MARK: Ranking and verdict

    /// Orders findings by relevance, then the code's specificity, severity, walk and hop, then
    /// check order; drops repeats of the same code at the same place (from several walks),
    /// keeping the best-placed one.
    static func rank(_ found: [(Finding, Int)]) -> [Finding] {
        let sorted = found.enumerated().sorted { a, b in
            let (x, xo) = a.element, (y, yo) = b.element
            if x.relevance != y.relevance { return x.relevance > y.relevance }
            if x.specificity != y.specificity { return x.specificity > y.specificity }
            if x.severity != y.severity { return x.severity > y.severity }
            let xw = x.location.walk ?? Int.max, yw = y.location.walk ?? Int.max
            if xw != yw { return xw < yw }
            let xh = x.location.hop ?? Int.max, yh = y.location.hop ?? Int.max
            if xh != yh { return xh < yh }
            if xo != yo { return xo < yo }
            return a.offset < b.offset
        }
        var out: [Finding] = []
        for (_, (f, _)) in sorted where !out.contains(where: { $0.isSame(as: f) }) { out.append(f) }
        return out
    }

    static func verdict(_ run: DiagnosisRun) -> DiagnosisVerdict {
        let stopped = run.walks.filter { $0.result?.verdict.kind == .stopped }
        let unknown = run.walks.filter { $0.result?.verdict.kind == .unknown || $0.result == nil }
        if let top = run.findings.first {
            let walk = top.location.walk.flatMap { run.walks.indices.contains($0) ? run.walks[$0] : nil }
            let word: String
            if let walk, !walk.isReachable {
                switch walk.purpose {
                case .requested, .gateway, .externalGateway: word = "unreachable"
                case .dhcp: word = "DHCP fails"
                case .dns, .dnsUpstream: word = "DNS fails"
                }
            } else if top.relevance == .cause, [.dhcpServerDown, .dhcpNoHostEntry, .dhcpReplyBlocked].contains(top.code) {
                word = "DHCP fails"
            } else if top.relevance == .cause, [.dnsServerDown, .dnsUpstreamUnreachable].contains(top.code) {
                word = "DNS fails"
            } else if !stopped.isEmpty || top.relevance == .cause {
                word = "unreachable"
            } else {
                word = "problem"
            }
            return DiagnosisVerdict(status: .problem, line: "\(word): \(top.headline); \(top.advice.summary)")
        }
        if let w = stopped.first, let r = w.result {
            return DiagnosisVerdict(status: .problem, line: "unreachable: \(w.description): \(r.verdict.description)")
        }
        if let w = unknown.first {
            let why = w.result.map { $0.verdict.description } ?? w.error ?? "not walked"
            return DiagnosisVerdict(status: .undiagnosed, line: "could not diagnose \(w.description): \(why)")
        }
        if run.walks.isEmpty {
            return DiagnosisVerdict(status: .undiagnosed, line: "could not diagnose: nothing to walk for \(run.instance.name) (see the notes)")
        }
        let reached = run.walks.map(\.description).joined(separator: "; ")
        return DiagnosisVerdict(status: .healthy, line: "healthy: \(reached): there and back, and no check found a problem")
    }
}
