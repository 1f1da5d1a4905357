import HopscopeModel
import PathTrace
import Topology

extension DiagnosisContext {
    /// Where a DHCP server's finding goes: its namespace and interface.
    func location(of server: DHCPServer) -> FindingLocation {
        FindingLocation(node: node(server.namespace), namespace: server.namespace.label, device: server.interfaces.first ?? "dnsmasq \(server.pid)")
    }

    func processEvidence(_ s: DHCPServer) -> Evidence {
        Evidence(kind: .process, source: "\(s.namespace.label) pid \(s.pid)", text: s.arguments.joined(separator: " "))
    }

    /// Processes of a namespace that serve DNS.
    func dnsProcesses(_ ns: NamespaceID) -> [NamespaceProcess] {
        let names = ["dnsmasq", "named", "unbound", "pdns", "coredns", "systemd-resolve", "knot"]
        return topology.namespace(ns)?.inventory.namespace.processes.filter { p in names.contains { p.command.contains($0) } } ?? []
    }
}

/// DHCP_SERVER_DOWN: the instance's network has a DHCP namespace but no dnsmasq runs in it.
public struct DHCPServerDownCheck: DiagnosisCheck {
    public let code = DiagnosisCode.dhcpServerDown
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        let s = c.services
        guard !s.dhcpNamespaces.isEmpty, s.dhcpServers.isEmpty else { return [] }
        return s.dhcpNamespaces.map { ns in
            let processes = c.topology.namespace(ns)?.inventory.namespace.processes ?? []
            return Finding(
                code: code, title: "no dnsmasq runs in \(ns.label) on \(c.node(ns)), the DHCP namespace of \(c.instance.name)'s subnet \(s.subnet?.description ?? "?")",
                relevance: .cause, location: FindingLocation(node: c.node(ns), namespace: ns.label, device: nil),
                headline: "the DHCP server of \(c.instance.name)'s network is not running: \(ns.label) on \(c.node(ns)) has no dnsmasq",
                evidence: [Evidence(kind: .process, source: "processes in \(ns.label)",
                                    text: processes.isEmpty ? "(none)" : processes.map { "\($0.pid) \($0.command)" }.joined(separator: "; "))],
                advice: Advice(summary: "restart the DHCP agent (it starts dnsmasq for every network) and read its log for why dnsmasq exited",
                               confirm: [c.shell(ns, "ss -lunp 'sport = :67'"), "openstack network agent list --agent-type dhcp"],
                               fix: ["systemctl restart neutron-dhcp-agent   # on \(c.node(ns))"]))
        }
    }
}

/// DHCP_NO_HOST_ENTRY: the dnsmasq serving the instance's subnet hands out static leases only
/// (Neutron's `static` ranges) and its hosts file has no line for the instance's MAC: the
/// instance's DHCP requests go unanswered.
public struct DHCPNoHostEntryCheck: DiagnosisCheck {
    public let code = DiagnosisCode.dhcpNoHostEntry
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        let macs = c.portMACs
        guard !macs.isEmpty else { return [] }
        return c.services.dhcpServers.compactMap { s -> Finding? in
            guard s.hostsFile != nil, s.ranges.contains(where: { $0.contains("static") }) else { return nil }
            guard !s.hosts.contains(where: { h in h.mac.map(macs.contains) == true }) else { return nil }
            let range = s.ranges.first { $0.contains("static") } ?? ""
            return Finding(
                code: code, title: "dnsmasq \(s.pid) in \(s.namespace.label) has no hosts entry for \(c.instance.name)'s MAC \(macs.map(\.description).joined(separator: ", "))",
                relevance: .cause, location: c.location(of: s),
                headline: "the DHCP server has no entry for \(c.instance.name) (MAC \(macs[0])): its requests go unanswered",
                evidence: [Evidence(kind: .file, source: s.hostsFile ?? "hosts file", text: "\(s.hosts.count) entries, none for \(macs[0])"),
                           Evidence(kind: .process, source: "\(s.namespace.label) pid \(s.pid)", text: "--dhcp-range=\(range)", note: "static: only hosts in the file get an address")],
                advice: Advice(summary: "have the DHCP agent rewrite its hosts file (a resync), and check the port's fixed IP and MAC",
                               confirm: [c.shell(nil, "grep -i \(macs[0]) \(s.hostsFile ?? "HOSTS_FILE")"), "openstack port show \(c.portID ?? "PORT") -c mac_address -c fixed_ips"],
                               fix: ["systemctl restart neutron-dhcp-agent   # on \(c.node(s.namespace)): it rewrites the hosts file and HUPs dnsmasq"]))
        }
    }
}

/// DHCP_REPLY_BLOCKED: the DHCP walk (the server's reply to the instance, port 67 to 68) is
/// dropped on the way: a security-group rule, a flow, a device.
public struct DHCPReplyBlockedCheck: DiagnosisCheck {
    public let code = DiagnosisCode.dhcpReplyBlocked
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        c.stops.compactMap { s -> Finding? in
            // A rule of the instance's own plugging drops the reply (a device or flow is another check's).
            guard s.purpose == .dhcp, s.dropped, let rule = c.decidingRule(s.hop), let iid = c.interfaceID(of: s.hop),
                  let stem = c.topology.interface(c.instance.tap)?.neutronPort, c.topology.interface(iid)?.neutronPort == stem else { return nil }
            let ns = c.namespaceID(of: s.hop)
            let chain = DiagnosisContext.chain(of: rule)
            return Finding(
                code: code, title: "the DHCP reply to \(c.instance.name) is dropped at \(DiagnosisContext.where_(s.hop))" + (chain.map { " by a rule of \($0)" } ?? ""),
                relevance: .cause, location: c.location(walk: s.walk, hop: s.hop),
                headline: "DHCP replies to \(c.instance.name) are dropped at \(DiagnosisContext.where_(s.hop)): rule \(rule.note ?? rule.text)" + (chain.map { " (chain \($0))" } ?? ""),
                evidence: [rule] + s.hop.evidence.filter { $0.kind == .flow }.suffix(1)
                    + [Evidence(kind: .note, source: "walk \(s.walk)", text: s.hop.packet.shortText)],
                advice: Advice(summary: "the port's security-group chain must accept UDP 67->68 (the agent's DHCP rules); restore them (agent resync) or check port security",
                               confirm: (chain.map { [c.listChain(ns, table: "filter", chain: $0)] } ?? []) + ["hopscope dhcp \(c.instance.name)"],
                               fix: ["systemctl restart neutron-openvswitch-agent   # on \(s.hop.node): it rewrites the port's chains"]))
        }
    }
}

/// DNS_SERVER_DOWN: the instance's DNS server does not answer: the network's dnsmasq runs with
/// DNS disabled (`--port=0`, so it names no DNS server either), or the address DHCP names as
/// DNS server belongs to a namespace where no DNS server runs.
public struct DNSServerDownCheck: DiagnosisCheck {
    public let code = DiagnosisCode.dnsServerDown
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        let s = c.services
        if let r = s.resolver(topology: c.topology) {
            if r.server == nil, let owner = c.topology.addressOwners[r.address]?.first, c.dnsProcesses(owner.namespace).isEmpty {
                out.append(Finding(
                    code: code, title: "\(c.instance.name)'s DNS server \(r.address) (\(owner.namespace.label)) runs no DNS server", relevance: .cause,
                    location: FindingLocation(node: c.node(owner.namespace), namespace: owner.namespace.label, device: c.topology.interface(owner)?.name),
                    headline: "\(c.instance.name)'s DNS server \(r.address) does not answer: no DNS server runs in \(owner.namespace.label)",
                    evidence: [Evidence(kind: .note, source: "DNS server", text: "\(r.address): \(r.how)")],
                    advice: Advice(summary: "start the DNS server at \(r.address), or give the subnet working dns_nameservers",
                                   confirm: ["dig @\(r.address) openstack.org   # from the instance"],
                                   fix: ["openstack subnet set --dns-nameserver ADDRESS SUBNET"])))
            }
            return out
        }
        // No resolver: dnsmasq serves DHCP with DNS disabled.
        for srv in s.dhcpServers where InstanceServices.dnsPort(srv) == 0 {
            out.append(Finding(
                code: code, title: "dnsmasq \(srv.pid) in \(srv.namespace.label) has DNS disabled (--port=0): \(c.instance.name) gets no working DNS server",
                relevance: .cause, location: c.location(of: srv),
                headline: "\(c.instance.name)'s network has no DNS server: its dnsmasq runs with --port=0 and the subnet names no other",
                evidence: [c.processEvidence(srv)],
                advice: Advice(summary: "let dnsmasq serve DNS (no --port=0: dnsmasq_local_resolv / the agent's dnsmasq options) or set dns_nameservers on the subnet",
                               confirm: [c.shell(srv.namespace, "ss -lunp 'sport = :53'"), "dig @\(s.address(of: srv.namespace, in: c.topology)?.description ?? "DHCP_PORT_IP") openstack.org   # from the instance"],
                               fix: ["openstack subnet set --dns-nameserver ADDRESS SUBNET", "systemctl restart neutron-dhcp-agent   # after fixing its dnsmasq options"])))
        }
        return out
    }
}

/// DNS_UPSTREAM_UNREACHABLE: the instance's DNS server (a dnsmasq) cannot get answers from its
/// upstream server: the walk to it stops, or the upstream's namespace runs no DNS server.
public struct DNSUpstreamCheck: DiagnosisCheck {
    public let code = DiagnosisCode.dnsUpstreamUnreachable
    public init() {}

    public func findings(in c: DiagnosisContext) -> [Finding] {
        var out: [Finding] = []
        for s in c.stops where s.purpose == .dnsUpstream {
            out.append(Finding(
                code: code, title: "the DNS server's query to its upstream \(s.result.packet.ipDst?.description ?? "?") stops at \(DiagnosisContext.where_(s.hop))",
                relevance: .cause, location: c.location(walk: s.walk, hop: s.hop),
                headline: "the DNS server cannot reach its upstream \(s.result.packet.ipDst?.description ?? "?"): \(s.result.verdict.reason)",
                evidence: Array(s.hop.evidence.suffix(2)),
                advice: Advice(summary: "fix the path from the DHCP namespace to the upstream server (see the walk), or point dnsmasq at a reachable server",
                               confirm: ["hopscope path \(c.instance.name) --verbose   # and the dnsUpstream walk in diagnose -v"],
                               fix: ["openstack subnet set --dns-nameserver REACHABLE_SERVER SUBNET"])))
        }
        guard let r = c.services.resolver(topology: c.topology), let server = r.server else { return out }
        for (upstream, argument) in InstanceServices.upstreams(server) {
            guard let owner = c.topology.addressOwners[upstream]?.first, c.dnsProcesses(owner.namespace).isEmpty else { continue }
            let processes = c.topology.namespace(owner.namespace)?.inventory.namespace.processes ?? []
            out.append(Finding(
                code: code, title: "the upstream DNS server \(upstream) of dnsmasq \(server.pid) does not run: \(owner.namespace.label) has no DNS server process",
                relevance: .cause,
                location: FindingLocation(node: c.node(owner.namespace), namespace: owner.namespace.label, device: c.topology.interface(owner)?.name),
                headline: "the DNS server's upstream \(upstream) does not answer: no DNS server runs in \(owner.namespace.label)",
                evidence: [Evidence(kind: .process, source: "\(server.namespace.label) pid \(server.pid)", text: argument, note: "the upstream dnsmasq forwards to"),
                           Evidence(kind: .process, source: "processes in \(owner.namespace.label)",
                                    text: processes.isEmpty ? "(none)" : processes.map { "\($0.pid) \($0.command)" }.joined(separator: "; "))],
                advice: Advice(summary: "start the upstream DNS server at \(upstream), or point the network at one that runs",
                               confirm: [c.shell(server.namespace, "dig @\(upstream) openstack.org")],
                               fix: ["openstack subnet set --dns-nameserver REACHABLE_SERVER SUBNET"])))
        }
        return out
    }
}
