import Foundation
import HopscopeModel
import Testing
@testable import OpenVSwitch

@Suite struct OVSDBAtomTests {
    @Test func atomsSetsMapsAndUUIDsRoundTrip() throws {
        let cases: [(String, OVSDBDatum)] = [
            ("5", .integer(5)),
            ("2.5", .set([.real(2.5)])),
            ("true", .boolean(true)),
            ("\"br-int\"", .string("br-int")),
            ("[\"uuid\",\"116afe1c-3476-42d4-b5e6-ae699137b62f\"]", .uuid("116afe1c-3476-42d4-b5e6-ae699137b62f")),
            ("[\"named-uuid\",\"row1\"]", .namedUUID("row1")),
            ("[\"set\",[]]", .empty),
            ("[\"set\",[1,2,3]]", .set([.integer(1), .integer(2), .integer(3)])),
            ("[\"map\",[[\"peer\",\"patch-tun\"],[\"remote_ip\",\"10.0.0.114\"]]]",
             .map([(.string("peer"), .string("patch-tun")), (.string("remote_ip"), .string("10.0.0.114"))])),
        ]
        for (text, expected) in cases {
            let parsed = try OVSDBDatum(json: try JSONReader.parse(text))
            #expect(parsed == expected, "\(text)")
            #expect(parsed.json.description == text, "\(text) re-encodes as \(parsed.json)")
        }
        #expect(OVSDBDatum.stringMap(["b": "2", "a": "1"]).stringMap == ["a": "1", "b": "2"])
        #expect(throws: OVSDBError.self) { try OVSDBDatum(json: try JSONReader.parse("[\"uuid\"]")) }
        #expect(throws: OVSDBError.self) { try OVSDBDatum(json: try JSONReader.parse("{\"a\":1}")) }
    }

    @Test func jsonStringsEscapeAndUnescape() throws {
        let v = JSONValue.string("a\"b\\c\nd\u{1}")
        #expect(try JSONReader.parse(v.description) == v)
        #expect(throws: JSONParseError.self) { try JSONReader.parse("{\"a\":") }
        #expect(JSONReader.completeValueEnd(in: Array("{\"a\":\"}\"}{\"b\"".utf8), from: 0) == 9)
    }

    /// The real node's database (ovsdb-client list dump) read into model rows agrees with its
    /// `ovs-ofctl show` port numbers and `ovs-vsctl show` tags, patch peers and tunnels.
    @Test func realDatabaseDumpReadsIntoModelRows() throws {
        let tables = try OVSDBListFormat.parse(try Fixtures.text("ovsdb/hotsos/ovsdb-client_-f_list_dump"))
        let db = OVSDatabase(tables: tables)
        #expect(db.bridges.map(\.name) == ["br-data", "br-ex", "br-int", "br-tun"])
        #expect(db.system?.ovsVersion == "2.13.3")
        let brInt = try #require(db.bridge(named: "br-int"))
        #expect(brInt.failMode == "secure")
        #expect(brInt.protocols.contains("OpenFlow13"))
        #expect(db.ports.first { $0.name == "tap0e778df8-ca" }?.tag == 3)
        #expect(db.ports.first { $0.name == "ha-550dc175-c0" }?.tag == 1)
        #expect(db.interface(named: "patch-tun")?.options["peer"] == "patch-int")
        #expect(db.interface(named: "vxlan-0a000072")?.options["remote_ip"] == "10.0.0.114")
        #expect(db.interface(named: "vxlan-0a000072")?.isTunnel == true)
        #expect(db.bridge(holdingPort: "vxlan-0a000085")?.name == "br-tun")
        #expect(db.interface(named: "tap0e778df8-ca")?.statistics["rx_packets"] != nil)
        #expect(!db.controllers.isEmpty)
        for bridge in ["br-data", "br-ex", "br-int", "br-tun"] {
            let ports = try OfctlOutput.parseShow(try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_show_\(bridge)"))
            for p in ports {
                #expect(db.interface(named: p.name)?.ofport == p.number, "\(bridge) \(p.name)")
            }
        }
    }
}

@Suite struct OVSDBClientTests {
    static func rowsJSON(_ rows: [OVSDBRow]) -> JSONValue {
        .array(rows.map { row in .object(row.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) }) })
    }

    /// A server holding the real node's database, answering list_dbs, get_schema, transact/select
    /// (after first sending the client an echo request it must answer) and echo.
    @Test func readsTheDatabaseAndAnswersEcho() throws {
        let tables = try OVSDBListFormat.parse(try Fixtures.text("ovsdb/hotsos/ovsdb-client_-f_list_dump"))
        let schema = try JSONReader.parse(try Fixtures.text("ovsdb/ovs-schema/vswitch.ovsschema"))
        let server = try ScriptedOVSDBServer { request in
            switch request["method"]?.stringValue {
            case "list_dbs": return [ScriptedOVSDBServer.reply(request, .array([.string("Open_vSwitch"), .string("_Server")]))]
            case "get_schema": return [ScriptedOVSDBServer.reply(request, schema)]
            case "echo": return [ScriptedOVSDBServer.reply(request, request["params"] ?? .null)]
            case "transact":
                let ops = request["params"]?.arrayValue?.dropFirst() ?? []
                let results = ops.map { op -> JSONValue in
                    .object([("rows", OVSDBClientTests.rowsJSON(tables[op["table"]?.stringValue ?? ""] ?? []))])
                }
                let echo = JSONValue.object([("method", .string("echo")), ("params", .array([.string("ping")])), ("id", .string("echo"))])
                // The echo and a notification arrive split across writes, before the reply.
                let whole = echo.description + "{\"method\":\"update\",\"params\":[null,{}],\"id\":null}"
                return [String(whole.prefix(10)), String(whole.dropFirst(10)), ScriptedOVSDBServer.reply(request, .array(Array(results)))]
            default:
                return ["{\"id\":\(request["id"]!),\"result\":null,\"error\":\"unknown method\"}"]
            }
        }
        defer { server.stop() }
        let client = try OVSDBClient(target: "unix:\(server.path)", timeout: .seconds(5))
        #expect(try client.listDatabases() == ["Open_vSwitch", "_Server"])
        #expect(try client.schema("Open_vSwitch")["name"]?.stringValue == "Open_vSwitch")
        try client.echo()
        let db = try client.readDatabase()
        #expect(db.bridges.count == 4)
        #expect(db.ports.first { $0.name == "qr-3a70b31c-3f" }?.tag == 3)
        #expect(server.echoReplies.count == 1)
        #expect(server.echoReplies.first?["id"]?.stringValue == "echo")
        #expect(server.echoReplies.first?["result"] == .array([.string("ping")]))
        let transact = try #require(server.requests.first { $0["method"]?.stringValue == "transact" })
        #expect(transact["params"]?.arrayValue?.first == .string("Open_vSwitch"))
        #expect(transact["params"]?.arrayValue?.count == 7)
        #expect(throws: OVSDBError.rpc(operation: "bogus", error: "unknown method", details: nil)) {
            try client.call("bogus", params: .array([]))
        }
    }

    @Test func operationErrorsNameTheOperation() throws {
        let server = try ScriptedOVSDBServer { request in
            [ScriptedOVSDBServer.reply(request, .array([
                .object([("uuid", .array([.string("uuid"), .string("aaaaaaaa-0000-0000-0000-000000000001")]))]),
                .object([("error", .string("constraint violation")), ("details", .string("no row named br-nope"))]),
            ]))]
        }
        defer { server.stop() }
        let client = try OVSDBClient(target: server.path)
        #expect(throws: OVSDBError.operation(operation: "add port hsc-p1 to br-nope", index: 1, error: "constraint violation", details: "no row named br-nope")) {
            try client.addPort(bridge: "br-nope", name: "hsc-p1")
        }
        let ops = try #require(server.requests.first?["params"]?.arrayValue)
        #expect(ops.count == 7)
        #expect(ops[3]["op"]?.stringValue == "insert")
        #expect(ops[3]["table"]?.stringValue == "Interface")
        #expect(ops[5]["mutations"]?.description == "[[\"ports\",\"insert\",[\"named-uuid\",\"port\"]]]")
    }

    @Test func mirrorWritesAreOneTransaction() throws {
        let portUUID = "11111111-2222-3333-4444-555555555555"
        let server = try ScriptedOVSDBServer { request in
            let ops = request["params"]?.arrayValue?.dropFirst() ?? []
            if ops.first?["op"]?.stringValue == "select" {
                let found = JSONValue.object([("rows", .array([.object([("_uuid", .array([.string("uuid"), .string(portUUID)]))])]))])
                return [ScriptedOVSDBServer.reply(request, .array(ops.map { _ in found }))]
            }
            return [ScriptedOVSDBServer.reply(request, .array(ops.map { op -> JSONValue in
                op["op"]?.stringValue == "insert" ? .object([("uuid", .array([.string("uuid"), .string("99999999-0000-0000-0000-000000000000")]))])
                    : .object([("count", .integer(1))])
            }))]
        }
        defer { server.stop() }
        let client = try OVSDBClient(target: server.path)
        let uuid = try client.addMirror(bridge: "br-int", name: "hsc-m1", outputPort: "hsc-out", sourcePorts: ["tap1"],
                                        externalIDs: ["hopscope": "capture"])
        #expect(uuid == "99999999-0000-0000-0000-000000000000")
        let write = try #require(server.requests.last?["params"]?.arrayValue)
        let insert = try #require(write.first { $0["op"]?.stringValue == "insert" })
        #expect(insert["table"]?.stringValue == "Mirror")
        #expect(insert["row"]?["output_port"] == .array([.string("uuid"), .string(portUUID)]))
        #expect(insert["row"]?["select_src_port"] == .array([.string("uuid"), .string(portUUID)]))
        try client.removeMirror(name: "hsc-m1")
        #expect(server.requests.last?["params"]?.arrayValue?[1]["op"]?.stringValue == "mutate")
    }

    @Test func timeoutNamesOperationAndSocket() throws {
        let server = try ScriptedOVSDBServer { _ in [] }
        defer { server.stop() }
        let client = try OVSDBClient(target: server.path, timeout: .milliseconds(300))
        let start = ContinuousClock.now
        #expect(throws: OVSDBError.timeout(operation: "list_dbs", socket: "unix:\(server.path)", seconds: 0.3)) {
            try client.listDatabases()
        }
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test func malformedRepliesAndMissingSockets() throws {
        let server = try ScriptedOVSDBServer { request in ["{\"id\":\(request["id"]!),\"result\":[1,2],\"error\":null}"] }
        defer { server.stop() }
        let client = try OVSDBClient(target: server.path)
        #expect(throws: OVSDBError.self) { _ = try client.listDatabases() }
        do {
            _ = try OVSDBClient(target: "unix:/tmp/hsovs-no-such-socket.sock")
            Issue.record("connecting to a missing socket must fail")
        } catch let e as OVSDBError {
            guard case .connection(let op, let socket, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(op == "connect")
            #expect(socket == "unix:/tmp/hsovs-no-such-socket.sock")
            #expect(e.description.contains("--ovsdb"))
        }
    }
}
