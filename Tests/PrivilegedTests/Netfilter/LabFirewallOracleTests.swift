import Foundation
import HopscopeModel
import Lab
import Namespaces
import Netfilter
import Testing

/// The counter oracle on the OpenStack lab (issue 2): its compute node's hybrid security groups
/// and its qrouter namespace, with the lab brought up under the `hsnf` prefix. Packets cross the
/// real Open vSwitch bridges and the VXLAN tunnel between the nodes.
@Suite(.serialized) struct LabFirewallOracleTests {
    @Test func evaluatorMatchesKernelCountersInTheLab() async throws {
        try requireRoot()
        let lab = try Lab(prefix: "hsnf")
        let plan: LabPlan
        do {
            plan = try await lab.up().plan
        } catch {
            _ = try? await lab.down()
            throw error
        }
        do {
            try await quiet(plan)
            var oracle = try await CounterOracle(watching: [plan.computeNode.namespace, plan.router.namespace])
            try await oracle.settle()
            let compute = try await LiveFirewall.collect(in: .named(plan.computeNode.namespace)).evaluator()
            let router = try await LiveFirewall.collect(in: .named(plan.router.namespace)).evaluator()
            try await oracle.runLabProbes(plan, compute: compute, router: router)
            oracle.report("lab \(plan.prefix)")
        } catch {
            _ = try? await lab.down()
            throw error
        }
        _ = try await lab.down()
    }

    /// Keeps the endpoints from answering probes (their answers would cross the firewalls too)
    /// and lets conntrack accept the probes whose transport checksum is wrong on purpose.
    func quiet(_ plan: LabPlan) async throws {
        for ns in plan.instances.map(\.namespace) + [plan.external.namespace] {
            try await HostCommand.run(["iptables", "-P", "INPUT", "DROP"], in: .named(ns))
        }
        try await HostCommand.run(["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"], in: .named(plan.router.namespace))
        for ns in [plan.router.namespace, plan.computeNode.namespace] {
            try await HostCommand.run(["sysctl", "-qw", "net.netfilter.nf_conntrack_checksum=0"], in: .named(ns))
        }
    }
}

extension CounterOracle {
    static func mac(of interface: String, in ns: String) async throws -> MACAddress {
        let out = try await HostCommand.run(["ip", "-j", "link", "show", "dev", interface], in: .named(ns)).standardOutput
        let links = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]
        return try #require((links?.first?["address"] as? String).flatMap { MACAddress($0) })
    }

    /// The port the router's SNAT gave a connection (`--random-fully` picks it), from conntrack.
    static func translatedPort(in ns: String, proto: String, source: String, sourcePort: UInt16) async throws -> UInt16 {
        let out = try await HostCommand.run(["conntrack", "-L", "-p", proto, "--orig-src", source, "--sport", "\(sourcePort)"],
                                            in: .named(ns), check: false).standardOutput
        let line = try #require(out.split(separator: "\n").first, "no conntrack entry for \(source):\(sourcePort)")
        let ports = line.split(separator: " ").filter { $0.hasPrefix("dport=") }.compactMap { UInt16($0.dropFirst(6)) }
        return try #require(ports.last)
    }

    mutating func runLabProbes(_ plan: LabPlan, compute c: FirewallEvaluator, router r: FirewallEvaluator) async throws {
        let cmp = plan.computeNode.namespace, rtr = plan.router.namespace
        let vm1 = plan.instances[0], vm2 = plan.instances[1]
        let qr = plan.router.internalPort, qg = plan.router.gatewayPort
        let fip = plan.router.floatingIP.address
        let client = plan.external.internetClient
        let extMAC = try await Self.mac(of: plan.external.interface, in: plan.external.namespace)
        let reply = ConnectionContext(state: .established, isReply: true)
        func out(_ vm: LabInstance) -> Traversal { .bridged(bridge: vm.linuxBridge, from: vm.tapDevice, to: vm.bridgeVeth) }
        func into(_ vm: LabInstance) -> Traversal { .bridged(bridge: vm.linuxBridge, from: vm.bridgeVeth, to: vm.tapDevice) }
        let fromTenant = Traversal.routed(in: qr.name, out: qg.name)
        let toTenant = Traversal.routed(in: qg.name, out: qr.name)
        func k(_ s: String) throws -> PacketKey { try PacketKey(parsing: s) }
        func src(_ vm: LabInstance) -> String { "dl_src=\(vm.mac),nw_src=\(vm.address)" }
        let ext = "dl_src=\(extMAC),nw_src=\(client)"

        for v in 0..<9 {
            let id = UInt16(300 + v * 40), port = UInt16(43000 + v * 40)
            var x = ProbeFrames.Extras()
            x.icmpID = id

            // East-west on the compute node (both instances share the network's conntrack zone).
            var p = try k("icmp,\(src(vm1)),nw_dst=\(vm2.address),icmp_type=8,icmp_code=0")
            try await probe("lab vm1->vm2 ping", from: vm1.namespace, vm1.interface, p, to: vm2.mac, x, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1)) }), (cmp, { c.trace($0, through: into(vm2)) })]))
            p = try k("icmp,\(src(vm2)),nw_dst=\(vm1.address),icmp_type=0,icmp_code=0")
            try await probe("lab vm2->vm1 ping reply", from: vm2.namespace, vm2.interface, p, to: vm1.mac, x, state: "established",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm2), connection: reply) }),
                                                (cmp, { c.trace($0, through: into(vm1), connection: reply) })]))
            x.tcpSeq = 5000 + UInt32(v)
            p = try k("tcp,\(src(vm1)),nw_dst=\(vm2.address),tp_src=\(port),tp_dst=80,tcp_flags=+syn")
            try await probe("lab vm1->vm2 http syn (remote group)", from: vm1.namespace, vm1.interface, p, to: vm2.mac, x, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1)) }), (cmp, { c.trace($0, through: into(vm2)) })]))
            var synAck = ProbeFrames.Extras()
            synAck.tcpSeq = 7000
            synAck.tcpAck = x.tcpSeq + 1
            p = try k("tcp,\(src(vm2)),nw_dst=\(vm1.address),tp_src=80,tp_dst=\(port),tcp_flags=+syn+ack")
            try await probe("lab vm2->vm1 http syn-ack", from: vm2.namespace, vm2.interface, p, to: vm1.mac, synAck, state: "established",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm2), connection: reply) }),
                                                (cmp, { c.trace($0, through: into(vm1), connection: reply) })]))
            p = try k("icmp,dl_src=\(vm1.mac),nw_src=10.0.0.99,nw_dst=\(vm2.address),icmp_type=8,icmp_code=0")
            try await probe("lab vm1 spoofed source", from: vm1.namespace, vm1.interface, p, to: vm2.mac, x, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1)) })]))

            // DHCP between the instance and the DHCP agent's port (payloads dnsmasq ignores).
            p = try k("udp,\(src(vm1)),nw_dst=\(plan.dhcp.address),tp_src=68,tp_dst=67")
            try await probe("lab vm1 dhcp request to the agent", from: vm1.namespace, vm1.interface, p, to: plan.dhcp.mac, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1)) })]))
            p = try k("udp,dl_src=\(plan.dhcp.mac),nw_src=\(plan.dhcp.address),nw_dst=\(vm1.address),tp_src=67,tp_dst=68")
            try await probe("lab dhcp agent answer to vm1", from: plan.dhcp.namespace, plan.dhcp.interface, p, to: vm1.mac, state: "established",
                            crossings: path(p, [(cmp, { c.trace($0, through: into(vm1), connection: reply) })]))
            p = try k("udp,\(src(vm2)),nw_dst=\(vm1.address),tp_src=67,tp_dst=68")
            try await probe("lab vm2 acting as dhcp server", from: vm2.namespace, vm2.interface, p, to: vm1.mac, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm2)) })]))

            // North-south through the qrouter: gateway SNAT (port from conntrack), floating IP, metadata.
            p = try k("udp,\(src(vm2)),nw_dst=\(client),tp_src=\(port + 1),tp_dst=53")
            let snat = path(p, [(cmp, { c.trace($0, through: out(vm2)) }), (rtr, { r.trace($0, through: fromTenant) })])
            try await probe("lab vm2 dns to the internet (snat)", from: vm2.namespace, vm2.interface, p, to: qr.mac, state: "new", crossings: snat)
            let natPort = try await Self.translatedPort(in: rtr, proto: "udp", source: "\(vm2.address)", sourcePort: port + 1)
            p = try k("udp,\(ext),nw_dst=\(qg.address.address),tp_src=53,tp_dst=\(natPort)")
            let snatOriginal = snat.last!.trace
            try await probe("lab dns answer to the router's gateway", from: plan.external.namespace, plan.external.interface, p, to: qg.mac, state: "established",
                            crossings: path(p, [(rtr, { r.traceReply(to: snatOriginal, reply: $0, through: toTenant) }),
                                                (cmp, { c.trace($0, through: into(vm2), connection: reply) })]))
            x.tcpSeq = 6000 + UInt32(v)
            p = try k("tcp,\(ext),nw_dst=\(fip),tp_src=\(port + 2),tp_dst=22,tcp_flags=+syn")
            let ssh = path(p, [(rtr, { r.trace($0, through: toTenant) }), (cmp, { c.trace($0, through: into(vm1)) })])
            try await probe("lab ssh from the internet to the floating IP", from: plan.external.namespace, plan.external.interface, p, to: qg.mac, x, state: "new", crossings: ssh)
            synAck.tcpAck = x.tcpSeq + 1
            p = try k("tcp,\(src(vm1)),nw_dst=\(client),tp_src=22,tp_dst=\(port + 2),tcp_flags=+syn+ack")
            let sshOriginal = ssh.first!.trace
            try await probe("lab vm1 ssh syn-ack out through the floating IP", from: vm1.namespace, vm1.interface, p, to: qr.mac, synAck, state: "established",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1), connection: reply) }),
                                                (rtr, { r.traceReply(to: sshOriginal, reply: $0, through: fromTenant) })]))
            p = try k("tcp,\(ext),nw_dst=\(fip),tp_src=\(port + 3),tp_dst=8080,tcp_flags=+syn")
            try await probe("lab tcp 8080 from the internet to the floating IP (not allowed)", from: plan.external.namespace, plan.external.interface, p, to: qg.mac, x, state: "new",
                            crossings: path(p, [(rtr, { r.trace($0, through: toTenant) }), (cmp, { c.trace($0, through: into(vm1)) })]))
            x.icmpID = id + 1
            p = try k("icmp,\(ext),nw_dst=\(fip),icmp_type=8,icmp_code=0")
            let ping = path(p, [(rtr, { r.trace($0, through: toTenant) }), (cmp, { c.trace($0, through: into(vm1)) })])
            try await probe("lab ping from the internet to the floating IP", from: plan.external.namespace, plan.external.interface, p, to: qg.mac, x, state: "new", crossings: ping)
            p = try k("icmp,\(src(vm1)),nw_dst=\(client),icmp_type=0,icmp_code=0")
            let pingOriginal = ping.first!.trace
            try await probe("lab vm1 ping reply through the floating IP", from: vm1.namespace, vm1.interface, p, to: qr.mac, x, state: "established",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm1), connection: reply) }),
                                                (rtr, { r.traceReply(to: pingOriginal, reply: $0, through: fromTenant) })]))
            var silent = x
            silent.badTransportChecksum = true
            p = try k("tcp,\(src(vm2)),nw_dst=169.254.169.254,tp_src=\(port + 4),tp_dst=80,tcp_flags=+syn")
            try await probe("lab vm2 to 169.254.169.254 (this router has no metadata redirect: it leaves by SNAT)", from: vm2.namespace, vm2.interface, p, to: qr.mac, silent, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm2)) }), (rtr, { r.trace($0, through: fromTenant) })]))
            p = try k("tcp,\(src(vm2)),nw_dst=\(qr.address.address),tp_src=\(port + 5),tp_dst=9697,tcp_flags=+syn")
            try await probe("lab vm2 straight to the metadata proxy port", from: vm2.namespace, vm2.interface, p, to: qr.mac, x, state: "new",
                            crossings: path(p, [(cmp, { c.trace($0, through: out(vm2)) }), (rtr, { r.trace($0, through: .deliveredLocally(in: qr.name)) })]))
        }
    }
}
