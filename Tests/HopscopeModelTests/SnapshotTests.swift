import Foundation
import HopscopeModel
import Testing

/// The snapshot's JSON form: round trip, schema version checks, errors that name the problem.
@Suite struct SnapshotTests {
    func sample() -> Snapshot {
        var ns = NamespaceInventory(namespace: NetworkNamespace(label: "qrouter-1", inode: 4026532000, names: ["qrouter-1"]))
        var l = Link(index: 2, name: "qr-1")
        l.mtu = 1450
        l.flags = [.up, .lowerUp]
        ns.links = [l]
        var a = InterfaceAddress(interfaceIndex: 2, prefix: IPPrefix("10.0.0.1/24")!)
        a.interface = "qr-1"
        ns.addresses = [a]
        ns.sysctls.bridgeNFCallIptables = true
        return Snapshot(hostname: "net-1", collectedAt: Date(timeIntervalSince1970: 1_700_000_000), collector: "hopscope test",
                        collectorNamespace: "host", network: NetworkInventory(namespaces: [ns]),
                        firewalls: [NamespaceFirewall(namespace: "qrouter-1", iptablesSave: "*filter\nCOMMIT\n")],
                        dnsmasq: [DnsmasqSnapshot(pid: 9, namespace: "qrouter-1", arguments: ["dnsmasq", "--interface=qr-1"])],
                        warnings: ["ipset: not installed"])
    }

    @Test func roundTripKeepsEverything() throws {
        let s = sample()
        let back = try Snapshot.decode(s.jsonData())
        #expect(back == s)
        #expect(back.schemaVersion == Snapshot.currentSchemaVersion)
        let text = String(decoding: try s.jsonData(pretty: true), as: UTF8.self)
        #expect(text.contains("\"collectedAt\" : \"2023-11-14T22:13:20Z\""), "time is ISO 8601")
    }

    @Test func firewallDumpsJoinTheRulesWithTheInventory() throws {
        let d = try #require(sample().firewallDumps(namespace: "qrouter-1"))
        #expect(d.iptablesSave == "*filter\nCOMMIT\n")
        #expect(d.interfaceAddresses == ["qr-1": [IPPrefix("10.0.0.1/24")!]])
        #expect(d.bridgeCallsIptables == true)
        #expect(sample().firewallDumps(namespace: "nowhere") == nil)
    }

    @Test func versionsAndGarbageAreRefusedWithTheReason() throws {
        var json = try JSONSerialization.jsonObject(with: sample().jsonData()) as! [String: Any]
        json["schemaVersion"] = 99
        let future = try JSONSerialization.data(withJSONObject: json)
        #expect(throws: SnapshotFormatError.unsupportedVersion(99, supported: Snapshot.currentSchemaVersion)) { try Snapshot.decode(future) }
        #expect(throws: SnapshotFormatError.notASnapshot) { try Snapshot.decode(Data("{\"hello\": 1}".utf8)) }
        do {
            _ = try Snapshot.decode(Data("not json".utf8))
            Issue.record("text that is not JSON must be refused")
        } catch let e as SnapshotFormatError {
            #expect("\(e)".contains("hopscope snapshot -o FILE"))
        }
        json["schemaVersion"] = Snapshot.currentSchemaVersion
        json.removeValue(forKey: "hostname")
        do {
            _ = try Snapshot.decode(try JSONSerialization.data(withJSONObject: json))
            Issue.record("a snapshot without hostname must be refused")
        } catch let e as SnapshotFormatError {
            #expect("\(e)".contains("missing field .hostname"), "\(e)")
        }
    }

    @Test func routeAndRuleTextIsWhatIPPrints() {
        var r = Route(destination: IPPrefix("0.0.0.0/0")!, routeProtocol: .boot)
        r.gateway = IPAddress("203.0.113.1")
        r.outputInterface = "qg-1"
        #expect(r.text == "default via 203.0.113.1 dev qg-1 proto boot")
        var rule = RoutingRule(family: "inet", priority: 32766, action: .lookup, table: RoutingTable.main)
        #expect(rule.text == "32766: from all lookup main")
        rule.fwmark = 0x4000000
        rule.fwmask = 0xffff0000
        #expect(rule.text == "32766: from all fwmark 0x4000000/0xffff0000 lookup main")
    }
}
