import Foundation
import HopscopeModel
import Namespaces
import OpenVSwitch
import Testing

/// The OVSDB write API the capture helper uses (ports and mirrors), against a real ovsdb-server
/// and ovs-vswitchd in a private namespace; and discovery finding that instance.
@Suite(.serialized) struct OVSDBWriteTests {
    @Test func mirrorAndPortLifecycleOnARealServer() async throws {
        try requireRoot()
        let s = try await OVSSandbox.start(name: "hsovs-w\(getpid() % 10000)")
        do {
            try await s.inNamespace(["ip", "link", "add", "hsovs-wsrc", "type", "veth", "peer", "name", "hsovs-wsrcp"])
            try await s.inNamespace(["ip", "link", "add", "hsovs-wout", "type", "veth", "peer", "name", "hsovs-woutp"])
            try await s.vsctl(["add-br", "hsovs-wbr", "--", "set", "bridge", "hsovs-wbr", "datapath_type=netdev",
                               "--", "add-port", "hsovs-wbr", "hsovs-wsrc", "tag=7"])

            // Discovery sees the sandbox as a node named after its namespace.
            let found = try #require(OVSDiscovery.discover().first { $0.namespace == s.name })
            #expect(found.node == s.name)
            #expect(found.databaseSocket == "unix:\(s.runDirectory)/db.sock")
            #expect(found.runDirectory == s.runDirectory)
            #expect(found.controlSocket == "\(s.runDirectory)/ovs-vswitchd.\(s.vswitchdPID!).ctl")

            let client = try s.node.client()
            try client.echo()
            #expect(try client.listDatabases().contains("Open_vSwitch"))
            try client.addPort(bridge: "hsovs-wbr", name: "hsovs-wout", externalIDs: ["hopscope": "capture"])
            try client.addMirror(bridge: "hsovs-wbr", name: "hsovs-m1", outputPort: "hsovs-wout", sourcePorts: ["hsovs-wsrc"],
                                 destinationPorts: ["hsovs-wsrc"], externalIDs: ["hopscope": "capture"])
            var db = try client.readDatabase()
            let bridge = try #require(db.bridge(named: "hsovs-wbr"))
            let mirror = try #require(db.mirrors.first { $0.name == "hsovs-m1" })
            let out = try #require(db.ports.first { $0.name == "hsovs-wout" })
            let src = try #require(db.ports.first { $0.name == "hsovs-wsrc" })
            #expect(bridge.mirrors == [mirror.uuid])
            #expect(mirror.outputPort == out.uuid)
            #expect(mirror.selectSourcePorts == [src.uuid])
            #expect(mirror.selectDestinationPorts == [src.uuid])
            #expect(out.externalIDs["hopscope"] == "capture")
            #expect(src.tag == 7)

            // Adding the same names again fails and changes nothing.
            #expect(throws: OVSDBError.self) { try client.addPort(bridge: "hsovs-wbr", name: "hsovs-wout") }
            #expect(throws: OVSDBError.self) { try client.addMirror(bridge: "hsovs-wbr", name: "hsovs-m1", outputPort: "hsovs-wout") }
            #expect(throws: OVSDBError.self) { try client.addPort(bridge: "hsovs-nope", name: "hsovs-x") }

            // The evaluator keeps NORMAL away from a mirror's output port, as OVS does.
            let openFlow = try await s.node.collectOpenFlow(db)
            let model = try OpenFlowModel(database: db, openFlow: openFlow)
            let flood = try model.trace(bridge: "hsovs-wbr", packet: PacketKey(parsing: "in_port=hsovs-wsrc,dl_dst=ff:ff:ff:ff:ff:ff"))
            #expect(!flood.outputs.contains { $0.port == "hsovs-wout" })

            try client.removeMirror(name: "hsovs-m1")
            try client.removePort(bridge: "hsovs-wbr", name: "hsovs-wout")
            db = try client.readDatabase()
            #expect(db.mirrors.isEmpty)
            #expect(!db.ports.contains { $0.name == "hsovs-wout" })
            #expect(db.bridge(named: "hsovs-wbr")?.mirrors.isEmpty == true)
            #expect(throws: OVSDBError.self) { try client.removeMirror(name: "hsovs-m1") }
            #expect(throws: OVSDBError.self) { try client.removePort(bridge: "hsovs-wbr", name: "hsovs-wout") }
        } catch {
            await s.stop()
            throw error
        }
        await s.stop()
    }
}
