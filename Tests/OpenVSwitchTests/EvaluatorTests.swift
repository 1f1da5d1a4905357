import Foundation
import HopscopeModel
import Testing
@testable import OpenVSwitch

/// The real DVR node in ../shared/data (database dump, flow dumps, ofctl show, MAC tables) as an
/// evaluator model.
enum HotsosNode {
    static func model() throws -> OpenFlowModel {
        let db = OVSDatabase(tables: try OVSDBListFormat.parse(try Fixtures.text("ovsdb/hotsos/ovsdb-client_-f_list_dump")))
        let openFlow = try ["br-int", "br-tun", "br-data", "br-ex"].map { b in
            OVSBridgeOpenFlow(bridge: b, flowDump: try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_dump-flows_\(b)"),
                              ports: try OfctlOutput.parseShow(try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_show_\(b)")),
                              fdb: try OfctlOutput.parseFDB(try Fixtures.text("ovsdb/hotsos/ovs-appctl_fdb.show_\(b)")))
        }
        return try OpenFlowModel(database: db, openFlow: openFlow)
    }
}

@Suite struct NeutronNodeEvaluationTests {
    let model: OpenFlowModel
    init() throws { model = try HotsosNode.model() }

    func trace(_ bridge: String, _ flow: String, ct: [UInt32] = []) throws -> OpenFlowTrace {
        try model.trace(bridge: bridge, packet: try PacketKey(parsing: flow), conntrack: ConntrackInput(states: ct))
    }

    /// VM -> its router: port security (table 71), conntrack (new), egress firewall commit, NORMAL
    /// with the learned MAC of qr- on VLAN 3.
    @Test func instanceToRouterIsForwardedThroughTheFirewall() throws {
        let t = try trace("br-int", "in_port=tap0e778df8-ca,icmp,dl_src=fa:16:3e:a7:45:cb,dl_dst=fa:16:3e:76:19:dd,nw_src=192.168.21.18,nw_dst=192.168.21.1,icmp_type=8")
        #expect(t.decision == .forward(to: ["qr-3a70b31c-3f"]))
        #expect(t.outputs.first?.vlan == nil)
        let tables = t.steps.filter { $0.kind == .flow }.map { $0.table! }
        #expect(tables == [0, 60, 71, 72, 73, 91, 94])
        #expect(t.steps.contains { $0.kind == .recirculation && ($0.note ?? "").contains("ct_zone=3") })
        #expect(t.evidence.filter { $0.kind == .flow }.count == 7)
        #expect(t.evidence.first?.source == "br-int table 0")
    }

    @Test func spoofedSourceIsDroppedWithTheDroppingFlow() throws {
        let t = try trace("br-int", "in_port=tap0e778df8-ca,icmp,dl_src=fa:16:3e:a7:45:cb,dl_dst=fa:16:3e:76:19:dd,nw_src=192.168.21.99,nw_dst=192.168.21.1")
        #expect(t.decision == .drop)
        let cause = try #require(t.dropCauses.last)
        #expect(cause.kind == .dropFlow)
        #expect(cause.table == 93)
        #expect(t.steps.last { $0.kind == .flow }?.flow?.contains("table=93") == true)
    }

    /// From a VXLAN tunnel to the instance: tun_id 0x4d1 -> local VLAN 3, learn() reported, patch
    /// into br-int, ingress firewall with a default (new) and an established connection.
    @Test func tunnelToInstance() throws {
        let flow = "in_port=vxlan-0a000072,tun_id=0x4d1,icmp,dl_src=fa:16:3e:50:61:70,dl_dst=fa:16:3e:a7:45:cb,nw_src=192.168.21.4,nw_dst=192.168.21.18,icmp_type=8"
        let new = try trace("br-tun", flow)
        #expect(new.decision == .forward(to: ["tap0e778df8-ca"]))
        #expect(new.learnedFlows.count == 1)
        let learned = try #require(new.learnedFlows.first)
        #expect(learned.contains("table=20"))
        #expect(learned.contains("dl_dst=fa:16:3e:50:61:70"))
        #expect(learned.contains("load:0x4d1->tun_id[]"))
        #expect(learned.contains("output:2"))
        #expect(new.steps.contains { $0.kind == .patch })
        // An established reply to something the VM did not open: table 82 priority 75 for icmp.
        let est = try trace("br-tun", flow, ct: [0x22])
        #expect(est.decision == .forward(to: ["tap0e778df8-ca"]))
        // Invalid connections are dropped in table 93.
        let inv = try trace("br-tun", flow, ct: [0x30])
        #expect(inv.decision == .drop)
    }

    /// Broadcast ARP from the instance floods VLAN 3: router ports, and br-tun sends it to both
    /// VXLAN peers with the network's tunnel ID after stripping the local VLAN.
    @Test func broadcastFloodsToTunnels() throws {
        let t = try trace("br-int", "in_port=tap0e778df8-ca,arp,dl_src=fa:16:3e:a7:45:cb,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=192.168.21.18,arp_tpa=192.168.21.99")
        let tunnels = t.outputs.filter { $0.kind == .tunnel }
        #expect(Set(tunnels.map { $0.tunnel!.remoteIP }) == ["10.0.0.114", "10.0.0.133"])
        #expect(tunnels.allSatisfy { $0.tunnel!.tunnelID == 0x4d1 && $0.vlan == nil && $0.tunnel!.localIP == "10.0.0.128" })
        let ports = Set(t.outputs.filter { $0.kind == .port }.map(\.port))
        #expect(ports == ["qr-3a70b31c-3f", "sg-189f4c40-9d", "br-int"])
        #expect(t.outputs.first { $0.port == "br-int" }?.vlan == 3)
        #expect(!ports.contains("tap0e778df8-ca"))
    }

    /// br-tun's ARP responder answers from table 21 and sends the reply back where it came from.
    @Test func arpResponderRepliesOnTheInputPort() throws {
        let t = try trace("br-tun", "in_port=patch-int,dl_vlan=3,arp,dl_src=fa:16:3e:a7:45:cb,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=192.168.21.18,arp_tpa=192.168.21.2")
        #expect(t.steps.contains { $0.kind == .flow && $0.table == 21 && ($0.flow ?? "").contains("arp_tpa=192.168.21.2") })
        #expect(t.steps.contains { $0.kind == .patch && ($0.note ?? "").contains("br-int") })
        #expect(!t.decision.isUnknown)
    }

    @Test func unknownPortAndBridgeAreErrors() throws {
        #expect(throws: PacketKeyError.self) { try trace("br-int", "in_port=tap-nope,icmp") }
        #expect(throws: PacketKeyError.self) { try trace("br-nope", "in_port=1,icmp") }
        #expect(throws: PacketKeyError.self) { try trace("br-int", "in_port=1,icmp,mpls_label=5") }
    }
}

@Suite struct EvaluatorSemanticsTests {
    static func model(_ flows: String, ports: [BridgePort], peer: (flows: String, ports: [BridgePort])? = nil, fdb: [OVSFDBEntry] = []) throws -> OpenFlowModel {
        var bridges = [BridgeDescription(name: "br-a", ports: ports, flows: try FlowDump(parsing: flows).flows, fdb: fdb)]
        if let peer { bridges.append(BridgeDescription(name: "br-b", ports: peer.ports, flows: try FlowDump(parsing: peer.flows).flows)) }
        return try OpenFlowModel(bridges: bridges)
    }
    static let ports = [BridgePort(name: "p1", ofport: 1), BridgePort(name: "p2", ofport: 2), BridgePort(name: "p3", ofport: 3),
                        BridgePort(name: "br-a", ofport: 65534)]

    @Test func conjunctionNeedsEveryClauseAndFallsBack() throws {
        let m = try Self.model("""
            priority=100,in_port=1 actions=conjunction(5,1/2)
            priority=100,tcp,tp_dst=80 actions=conjunction(5,2/2)
            priority=100,conj_id=5,tcp actions=output:2
            priority=10,tcp actions=output:3
            """, ports: Self.ports)
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,tcp,tp_dst=80")).decision == .forward(to: ["p2"]))
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,tcp,tp_dst=22")).decision == .forward(to: ["p3"]))
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=2,tcp,tp_dst=80")).decision == .forward(to: ["p3"]))
    }

    @Test func tableMissAndOpaqueActions() throws {
        let m = try Self.model("""
            priority=10,in_port=1 actions=resubmit(,5)
            priority=10,in_port=2 actions=bundle(eth_src,0,hrw,ofport,members:1,3)
            priority=10,in_port=3 actions=output:3
            """, ports: Self.ports)
        let miss = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip"))
        #expect(miss.decision == .drop)
        #expect(miss.dropCauses.last?.kind == .tableMiss)
        #expect(miss.dropCauses.last?.table == 5)
        if case .unknown(let reason) = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=2,ip")).decision {
            #expect(reason.contains("bundle"))
        } else { Issue.record("an opaque action must make the verdict unknown") }
        let loop = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=3,ip"))
        #expect(loop.decision == .drop)
        #expect(loop.dropCauses.last?.reason.contains("input port") == true)
    }

    @Test func unreadableFlowMakesTheTableUnknown() throws {
        let m = try Self.model("priority=20,ip,frobnicate=3 actions=drop\npriority=10,ip actions=output:2", ports: Self.ports)
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip")).decision.isUnknown)
    }

    @Test func patchPortClearsRegistersAndReturns() throws {
        let m = try Self.model("""
            priority=10,in_port=1 actions=load:0x7->NXM_NX_REG0[],output:10,output:2
            """, ports: Self.ports + [BridgePort(name: "pa", ofport: 10, kind: .patch(peer: "pb"))],
            peer: ("priority=20,reg0=0x7 actions=output:2\npriority=10 actions=output:3",
                   [BridgePort(name: "pb", ofport: 1, kind: .patch(peer: "pa")), BridgePort(name: "q2", ofport: 2), BridgePort(name: "q3", ofport: 3)]))
        let t = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip"))
        #expect(t.outputs.map(\.port) == ["q3", "p2"])
    }

    @Test func normalHonoursAccessAndTrunkPorts() throws {
        let ports = [BridgePort(name: "a5", ofport: 1, vlanMode: .access, tag: 5), BridgePort(name: "a6", ofport: 2, vlanMode: .access, tag: 6),
                     BridgePort(name: "t", ofport: 3, vlanMode: .trunk, trunks: [5]), BridgePort(name: "all", ofport: 4)]
        let m = try Self.model("priority=0 actions=NORMAL", ports: ports,
                               fdb: [OVSFDBEntry(port: 4, vlan: 5, mac: MACAddress("fa:16:3e:00:00:04")!)])
        let flood = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=a5,dl_dst=ff:ff:ff:ff:ff:ff"))
        #expect(Set(flood.outputs.map { "\($0.port)/\($0.vlan.map(String.init) ?? "-")" }) == ["t/5", "all/5"])
        let learned = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=a5,dl_dst=fa:16:3e:00:00:04"))
        #expect(learned.outputs.map(\.port) == ["all"])
        let tagged = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=a5,dl_vlan=5"))
        #expect(tagged.decision == .drop)
        #expect(tagged.dropCauses.last?.kind == .normal)
        let notTrunked = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=t,dl_vlan=6"))
        #expect(notTrunked.decision == .drop)
        let fromTrunk = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=t,dl_vlan=5,dl_dst=ff:ff:ff:ff:ff:ff"))
        #expect(Set(fromTrunk.outputs.map { "\($0.port)/\($0.vlan.map(String.init) ?? "-")" }) == ["a5/-", "all/5"])
    }

    @Test func tunnelKeysAndRemoteFromFlow() throws {
        let ports = Self.ports + [
            BridgePort(name: "vx", ofport: 5, kind: .tunnel(TunnelConfiguration(type: "vxlan", remoteIP: "flow", localIP: "192.0.2.1", outKey: "flow"))),
            BridgePort(name: "gre", ofport: 6, kind: .tunnel(TunnelConfiguration(type: "gre", remoteIP: "192.0.2.9", localIP: nil, outKey: "77"))),
        ]
        let m = try Self.model("""
            priority=10,in_port=1 actions=set_field:192.0.2.7->tun_dst,set_tunnel:0x10,output:5,output:6
            priority=10,in_port=2 actions=output:5
            """, ports: ports)
        let t = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip"))
        #expect(t.outputs.map { $0.tunnel! } == [TunnelOutput(type: "vxlan", tunnelID: 0x10, remoteIP: "192.0.2.7", localIP: "192.0.2.1"),
                                                   TunnelOutput(type: "gre", tunnelID: 77, remoteIP: "192.0.2.9", localIP: nil)])
        let noDst = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=2,ip"))
        #expect(noDst.decision == .drop)
    }

    @Test func conntrackStatesAreInputsAndFieldsClearAfterCt() throws {
        let m = try Self.model("""
            table=0,priority=10,ip actions=load:0x9->NXM_NX_REG6[],ct(table=1,zone=NXM_NX_REG6[0..15]),output:3
            table=1,priority=10,ct_state=+trk+new,ct_zone=9 actions=output:1
            table=1,priority=10,ct_state=+trk+est,ct_zone=9 actions=output:2
            """, ports: Self.ports)
        let new = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=p3,ip"))
        #expect(new.decision == .forward(to: ["p1"]))
        let est = try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=p1,ip"), conntrack: ConntrackInput(states: [0x22]))
        #expect(est.decision == .forward(to: ["p3", "p2"]))
    }

    @Test func registersAndMetadataMoveOnBitRanges() throws {
        let m = try Self.model("""
            table=0,priority=10 actions=move:NXM_OF_IP_SRC[0..7]->NXM_NX_REG3[8..15],write_metadata:0x5/0xff,resubmit(,1)
            table=1,priority=10,reg3=0x4200/0xff00,metadata=0x5 actions=output:2
            table=1,priority=5 actions=output:3
            """, ports: Self.ports)
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip,nw_src=10.0.0.66")).decision == .forward(to: ["p2"]))
        #expect(try m.trace(bridge: "br-a", packet: PacketKey(parsing: "in_port=1,ip,nw_src=10.0.0.67")).decision == .forward(to: ["p3"]))
    }
}
