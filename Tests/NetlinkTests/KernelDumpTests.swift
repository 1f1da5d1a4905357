import Foundation
import HopscopeModel
import Netlink
import Testing

/// Dump replies recorded from a 6.x kernel by scripts/record-netlink-fixtures.sh (nlmsghdr
/// included, several messages back to back), decoded and compared with `ip -j` of the same
/// namespace recorded at the same moment.
@Suite struct KernelDumpTests {
    /// Decodes every message of a recorded dump with `decode`, checking framing up to NLMSG_DONE.
    static func messages<T>(_ name: String, _ decode: (NetlinkMessage) throws -> T?) throws -> [T] {
        let bytes = try Fixture.bytes(Fixture.recorded.appendingPathComponent("\(name).bin"))
        return try bytes.withUnsafeBytes { raw in
            var it = NetlinkMessageIterator(raw)
            var out: [T] = []
            var sawDone = false
            while let m = it.next() {
                if m.type == MessageType.done.rawValue { sawDone = true; continue }
                #expect(m.flags.contains(.multipart))
                if let v = try decode(m) { out.append(v) }
            }
            #expect(it.error == nil)
            #expect(sawDone)
            return out
        }
    }

    static func ip(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: Fixture.recorded.appendingPathComponent("\(name).ip.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    @Test func linksMatchIP() throws {
        let links = try Self.messages("kernel-links") { try LinkMessage.decode($0.payload) }
        let ip = try Self.ip("kernel-links")
        #expect(links.count == ip.count)
        let names = Dictionary(uniqueKeysWithValues: links.map { ($0.index, $0.name) })
        for entry in ip {
            let name = try #require(entry["ifname"] as? String)
            let l = try #require(links.first { $0.name == name }, "\(name) missing")
            #expect(l.index == entry["ifindex"] as? Int)
            #expect(l.mtu == entry["mtu"] as? Int)
            #expect(l.operState.rawValue == entry["operstate"] as? String)
            #expect(l.mac?.description == entry["address"] as? String)
            #expect(l.masterIndex.flatMap { names[$0] } == entry["master"] as? String)
            let info = entry["linkinfo"] as? [String: Any]
            #expect(l.kind?.rawValue == info?["info_kind"] as? String)
            #expect(l.portKind == info?["info_slave_kind"] as? String)
            if let data = info?["info_data"] as? [String: Any], l.kind == .vxlan {
                #expect(l.tunnel?.vni == (data["id"] as? Int).map(UInt32.init))
                #expect(l.tunnel?.tunnelRemoteIP?.description == data["remote"] as? String)
                #expect(l.tunnel?.tunnelLocalIP?.description == data["local"] as? String)
                #expect(l.tunnel?.destinationPort == (data["port"] as? Int).map(UInt16.init))
                #expect(l.tunnel?.underlyingDeviceIndex.flatMap { names[$0] } == data["link"] as? String)
            }
            if let port = info?["info_slave_data"] as? [String: Any] {
                #expect(l.bridgePort?.stpState?.rawValue == port["state"] as? String)
                #expect(l.bridgePort?.learning == port["learning"] as? Bool)
            }
        }
        // The veth whose peer is in another namespace carries IFLA_LINK_NETNSID.
        #expect(links.first { $0.name == "tap1" }?.lowerNamespaceID != nil)
        #expect(links.first { $0.name == "qvb1" }?.lowerNamespaceID == nil)
    }

    @Test func addressesMatchIP() throws {
        let addrs = try Self.messages("kernel-addresses") { try AddressMessage.decode($0.payload) }
        var expected = Set<String>()
        for l in try Self.ip("kernel-addresses") {
            for a in (l["addr_info"] as? [[String: Any]]) ?? [] {
                expected.insert("\(l["ifindex"] as? Int ?? -1) \(a["local"] as? String ?? "?")/\(a["prefixlen"] as? Int ?? -1) \(a["scope"] as? String ?? "?")")
            }
        }
        #expect(Set(addrs.map { "\($0.interfaceIndex) \($0.prefix.address)/\($0.prefix.length) \($0.scope)" }) == expected)
    }

    @Test func ipv4RoutesMatchIP() throws {
        let routes = try Self.messages("kernel-routes") { try RouteMessage.decode($0.payload) }.filter(\.isIPv4)
        var expected = Set<String>()
        for r in try Self.ip("kernel-routes-v4") {
            let dst = (r["dst"] as? String).map { $0 == "default" ? "0.0.0.0/0" : (IPPrefix($0)?.description ?? $0) } ?? "?"
            expected.insert("\(r["table"] as? String ?? "main") \(r["type"] as? String ?? "unicast") \(dst) \(r["gateway"] as? String ?? "-")")
        }
        #expect(Set(routes.map { "\(RoutingTable.name($0.table)) \($0.type) \($0.destination) \($0.gateway?.description ?? "-")" }) == expected)
        #expect(routes.contains { $0.table == 100 && $0.gateway == IPAddress("192.0.2.254") })
    }
}
