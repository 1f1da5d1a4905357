import Foundation
import HopscopeModel
import Namespaces
import OpenVSwitch
import Testing

/// The evaluator against OVS itself: a replica of a real Neutron DVR node (real flow dumps) in a
/// private Open vSwitch, hundreds of generated packets, each evaluated by Hopscope and by
/// `ovs-appctl ofproto/trace`; outputs (port, VLAN, tunnel endpoint and key) and drops must agree.
@Suite(.serialized) struct OVSOracleTests {
    static func sandboxName(_ stem: String) -> String { "hsovs-\(stem)\(getpid() % 10000)" }

    @Test func neutronReplicaAgreesWithOfprotoTrace() async throws {
        try requireRoot()
        let replica = try await NeutronReplica.build(name: Self.sandboxName("o"))
        do {
            let node = replica.sandbox.node
            let (_, _, model) = try await node.snapshotModel()
            let packets = NeutronPackets.generate(inputs: NeutronReplica.inputPorts, tunnelPorts: ["hsovs-vx72", "hsovs-vx85"],
                                                  count: 360, seed: 0x4853_4F56)
            let c = try await OracleComparison.run(node: node, model: model, packets: packets, underlay: [NeutronReplica.underlay])
            print("ovs oracle (Neutron replica): \(c.summary)")
            for u in c.unknowns { print("  unknown: \(u)") }
            for d in c.disagreements.prefix(5) { print("DISAGREE \(d)") }
            #expect(c.disagreements.isEmpty, "\(c.disagreements.count) packets disagree with ofproto/trace")
            #expect(c.unreadable.isEmpty, "\(c.unreadable.count) traces had datapath actions the oracle reader does not know; first: \(c.unreadable.first ?? "")")
            #expect(c.agreed >= 300, "\(c.summary)")
            #expect(c.agreedForward >= 50 && c.agreedDrop >= 50, "both outcomes must be exercised: \(c.summary)")
        } catch {
            await replica.sandbox.stop()
            throw error
        }
        await replica.sandbox.stop()
    }

    /// Hand-written flows for what the Neutron tables do not use: conjunctions with fallback,
    /// goto_table, FLOOD/ALL/IN_PORT, resubmit with in_port, move/load on bit ranges and xreg,
    /// clone, dec_ttl, NORMAL on trunk, native-tagged and native-untagged ports, a patch to a
    /// peer bridge that clears registers, ct with a zone from a register.
    @Test func featureFlowsAgreeWithOfprotoTrace() async throws {
        try requireRoot()
        let s = try await OVSSandbox.start(name: Self.sandboxName("f"))
        do {
            for i in 1...5 { try await s.inNamespace(["ip", "link", "add", "hsovs-f\(i)", "type", "veth", "peer", "name", "hsovs-f\(i)p"]) }
            try await s.vsctl(["add-br", "hsovs-a", "--", "set", "bridge", "hsovs-a", "datapath_type=netdev", "fail_mode=secure",
                               "--", "add-br", "hsovs-b", "--", "set", "bridge", "hsovs-b", "datapath_type=netdev",
                               "--", "add-port", "hsovs-a", "hsovs-f1", "--", "set", "interface", "hsovs-f1", "ofport_request=1",
                               "--", "add-port", "hsovs-a", "hsovs-f2", "--", "set", "interface", "hsovs-f2", "ofport_request=2",
                               "--", "add-port", "hsovs-a", "hsovs-f3", "--", "set", "interface", "hsovs-f3", "ofport_request=3",
                               "--", "add-port", "hsovs-a", "hsovs-pa", "--", "set", "interface", "hsovs-pa", "type=patch", "options:peer=hsovs-pb", "ofport_request=10",
                               "--", "add-port", "hsovs-b", "hsovs-pb", "--", "set", "interface", "hsovs-pb", "type=patch", "options:peer=hsovs-pa", "ofport_request=1",
                               "--", "add-port", "hsovs-b", "hsovs-f4", "tag=5", "vlan_mode=native-untagged", "trunks=5,6",
                               "--", "add-port", "hsovs-b", "hsovs-f5", "tag=6", "vlan_mode=native-tagged"])
            let flows = """
                table=0,priority=100,in_port=1,ip,nw_src=10.1.0.0/16 actions=conjunction(7,1/2)
                table=0,priority=100,in_port=2,ip,nw_src=10.2.0.0/16 actions=conjunction(7,1/2)
                table=0,priority=100,tcp,tp_dst=80 actions=conjunction(7,2/2)
                table=0,priority=100,tcp,tp_dst=443 actions=conjunction(7,2/2)
                table=0,priority=100,conj_id=7,ip actions=load:0x7->NXM_NX_REG0[],goto_table:5
                table=0,priority=90,ip,nw_dst=10.9.0.0/16 actions=move:NXM_OF_IP_DST[0..7]->NXM_NX_REG1[8..15],load:0xab->NXM_NX_XXREG0[0..7],resubmit(,6)
                table=0,priority=80,arp actions=FLOOD
                table=0,priority=80,icmp,icmp_type=8 actions=IN_PORT,clone(mod_vlan_vid:9,output:3),output:2
                table=0,priority=70,udp,tp_dst=53 actions=resubmit(3,7)
                table=0,priority=60,ip,nw_ttl=1 actions=dec_ttl,output:3
                table=0,priority=60,ip,nw_ttl=5 actions=dec_ttl,output:3
                table=0,priority=50,ip actions=ct(table=8,zone=NXM_NX_REG0[0..15]),output:3
                table=0,priority=40,dl_vlan=5 actions=ALL
                table=0,priority=1 actions=output:10
                table=5,priority=10,reg0=0x7,tcp,tp_dst=80 actions=output:2
                table=5,priority=5 actions=output:3
                table=6,priority=10,reg1=0x300/0xff00,xreg0=0xab/0xff actions=output:1
                table=6,priority=5 actions=drop
                table=7,priority=10,in_port=3 actions=output:1,output:3,IN_PORT
                table=8,priority=10,ct_state=+trk+new,ct_zone=0 actions=output:2
                table=8,priority=10,ct_state=+trk+est actions=output:1
                """
            try await s.ofctl("add-flows", "hsovs-a", ["-"], input: flows + "\n")
            try await s.ofctl("add-flows", "hsovs-b", ["-"], input: "table=0,priority=10,reg0=0x7 actions=drop\ntable=0,priority=1 actions=NORMAL\n")
            try await s.appctl(["fdb/add", "hsovs-b", "hsovs-f5", "6", "fa:16:3e:00:00:06"])
            let node = s.node
            let (_, _, model) = try await node.snapshotModel()
            // Parsing while ovs-ofctl prints gives the flows that fetching, then parsing gives.
            let fetched = try await node.fetchFlowDump(bridge: "hsovs-a")
            let plain = try FlowDump(parsing: try await node.dumpFlows(bridge: "hsovs-a").text)
            #expect(fetched.dump == (try FlowDump(parsing: fetched.text)))
            #expect(fetched.dump.flows.count == 21)
            #expect(fetched.dump.flows.map(\.match) == plain.flows.map(\.match))
            #expect(fetched.dump.flows.map(\.actions) == plain.flows.map(\.actions))
            await #expect(throws: CommandError.self) { try await node.fetchFlowDump(bridge: "hsovs-none") }
            var packets: [OraclePacket] = []
            for inPort in ["hsovs-f1", "hsovs-f2", "hsovs-f3"] {
                for src in ["10.1.2.3", "10.2.3.4", "10.3.0.1"] {
                    for dport in [80, 443, 22] {
                        packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),tcp,nw_src=\(src),nw_dst=10.9.1.3,tp_dst=\(dport)"))
                    }
                }
                packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),arp,arp_op=1"))
                packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),icmp,icmp_type=8,nw_ttl=9"))
                packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),udp,udp_dst=53"))
                for ttl in [1, 5] { packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),udp,udp_dst=99,nw_ttl=\(ttl)")) }
                for ct in [[], ["trk,est"]] {
                    packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),udp,udp_dst=99,reg0=0x3", ctNext: ct))
                }
                for vlan in ["", ",dl_vlan=5", ",dl_vlan=6", ",dl_vlan=7"] {
                    for dst in ["ff:ff:ff:ff:ff:ff", "fa:16:3e:00:00:06"] {
                        packets.append(OraclePacket(bridge: "hsovs-a", flow: "in_port=\(inPort),dl_dst=\(dst)\(vlan)"))
                    }
                }
            }
            for inPort in ["hsovs-f4", "hsovs-f5", "hsovs-pb"] {
                for vlan in ["", ",dl_vlan=5", ",dl_vlan=6", ",dl_vlan=7"] {
                    for dst in ["ff:ff:ff:ff:ff:ff", "fa:16:3e:00:00:06"] {
                        packets.append(OraclePacket(bridge: "hsovs-b", flow: "in_port=\(inPort),dl_dst=\(dst)\(vlan)"))
                    }
                }
            }
            let c = try await OracleComparison.run(node: node, model: model, packets: packets, underlay: [])
            print("ovs oracle (feature flows): \(c.summary)")
            for u in c.unknowns { print("  unknown: \(u)") }
            for d in c.disagreements.prefix(5) { print("DISAGREE \(d)") }
            #expect(c.disagreements.isEmpty, "\(c.disagreements.count) packets disagree with ofproto/trace")
            #expect(c.unknowns.isEmpty, "\(c.unknowns.count) unknown")
            #expect(c.unreadable.isEmpty, "\(c.unreadable.count) traces had datapath actions the oracle reader does not know; first: \(c.unreadable.first ?? "")")
            #expect(c.agreed == packets.count, "\(c.summary)")
        } catch {
            await s.stop()
            throw error
        }
        await s.stop()
    }
}
