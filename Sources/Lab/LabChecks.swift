import Foundation
import HopscopeModel
import Namespaces

/// A piece of the lab that traffic depends on. Checks list what they need; faults list what
/// they break; a fault is expected to fail exactly the checks that need something it breaks.
public enum LabDependency: Hashable, Sendable, Codable, CustomStringConvertible {
    /// An instance's own plumbing: eth0/tap, qbr, qvb/qvo, its br-int port and tag.
    case instance(String)
    /// VXLAN between the compute and network nodes (br-tun flows, tunnel port, patch ports).
    case tunnel
    /// Full-MTU frames across the tunnel (the underlay must carry VXLAN's 50 extra bytes).
    case largeFrames
    /// The DHCP agent's dnsmasq.
    case dhcpServer
    /// An instance's entry in dnsmasq's hosts file.
    case dhcpHost(String)
    /// An instance's security-group rules that admit DHCP replies.
    case dhcpIngress(String)
    /// An instance's security-group rule that admits ICMP from anywhere.
    case icmpIngress(String)
    /// An instance's default route.
    case instanceDefaultRoute(String)
    /// The router's qr- interface on the tenant subnet.
    case routerInterface
    /// IP forwarding in the router namespace.
    case routerForwarding
    /// The subnet's SNAT rules in the router.
    case routerSNAT
    /// The router's default route.
    case routerDefaultRoute
    /// The floating IP's DNAT rule.
    case floatingIPDNAT
    /// The provider gateway answering ARP and routing to the internet.
    case externalGateway
    /// The upstream DNS server.
    case upstreamDNS
    /// Security groups applied to bridged traffic (br_netfilter).
    case securityGroupEnforcement
    /// The router accepting the internet client's packets on its gateway port (its route back
    /// to the client leaves by qg-, which strict rp_filter requires).
    case routerReversePath
    /// dnsmasq answering DNS on the DHCP port (not `--port=0`).
    case localDNS

    public var description: String {
        switch self {
        case .instance(let vm): "instance \(vm)"
        case .tunnel: "VXLAN tunnel"
        case .largeFrames: "full-MTU frames"
        case .dhcpServer: "DHCP server"
        case .dhcpHost(let vm): "DHCP host entry of \(vm)"
        case .dhcpIngress(let vm): "security group DHCP rules of \(vm)"
        case .icmpIngress(let vm): "security group ICMP rule of \(vm)"
        case .instanceDefaultRoute(let vm): "default route of \(vm)"
        case .routerInterface: "router qr- interface"
        case .routerForwarding: "router forwarding"
        case .routerSNAT: "router SNAT"
        case .routerDefaultRoute: "router default route"
        case .floatingIPDNAT: "floating IP DNAT"
        case .externalGateway: "external gateway"
        case .upstreamDNS: "upstream DNS server"
        case .securityGroupEnforcement: "security group enforcement"
        case .routerReversePath: "router reverse path to the internet"
        case .localDNS: "dnsmasq DNS service"
        }
    }
}

/// One healthy behaviour of the lab, proved with real traffic (a DHCP exchange, a DNS query,
/// a ping, a TCP handshake).
public struct LabCheck: Sendable {
    /// Stable identifier (`dhcp:vm1`, `dns-upstream`, `fip-ssh`, ...).
    public let id: String
    /// What the check shows, in one line.
    public let summary: String
    /// What the traffic needs to succeed.
    public let dependencies: Set<LabDependency>
    /// Runs the probe; returns (passed, what happened).
    let probe: @Sendable () async -> (passed: Bool, detail: String)
}

/// The outcome of one check.
public struct LabCheckResult: Codable, Sendable, Equatable {
    public var id: String
    public var summary: String
    public var passed: Bool
    /// What was observed (the lease, the answer, the outcome of the connect).
    public var detail: String
    public var milliseconds: Int
}

/// The lab's healthy behaviours and how to prove them.
public enum LabChecks {
    /// Port the instance's security group allows (SSH).
    public static let allowedPort: UInt16 = 22
    /// Port the instance listens on but its security group does not allow.
    public static let blockedPort: UInt16 = 8080

    /// Every check of `plan`, in display order.
    public static func all(for plan: LabPlan) -> [LabCheck] {
        let config = LabConfiguration(plan: plan)
        let fip = plan.floatingIPInstance
        let probe = plan.probeInstance
        let router = plan.router
        let ext = plan.external
        let mtuPayload = plan.network.mtu - 28
        let record = ext.dnsRecords[0]
        let localName = "\(NeutronNames.hostName(for: fip.address)).\(plan.network.dnsDomain)"
        let toRouter: Set<LabDependency> = [.instance(probe.name), .tunnel, .routerInterface]

        var checks: [LabCheck] = plan.instances.map { vm in
            LabCheck(
                id: "dhcp:\(vm.name)",
                summary: "\(vm.name) gets \(vm.address) and MTU \(plan.network.mtu) by DHCP",
                dependencies: [.instance(vm.name), .tunnel, .dhcpServer, .dhcpHost(vm.name), .dhcpIngress(vm.name)],
                probe: { await dhcp(vm, plan: plan, script: config.dhcpProbeScript) })
        }
        checks += plan.tapInstances.map { vm in
            LabCheck(
                id: "dhcp:\(vm.name)",
                summary: "\(vm.name) (tap guest) gets \(vm.address), its router and MTU \(plan.network.mtu) by DHCP",
                dependencies: [.instance(vm.name), .tunnel, .dhcpServer, .dhcpHost(vm.name), .dhcpIngress(vm.name)],
                probe: { await tapGuestDHCP(vm, plan: plan) })
        }
        checks += [
            LabCheck(
                id: "dns-local",
                summary: "\(probe.name) resolves \(localName) at dnsmasq \(plan.dhcp.address)",
                dependencies: [.instance(probe.name), .tunnel, .dhcpServer, .localDNS],
                probe: { await dns(from: probe, server: plan.dhcp.address, name: localName, expect: fip.address) }),
            LabCheck(
                id: "dns-upstream",
                summary: "\(probe.name) resolves \(record.name) through dnsmasq and the upstream server",
                dependencies: [.instance(probe.name), .tunnel, .dhcpServer, .localDNS, .routerInterface, .routerForwarding,
                               .routerSNAT, .routerDefaultRoute, .externalGateway, .upstreamDNS],
                probe: { await dns(from: probe, server: plan.dhcp.address, name: record.name, expect: record.address) }),
        ]
        if plan.instances.count > 1 {
            checks.append(LabCheck(
                id: "east-west",
                summary: "\(fip.name) pings \(probe.name) (\(probe.address)) on the same compute node",
                dependencies: [.instance(fip.name), .instance(probe.name)],
                probe: { await ping(in: fip.namespace, probe.address) }))
        }
        checks += [
            LabCheck(
                id: "router",
                summary: "\(probe.name) pings the router's qr- (\(plan.network.gateway)) across the tunnel",
                dependencies: toRouter,
                probe: { await ping(in: probe.namespace, plan.network.gateway) }),
            LabCheck(
                id: "mtu",
                summary: "\(probe.name) sends \(plan.network.mtu)-byte packets (DF) to the router",
                dependencies: toRouter.union([.largeFrames]),
                probe: { await ping(in: probe.namespace, plan.network.gateway, extra: ["-M", "do", "-s", "\(mtuPayload)"]) }),
            LabCheck(
                id: "snat",
                summary: "\(probe.name) pings the external gateway \(ext.gateway) through the router's SNAT",
                dependencies: toRouter.union([.routerForwarding, .externalGateway, .instanceDefaultRoute(probe.name)])
                    .union(probe.name == fip.name ? [] : [.routerSNAT]),
                probe: { await ping(in: probe.namespace, ext.gateway) }),
        ]
        for vm in plan.tapInstances {
            checks += [
                LabCheck(
                    id: "ping:\(vm.name)",
                    summary: "the router pings \(vm.name) (\(vm.address)), which answers from behind its tap",
                    dependencies: [.instance(vm.name), .tunnel, .routerInterface, .icmpIngress(vm.name)],
                    probe: { await ping(in: router.namespace, vm.address) }),
                LabCheck(
                    id: "snat:\(vm.name)",
                    summary: "\(vm.name) pings the external gateway \(ext.gateway) through the router's SNAT",
                    dependencies: [.instance(vm.name), .tunnel, .routerInterface, .routerForwarding, .externalGateway,
                                   .routerSNAT, .instanceDefaultRoute(vm.name)],
                    probe: { await tapGuestPing(vm, ext.gateway) }),
            ]
        }
        checks += [
            LabCheck(
                id: "fip-egress",
                summary: "\(fip.name) pings the external gateway from its floating IP \(router.floatingIP.address)",
                dependencies: [.instance(fip.name), .tunnel, .routerInterface, .routerForwarding, .externalGateway,
                               .instanceDefaultRoute(fip.name)],
                probe: { await ping(in: fip.namespace, ext.gateway) }),
            LabCheck(
                id: "fip-ping",
                summary: "the internet (\(ext.internetClient)) pings floating IP \(router.floatingIP.address)",
                dependencies: [.instance(fip.name), .tunnel, .routerInterface, .routerForwarding, .routerDefaultRoute,
                               .externalGateway, .icmpIngress(fip.name), .instanceDefaultRoute(fip.name), .routerReversePath],
                probe: { await ping(in: ext.namespace, router.floatingIP.address, extra: ["-I", "\(ext.internetClient)"]) }),
            LabCheck(
                id: "fip-ssh",
                summary: "the internet connects to \(router.floatingIP.address):\(allowedPort), allowed by the security group",
                dependencies: [.instance(fip.name), .tunnel, .routerInterface, .routerForwarding, .routerDefaultRoute,
                               .externalGateway, .floatingIPDNAT, .instanceDefaultRoute(fip.name), .routerReversePath],
                probe: { await tcp(plan, port: allowedPort, expectConnect: true) }),
            LabCheck(
                id: "sg-blocks",
                summary: "the internet cannot connect to \(router.floatingIP.address):\(blockedPort) (listening, not allowed)",
                dependencies: [.securityGroupEnforcement],
                probe: { await tcp(plan, port: blockedPort, expectConnect: false) }),
        ]
        return checks
    }

    /// Runs the checks of `plan` (all, or those whose id is in `only`) concurrently and returns
    /// their results in display order. Never throws: a probe that cannot run is a failed check
    /// whose detail says why.
    public static func run(_ plan: LabPlan, only: Set<String>? = nil) async -> [LabCheckResult] {
        let checks = all(for: plan).filter { only?.contains($0.id) ?? true }
        return await withTaskGroup(of: (Int, LabCheckResult).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask {
                    let start = ContinuousClock.now
                    let (passed, detail) = await check.probe()
                    let elapsed = ContinuousClock.now - start
                    let ms = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
                    return (index, LabCheckResult(id: check.id, summary: check.summary, passed: passed, detail: detail, milliseconds: ms))
                }
            }
            var results = [LabCheckResult?](repeating: nil, count: checks.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
    }

    /// The ids of the checks a set of broken dependencies should make fail.
    public static func expectedFailures(of broken: Set<LabDependency>, in plan: LabPlan) -> Set<String> {
        Set(all(for: plan).filter { !$0.dependencies.isDisjoint(with: broken) }.map(\.id))
    }

    // MARK: Probes

    /// A fresh DHCP exchange from the instance with busybox udhcpc (probe script: prints the
    /// lease, changes nothing). Passes when the lease has the instance's address and the MTU.
    static func dhcp(_ vm: LabInstance, plan: LabPlan, script: String) async -> (Bool, String) {
        let argv = ["busybox", "udhcpc", "-i", vm.interface, "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", script]
        guard let r = try? await HostCommand.run(argv, in: .named(vm.namespace), timeout: .seconds(10), check: false) else {
            return (false, "udhcpc could not run in \(vm.namespace)")
        }
        guard let lease = r.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("lease ") }) else {
            return (false, "no lease (udhcpc: \(lastLine(r.standardError)))")
        }
        let fields = Dictionary(lease.split(separator: " ").dropFirst().compactMap { f -> (String, String)? in
            let kv = f.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
        let ok = fields["ip"] == vm.address.description && fields["mtu"] == "\(plan.network.mtu)"
            && fields["router"] == plan.network.gateway.description
        return (ok, String(lease.dropFirst("lease ".count)))
    }

    /// A fresh DHCP exchange by the tap guest (its own client, through the real path); passes
    /// when the ACK has the planned address, the router and the MTU.
    static func tapGuestDHCP(_ vm: LabTapInstance, plan: LabPlan) async -> (Bool, String) {
        let outcome: TapGuestStack.Outcome
        do {
            outcome = try await TapGuestControl.send(.dhcp, to: vm)
        } catch {
            return (false, "\(error)")
        }
        guard outcome.succeeded, let lease = outcome.lease else { return (false, outcome.detail) }
        // The same words as the namespace instances' udhcpc lease line.
        let dns = lease.dnsServers.map(\.description).joined(separator: " ")
        let detail = "ip=\(lease.address) mask=\(lease.prefixLength) router=\(lease.router.map { "\($0)" } ?? "") dns=\(dns) "
            + "mtu=\(lease.mtu.map(String.init) ?? "") domain=\(lease.domainName ?? "") server=\(lease.serverID)"
        let ok = lease.address == vm.address && lease.mtu == plan.network.mtu && lease.router == plan.network.gateway
        return (ok, detail)
    }

    /// Two pings from the tap guest, 0.2 s apart; passes on any reply.
    static func tapGuestPing(_ vm: LabTapInstance, _ target: IPv4Address) async -> (Bool, String) {
        do {
            let outcome = try await TapGuestControl.send(.ping(target: target, count: 2, payloadSize: 56), to: vm)
            return (outcome.succeeded, outcome.detail)
        } catch {
            return (false, "\(error)")
        }
    }

    /// A DNS query with dig from the instance to `server`; passes when the answer is `expect`.
    static func dns(from vm: LabInstance, server: IPv4Address, name: String, expect: IPv4Address) async -> (Bool, String) {
        let argv = ["dig", "+short", "+time=1", "+tries=2", "@\(server)", name, "A"]
        guard let r = try? await HostCommand.run(argv, in: .named(vm.namespace), timeout: .seconds(10), check: false) else {
            return (false, "dig could not run in \(vm.namespace)")
        }
        let answer = r.standardOutput.split(separator: "\n").map(String.init).filter { !$0.hasPrefix(";") }
        if answer.contains(expect.description) { return (true, "\(name) -> \(expect)") }
        let said = (answer.first ?? lastLine(r.standardOutput + r.standardError))
        return (false, said.isEmpty ? "no answer" : said)
    }

    /// Two pings 0.2 s apart inside `namespace`; passes on any reply, so a packet lost while a
    /// switch reconfigures does not fail the check, while a real fault drops both.
    static func ping(in namespace: String, _ target: IPv4Address, extra: [String] = []) async -> (Bool, String) {
        let argv = ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "1"] + extra + ["\(target)"]
        guard let r = try? await HostCommand.run(argv, in: .named(namespace), timeout: .seconds(10), check: false) else {
            return (false, "ping could not run in \(namespace)")
        }
        if r.succeeded {
            let rtt = r.standardOutput.split(separator: "\n").first { $0.contains("bytes from") }
                .flatMap { $0.split(separator: " ").first { $0.hasPrefix("time=") } }
            return (true, "reply from \(target)" + (rtt.map { " (\($0))" } ?? ""))
        }
        let error = r.standardOutput.split(separator: "\n").first { $0.contains("From ") || $0.contains("frag needed") }
        return (false, error.map(String.init) ?? lastLine(r.standardError).nonEmpty ?? "no reply from \(target)")
    }

    /// A TCP connect from the internet client to the floating IP with listeners on the allowed
    /// and the blocked port inside the floating-IP instance.
    static func tcp(_ plan: LabPlan, port: UInt16, expectConnect: Bool) async -> (Bool, String) {
        let vm = plan.floatingIPInstance
        let listener: TCPProbe.Listener
        do {
            listener = try await TCPProbe.listen(in: .named(vm.namespace), port: port)
        } catch {
            return (false, "could not listen on \(vm.name):\(port): \(error)")
        }
        let outcome = await TCPProbe.connect(from: .named(plan.external.namespace), source: plan.external.internetClient,
                                             to: plan.router.floatingIP.address, port: port,
                                             // Long enough for one SYN retransmission (after 1 s).
                                             timeout: .milliseconds(1500))
        withExtendedLifetime(listener) {}
        let connected = outcome == .connected
        return (connected == expectConnect, "\(plan.router.floatingIP.address):\(port): \(outcome)")
    }

    private static func lastLine(_ text: String) -> String {
        text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}

extension String {
    /// nil when empty, for `??` chains.
    var nonEmpty: String? { isEmpty ? nil : self }
}
