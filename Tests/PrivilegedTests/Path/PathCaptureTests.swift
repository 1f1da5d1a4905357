import Foundation
import HopscopeModel
import Lab
import Testing

/// `hopscope path` against the real packets in the shared lab: each walk is made from a fresh
/// `hopscope snapshot`, then a ping runs inside the lab's namespaces while every device the walk
/// names is captured (`PathProof`). Healthy walks must be seen hop by hop, there and back; broken
/// ones must stop where the packets stop. One lab serves every check (LabFixture).
@Suite(.serialized) struct PathCaptureTests {
    /// A temporary snapshot file, removed after `body`.
    func withSnapshot<T>(_ plan: LabPlan, _ body: (String) async throws -> T) async throws -> T {
        let file = NSTemporaryDirectory() + "hspath-proof-\(getpid())-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await PathProof.snapshot(plan, to: file)
        return try await body(file)
    }

    /// The requests of the proof: instance to the external gateway, the internet to its floating
    /// IP, instance to the DHCP server, instance to the other instance. Each with the ping that
    /// sends its packets (`size` tells the proof's packets apart).
    struct Request: Sendable, CustomStringConvertible {
        var arguments: [String]
        var size: Int
        var pingNamespace: String
        var pingDestination: String
        var pingSource: String?
        var description: String { arguments.joined(separator: " ") }

        func ping() async throws {
            try await PathProof.ping(from: pingNamespace, pingDestination, size: size, source: pingSource)
        }

        /// A ping of another size, so the neighbour entries on the way are fresh (as in a lab in use)
        /// before a fault: an entry left FAILED by an earlier test would need an ARP exchange first.
        func warmUp() async throws {
            try await PathProof.ping(from: pingNamespace, pingDestination, size: 56, source: pingSource)
        }
    }

    static func requests(_ plan: LabPlan) -> (gateway: Request, floatingIP: Request, dhcp: Request, east: Request) {
        let vm = plan.floatingIPInstance, other = plan.instances[1]
        let ext = plan.external
        return (Request(arguments: [vm.namespace, "--to", "\(ext.gateway)"], size: 301, pingNamespace: vm.namespace, pingDestination: "\(ext.gateway)"),
                Request(arguments: [vm.namespace, "--from", "\(ext.internetClient)"], size: 302, pingNamespace: ext.namespace,
                        pingDestination: "\(plan.router.floatingIP.address)", pingSource: "\(ext.internetClient)"),
                Request(arguments: [vm.namespace, "--to", "\(plan.dhcp.address)"], size: 303, pingNamespace: vm.namespace, pingDestination: "\(plan.dhcp.address)"),
                Request(arguments: [vm.namespace, "--to", other.namespace], size: 304, pingNamespace: vm.namespace, pingDestination: "\(other.address)"))
    }

    @Test func healthyWalksAreTheHopsThePacketsTake() async throws {
        try requireRoot()
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let r = Self.requests(plan)
        try await withSnapshot(plan) { file in
            for request in [r.gateway, r.floatingIP, r.dhcp, r.east] {
                let (status, walk) = try await PathProof.walk(request.arguments, snapshot: file)
                #expect(status == 0 && walk.verdict.kind == .reachable, "\(request): \(walk.verdict)")
                try await PathProof.check(walk, size: request.size) { try await request.ping() }
            }
            // The floating IP walk crosses the router's NAT: the packet seen at qg- is addressed to it.
            let (_, inbound) = try await PathProof.walk(r.floatingIP.arguments, snapshot: file)
            let qg = try #require(inbound.hops.first { $0.device == plan.router.gatewayPort.name && $0.direction == .forward })
            #expect(qg.packet.ipDst == .v4(plan.router.floatingIP.address))
            #expect(inbound.hops.contains { $0.device == plan.floatingIPInstance.tapDevice && $0.packet.ipDst == .v4(plan.floatingIPInstance.address) })
        }
    }

    /// A fault, the request it breaks, and where the walk must say it stops.
    struct BrokenCase: Sendable, CustomStringConvertible {
        var fault: String
        var request: @Sendable (LabPlan) -> Request
        var stopsAt: @Sendable (LabPlan, PathHop) -> Bool
        var description: String { fault }
    }

    static let brokenCases: [BrokenCase] = [
        BrokenCase(fault: "sg-drops-icmp", request: { requests($0).floatingIP },
                   stopsAt: { plan, h in h.direction == .forward && h.device == plan.floatingIPInstance.linuxBridge && h.decision.isDrop }),
        BrokenCase(fault: "tap-down", request: { requests($0).gateway },
                   stopsAt: { plan, h in h.direction == .forward && h.device == plan.floatingIPInstance.tapDevice && h.decision.isDrop }),
        BrokenCase(fault: "tunnel-flow-missing", request: { requests($0).gateway },
                   stopsAt: { plan, h in h.direction == .reply && h.node == plan.computeNode.namespace && h.role == "OVS bridge \(plan.computeNode.tunnelBridge)" }),
    ]

    @Test(arguments: brokenCases)
    func brokenWalksStopWhereThePacketsStop(_ c: BrokenCase) async throws {
        try requireRoot()
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let request = c.request(plan)
        let healthy = try await withSnapshot(plan) { try await PathProof.walk(request.arguments, snapshot: $0).walk }
        try #require(healthy.verdict.kind == .reachable, "\(request) in the healthy lab: \(healthy.verdict)")
        try await request.warmUp()
        try await LabFixture.shared.withFault(c.fault) { _, plan in
            try await withSnapshot(plan) { file in
                let (status, walk) = try await PathProof.walk(request.arguments, snapshot: file)
                #expect(status == 1 && walk.verdict.kind == .stopped, "\(request) with \(c.fault): \(walk.verdict)")
                let stop = try #require(walk.verdict.hop.map { walk.hops[$0 - 1] })
                #expect(c.stopsAt(plan, stop), "\(c.fault): stops at \(stop.device ?? "-") (\(stop.role)): \(walk.verdict)")
                try await PathProof.check(walk, against: healthy, size: request.size) { try await request.ping() }
            }
        }
    }

    @Test func aGuestBehindATapIsWalkedAsThePacketsGo() async throws {
        try requireRoot()
        let (_, plan) = try await LabFixture.shared.healthyLab()
        let guest = try #require(plan.tapInstances.first, "the shared lab has a tap instance")
        let other = plan.instances[1]
        let router = plan.router.internalPort.address.address.description
        // The guest answers pings: walks come to it from the other instance (same security group)
        // and from the router (outside the group, across the tunnel).
        let east = Request(arguments: [guest.portID, "--from", other.namespace], size: 305,
                           pingNamespace: other.namespace, pingDestination: "\(guest.address)")
        let fromRouter = Request(arguments: [guest.tapDevice, "--from", router], size: 306,
                                 pingNamespace: plan.router.namespace, pingDestination: "\(guest.address)")
        let healthy = try await withSnapshot(plan) { file in
            var walks: [WalkJSON] = []
            for request in [east, fromRouter] {
                let (status, walk) = try await PathProof.walk(request.arguments, snapshot: file)
                #expect(status == 0 && walk.verdict.kind == .reachable, "\(request): \(walk.verdict)")
                #expect(walk.hops.contains { $0.role == "instance NIC (guest)" && $0.namespace == "(guest)" })
                try await PathProof.check(walk, size: request.size) { try await request.ping() }
                walks.append(walk)
            }
            return walks[1]
        }
        // Its security group loses the ICMP rule: the router's pings stop at the guest's qbr.
        try await LabFixture.shared.withFault("sg-drops-icmp", instance: guest.name) { _, plan in
            try await withSnapshot(plan) { file in
                let (status, walk) = try await PathProof.walk(fromRouter.arguments, snapshot: file)
                #expect(status == 1 && walk.verdict.kind == .stopped, "\(fromRouter) with sg-drops-icmp on \(guest.name): \(walk.verdict)")
                let stop = try #require(walk.verdict.hop.map { walk.hops[$0 - 1] })
                #expect(stop.device == guest.linuxBridge && stop.decision.isDrop, "\(walk.verdict)")
                try await PathProof.check(walk, against: healthy, size: fromRouter.size) { try await fromRouter.ping() }
            }
        }
    }
}
