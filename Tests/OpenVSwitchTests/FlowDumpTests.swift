import Foundation
import HopscopeModel
import Testing
@testable import OpenVSwitch

/// Fixture files under ../shared/data, resolved from the package root.
enum Fixtures {
    static let root: URL = {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" {
            dir.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
        }
        return dir.appendingPathComponent("../shared/data").standardized
    }()
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
    static func text(_ relative: String) throws -> String { try String(contentsOf: url(relative), encoding: .utf8) }
    static func files(under relative: String) throws -> [String] {
        let dir = url(relative)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().flatMap { name -> [String] in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path, isDirectory: &isDir)
            return isDir.boolValue ? try files(under: "\(relative)/\(name)") : ["\(relative)/\(name)"]
        }
    }
}

@Suite struct FlowDumpTests {
    static let dumpFiles: [String] = ((try? Fixtures.files(under: "ovs-flows")) ?? []).filter { !$0.hasSuffix("MANIFEST.md") }

    @Test func fixturesArePresent() {
        #expect(Self.dumpFiles.count >= 25, "expected the shared ovs-flows fixtures at \(Fixtures.root.path)")
    }

    /// Every line of every real dump is kept: flows rebuild their raw line from their parts,
    /// other lines are kept verbatim, and together they give back the whole file.
    @Test(arguments: dumpFiles)
    func everyDumpParsesWithoutLoss(file: String) throws {
        let text = try Fixtures.text(file)
        let dump = try FlowDump(parsing: text)
        var lines: [Int: String] = [:]
        for f in dump.flows {
            #expect(f.reconstructedText == f.raw, "\(file):\(f.line) does not round-trip")
            lines[f.line] = f.reconstructedText
        }
        for o in dump.otherLines { lines[o.line] = o.text }
        let rebuilt = lines.keys.sorted().map { lines[$0]! }.joined(separator: "\n") + (text.hasSuffix("\n") ? "\n" : "")
        #expect(rebuilt == text)
        let flowLines = text.split(separator: "\n").filter { FlowDump.looksLikeFlow($0) }.count
        #expect(dump.flows.count == flowLines)
    }

    /// The typed values survive a trip through OVS's canonical text: formatting each modelled
    /// match item and parsing it again yields the same value and mask.
    @Test(arguments: dumpFiles)
    func typedMatchesReparse(file: String) throws {
        let dump = try FlowDump(parsing: try Fixtures.text(file))
        for f in dump.flows {
            for item in f.match {
                guard case .field(let field) = item.kind, item.portName == nil else { continue }
                let canonical = FlowFormatter.matchText(field: field, value: item.value, mask: item.mask)
                let again = try OpenFlowRule(parsing: "\(canonical) actions=drop")
                let reparsed = try #require(again.match.first)
                #expect(reparsed.kind == item.kind, "\(file):\(f.line) \(item.text) -> \(canonical)")
                #expect(FlowFormatter.normalized(reparsed.value, reparsed.mask, field) == FlowFormatter.normalized(item.value, item.mask, field),
                        "\(file):\(f.line) \(item.text) -> \(canonical)")
            }
        }
    }

    @Test func neutronFlowsAreTyped() throws {
        let dump = try FlowDump(parsing: try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_dump-flows_br-int"))
        #expect(dump.flows.count == 114 || dump.flows.count > 100)
        let first = try #require(dump.flows.first)
        #expect(first.cookie == 0x565d7680690eea02)
        #expect(first.table == 0)
        #expect(first.priority == 65535)
        #expect(first.packets == 0)
        #expect(first.actions.map(\.kind) == [.drop])
        #expect(first.match.count == 2)
        if case .field(let f) = first.match[1].kind { #expect(f.name == "vlan_tci") } else { Issue.record("vlan_tci not typed") }
        #expect(first.match[1].value == Bits128(low: 0x0fff))
        #expect(first.match[1].mask == Bits128(low: 0x1fff))
        // Every flow of this real Neutron dump is modelled: no opaque items or actions.
        for f in dump.flows { #expect(f.isFullyModelled, "line \(f.line): \(f.raw)") }

        let ct = try #require(dump.flows.first { $0.raw.contains("exec(load:0x1->NXM_NX_CT_MARK[])") })
        guard case .conntrack(let action) = try #require(ct.actions.first).kind else { Issue.record("ct not typed"); return }
        #expect(action.commit)
        #expect(action.zone == .field(FieldReference(field: FlowField(named: "reg6")!, start: 0, end: 15)))
        #expect(action.execute.first?.kind == .load(value: Bits128(low: 1), destination: FieldReference(field: FlowField.ctMark)))

        let conj = try #require(dump.flows.first { $0.raw.hasSuffix("actions=conjunction(16,1/2)") })
        #expect(conj.actions.first?.kind == .conjunction(id: 16, clause: 1, clauses: 2))
    }

    @Test func learnAndTunnelActionsAreTyped() throws {
        let dump = try FlowDump(parsing: try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_dump-flows_br-tun"))
        for f in dump.flows { #expect(f.isFullyModelled, "line \(f.line): \(f.raw)") }
        let learnFlow = try #require(dump.flows.first { $0.table == 10 })
        guard case .learn(let learn) = learnFlow.actions[0].kind else { Issue.record("learn not typed"); return }
        #expect(learn.table == 20)
        #expect(learn.hardTimeout == 300)
        #expect(learn.priority == 1)
        #expect(learn.specs.count == 5)
        #expect(learn.specs.first == .matchSame(FieldReference(field: FlowField.vlanTCI, start: 0, end: 11)))
        #expect(learnFlow.actions[1].kind == .output(.number(1)))
        let arpResponder = try #require(dump.flows.first { $0.table == 21 && $0.raw.contains("arp_tpa=192.168.21.2") })
        #expect(arpResponder.actions.last?.kind == .output(.reserved(.inPort)))
    }

    @Test func bridgeDumpFlowsFormat() throws {
        let dump = try FlowDump(parsing: try Fixtures.text("ovs-flows/hotsos/ovs-appctl_bridge.dump-flows_--offload-stats_br-int"))
        let f = try #require(dump.flows.first { $0.raw.hasPrefix("table_id=60") })
        #expect(f.table == 60)
        #expect(f.actionsSeparator == ",")
        #expect(f.actions.first?.kind == .setField(field: FlowField(named: "reg5")!, value: Bits128(low: 3), mask: nil))
    }

    @Test func unmodelledThingsStayOpaque() throws {
        let dump = try FlowDump(parsing: try Fixtures.text("ovs-flows/skydive/ovs_rule_parser_test.go.openflow-inputs.txt"))
        let mpls = try #require(dump.flows.first { $0.raw.contains("pop_mpls") })
        #expect(mpls.actions.first.map { if case .opaque = $0.kind { true } else { false } } == true)
        #expect(!mpls.isFullyModelled)
        let anon = try #require(dump.flows.first { $0.raw.contains("icmp1,") })
        #expect(anon.match.contains { $0.kind == .unknown && $0.text == "icmp1" })
    }

    @Test func failedDumpKeepsItsErrorLines() throws {
        let dump = try FlowDump(parsing: try Fixtures.text("ovs-flows/hotsos/openstack-hypervisor.ovs-ofctl_dump-flows_br-ex"))
        #expect(dump.flows.isEmpty)
        #expect(dump.problems.count == 2)
    }

    @Test func parseErrorsNameLineAndColumn() throws {
        let text = "NXST_FLOW reply (xid=0x4):\n cookie=0x0, duration=1.0s, table=0, n_packets=0, n_bytes=0, priority=1,dl_src=zz:16:3e:00:00:01 actions=drop\n"
        #expect(throws: FlowParseError(line: 2, column: 73, message: "dl_src=zz:16:3e:00:00:01: expected a MAC address like fa:16:3e:00:00:01")) {
            try FlowDump(parsing: text)
        }
        #expect(throws: FlowParseError.self) { try OpenFlowRule(parsing: "priority=1,in_port=1 actions=resubmit(,3") }
        #expect(throws: FlowParseError.self) { try OpenFlowRule(parsing: "priority=1,in_port=1") }
        #expect(throws: FlowParseError.self) { try OpenFlowRule(parsing: "priority=70000 actions=drop") }
    }

    @Test func ofctlShowAndFDB() throws {
        let ports = try OfctlOutput.parseShow(try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_show_br-int"))
        #expect(ports.map(\.number) == [1, 2, 3, 4, 5, 6, 7, 9, 65534])
        #expect(ports.first?.name == "int-br-data")
        #expect(ports.first { $0.name == "qr-3a70b31c-3f" }?.config == ["PORT_DOWN"])
        #expect(ports.first { $0.name == "qr-3a70b31c-3f" }?.state == ["LINK_DOWN"])
        #expect(ports.last?.name == "br-int")
        #expect(ports.first?.mac == MACAddress("16:a6:3d:03:c9:80"))
        for bridge in ["br-data", "br-ex", "br-tun"] {
            let p = try OfctlOutput.parseShow(try Fixtures.text("ovs-flows/hotsos/ovs-ofctl_show_\(bridge)"))
            #expect(p.contains { $0.number == 65534 && $0.name == bridge })
        }
        let fdb = try OfctlOutput.parseFDB(try Fixtures.text("ovsdb/hotsos/ovs-appctl_fdb.show_br-int"))
        #expect(fdb.count == 12)
        #expect(fdb.first == OVSFDBEntry(port: 1, vlan: 2, mac: MACAddress("52:54:00:2d:fb:46")!, age: 286))
        #expect(throws: OfctlOutput.ParseError.self) {
            try OfctlOutput.parseFDB(try Fixtures.text("ovsdb/insights-core/test_ovs_appctl_fdb_show_bridge__FDB_SHOW_BR_INT.txt"))
        }
    }
}
