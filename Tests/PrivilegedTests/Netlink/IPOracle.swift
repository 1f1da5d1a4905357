import Foundation
import HopscopeModel
import Namespaces
import Netlink
import Testing

/// `ip -j` and `bridge -j` output turned into comparable keys, and the same keys built from
/// Hopscope's inventory: the field-by-field oracle for the netlink decoders.
enum IPOracle {
    static func json(_ argv: [String], in ns: String) async throws -> [[String: Any]] {
        let out = try await HostCommand.run(argv, in: .named(ns)).standardOutput
        let value = try JSONSerialization.jsonObject(with: Data(out.utf8))
        return value as? [[String: Any]] ?? []
    }

    static func string(_ v: Any?) -> String? {
        switch v {
        case let s as String: s
        case let n as NSNumber: n.stringValue
        default: nil
        }
    }

    /// `default`, `10.0.0.0/24` or a bare host address, as a prefix.
    static func prefix(_ text: String, family: String) -> String {
        if text == "default" { return family == "inet" ? "0.0.0.0/0" : "::/0" }
        return (IPPrefix(text) ?? IPPrefix(address: .v4(.any), length: 0)).description
    }

    // MARK: links

    /// One key per interface: the fields both `ip -d -j link` and the inventory state.
    static func linkKeys(ip: [[String: Any]]) -> Set<String> {
        Set(ip.map { l in
            let info = l["linkinfo"] as? [String: Any]
            let data = info?["info_data"] as? [String: Any]
            var flags = Set((l["flags"] as? [String]) ?? [])
            // Derived by ip, not kernel flags: NO-CARRIER (up without carrier), M-DOWN (lower device down).
            flags.remove("NO-CARRIER")
            flags.remove("M-DOWN")
            var parts = [
                "index=\(string(l["ifindex"]) ?? "?")", "name=\(string(l["ifname"]) ?? "?")", "mtu=\(string(l["mtu"]) ?? "?")",
                "state=\(string(l["operstate"]) ?? "?")", "mac=\(string(l["address"]) ?? "-")",
                "master=\(string(l["master"]) ?? "-")", "kind=\(string(info?["info_kind"]) ?? "-")",
                "portkind=\(string(info?["info_slave_kind"]) ?? "-")", "promisc=\(string(l["promiscuity"]) ?? "0")",
                "flags=\(flags.sorted().joined(separator: ","))",
            ]
            // `link` names a same-namespace peer/parent; `link_index` + `link_netnsid` one elsewhere.
            if let lower = string(l["link"]) ?? string(l["link_index"]) {
                parts.append("lower=\(lower)@\(string(l["link_netnsid"]) ?? "here")")
            } else {
                parts.append("lower=-")
            }
            if info?["info_kind"] as? String == "vxlan", let d = data {
                parts.append("vxlan=\(string(d["id"]) ?? "-") \(string(d["remote"]) ?? string(d["group"]) ?? "-") \(string(d["local"]) ?? "-") \(string(d["port"]) ?? "-") \(string(d["link"]) ?? "-")")
            }
            if let slave = info?["info_slave_data"] as? [String: Any], info?["info_slave_kind"] as? String == "bridge" {
                parts.append("port=\(string(slave["state"]) ?? "-") learning=\(string(slave["learning"]) ?? "-") flood=\(string(slave["flood"]) ?? "-")")
            }
            return parts.joined(separator: " ")
        })
    }

    static func linkKeys(_ inv: NamespaceInventory) -> Set<String> {
        let names = Dictionary(inv.links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        return Set(inv.links.map { l in
            var flags = Set(l.flags.names)
            flags.remove("RUNNING")
            var parts = [
                "index=\(l.index)", "name=\(l.name)", "mtu=\(l.mtu)", "state=\(l.operState.rawValue)", "mac=\(l.mac?.description ?? "-")",
                "master=\(l.master?.name ?? "-")", "kind=\(l.kind?.rawValue ?? "-")", "portkind=\(l.portKind ?? "-")",
                "promisc=\(l.promiscuity)", "flags=\(flags.sorted().joined(separator: ","))",
            ]
            let lower: String = {
                guard let i = l.lowerIndex else { return "-" }
                if let nsid = l.lowerNamespaceID { return "\(i)@\(nsid)" }
                return "\(names[i] ?? String(i))@here"
            }()
            parts.append("lower=\(lower)")
            if l.kind == .vxlan, let t = l.tunnel {
                let under = t.underlyingDevice ?? "-"
                parts.append("vxlan=\(t.vni.map(String.init) ?? "-") \((t.tunnelRemoteIP ?? t.multicastGroup)?.description ?? "-") \(t.tunnelLocalIP?.description ?? "-") \(t.destinationPort.map(String.init) ?? "-") \(under)")
            }
            if let p = l.bridgePort, l.portKind == "bridge" {
                // JSONSerialization reads ip's true/false as 1/0.
                parts.append("port=\(p.stpState?.rawValue ?? "-") learning=\(p.learning.map { $0 ? "1" : "0" } ?? "-") flood=\(p.unicastFlood.map { $0 ? "1" : "0" } ?? "-")")
            }
            return parts.joined(separator: " ")
        })
    }

    // MARK: addresses

    static func addressKeys(ip: [[String: Any]]) -> Set<String> {
        var keys = Set<String>()
        for l in ip {
            for a in (l["addr_info"] as? [[String: Any]]) ?? [] {
                keys.insert("\(string(l["ifname"]) ?? "?") \(string(a["local"]) ?? "?")/\(string(a["prefixlen"]) ?? "?") scope \(string(a["scope"]) ?? "?")"
                    + " peer \(string(a["address"]) ?? "-") brd \(string(a["broadcast"]) ?? "-")")
            }
        }
        return keys
    }

    static func addressKeys(_ inv: NamespaceInventory) -> Set<String> {
        Set(inv.addresses.map { a in
            "\(a.interface ?? "?") \(a.prefix.address)/\(a.prefix.length) scope \(a.scope) peer \(a.peer?.description ?? "-") brd \(a.broadcast?.description ?? "-")"
        })
    }

    // MARK: routes

    static func routeKeys(ip: [[String: Any]], family: String) -> Set<String> {
        Set(ip.map { r in
            let dst = prefix(string(r["dst"]) ?? "default", family: family)
            return ["table=\(string(r["table"]) ?? "main")", "type=\(string(r["type"]) ?? "unicast")", "dst=\(dst)",
                    "via=\(string(r["gateway"]) ?? "-")", "dev=\(string(r["dev"]) ?? "-")", "proto=\(string(r["protocol"]) ?? "boot")",
                    "scope=\(string(r["scope"]) ?? "global")", "src=\(string(r["prefsrc"]) ?? "-")", "metric=\(string(r["metric"]) ?? "-")"]
                .joined(separator: " ")
        })
    }

    static func routeKeys(_ inv: NamespaceInventory, family: String) -> Set<String> {
        Set(inv.routes.filter { $0.isIPv4 == (family == "inet") }.map { r in
            ["table=\(RoutingTable.name(r.table))", "type=\(r.type)", "dst=\(r.destination)", "via=\(r.gateway?.description ?? "-")",
             "dev=\(r.outputInterface ?? "-")", "proto=\(r.routeProtocol)", "scope=\(r.scope)", "src=\(r.preferredSource?.description ?? "-")",
             "metric=\(r.metric.map(String.init) ?? "-")"].joined(separator: " ")
        })
    }

    // MARK: neighbours, rules, fdb

    /// Multicast entries are left out on both sides: the kernel adds them (MLD, IGMP) while the
    /// two reads run, so they race; unicast entries are what the oracle checks.
    static func neighborKeys(ip: [[String: Any]]) -> Set<String> {
        Set(ip.filter { !((IPAddress(string($0["dst"]) ?? "")?.isMulticast) ?? false) }.map { n in
            "\(string(n["dst"]) ?? "?") dev \(string(n["dev"]) ?? "?") lladdr \(string(n["lladdr"]) ?? "-") \(((n["state"] as? [String]) ?? []).joined(separator: ","))"
                + ((n["router"] != nil) ? " router" : "")
        })
    }

    static func neighborKeys(_ inv: NamespaceInventory) -> Set<String> {
        Set(inv.neighbors.filter { !$0.isProxy && !$0.address.isMulticast }.map { n in
            "\(n.address) dev \(n.interface ?? "?") lladdr \(n.mac?.description ?? "-") \(n.state.names.joined(separator: ","))" + (n.isRouter ? " router" : "")
        })
    }

    static func ruleKeys(ip: [[String: Any]]) -> Set<String> {
        Set(ip.map { r in
            let src = string(r["src"]).map { s in s == "all" ? s : "\(s)/\(string(r["srclen"]) ?? (s.contains(":") ? "128" : "32"))" } ?? "all"
            return "\(string(r["priority"]) ?? "?") from \(src) fwmark \(string(r["fwmark"]) ?? "-") action \(string(r["action"]) ?? "lookup") table \(string(r["table"]) ?? "-")"
        })
    }

    static func ruleKeys(_ inv: NamespaceInventory, family: String) -> Set<String> {
        Set(inv.rules.filter { $0.family == family }.map { r in
            let action = r.action == .lookup ? "lookup" : r.action.rawValue
            let table = r.action == .lookup ? r.table.map(RoutingTable.name) ?? "-" : "-"
            return "\(r.priority) from \(r.from?.description ?? "all") fwmark \(r.fwmark.map { "0x" + String($0, radix: 16) } ?? "-") action \(action) table \(table)"
        })
    }

    static func fdbKeys(bridge: [[String: Any]]) -> Set<String> {
        Set(bridge.map { e in
            "\(string(e["mac"]) ?? "?") dev \(string(e["ifname"]) ?? "?") master \(string(e["master"]) ?? "-") dst \(string(e["dst"]) ?? "-") vlan \(string(e["vlan"]) ?? "-") \(string(e["state"]) ?? "")"
        })
    }

    static func fdbKeys(_ inv: NamespaceInventory) -> Set<String> {
        Set(inv.fdb.map { e in
            "\(e.mac) dev \(e.interface ?? "?") master \(e.master ?? "-") dst \(e.tunnelRemoteIP?.description ?? "-") vlan \(e.vlan.map(String.init) ?? "-") \(e.stateName)"
        })
    }

    /// Compares every oracle against the inventory of namespace `ns`; each difference is one issue.
    static func compareEverything(_ inv: NamespaceInventory, ns: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        func check(_ what: String, ours: Set<String>, theirs: Set<String>) {
            #expect(ours.subtracting(theirs).sorted() == [], "\(what) in \(ns): only Hopscope has these", sourceLocation: sourceLocation)
            #expect(theirs.subtracting(ours).sorted() == [], "\(what) in \(ns): only ip has these", sourceLocation: sourceLocation)
        }
        check("links", ours: linkKeys(inv), theirs: linkKeys(ip: try await json(["ip", "-d", "-j", "link", "show"], in: ns)))
        check("addresses", ours: addressKeys(inv), theirs: addressKeys(ip: try await json(["ip", "-j", "addr", "show"], in: ns)))
        for family in ["inet", "inet6"] {
            let flag = family == "inet" ? "-4" : "-6"
            check("\(family) routes", ours: routeKeys(inv, family: family),
                  theirs: routeKeys(ip: try await json(["ip", flag, "-j", "route", "show", "table", "all"], in: ns), family: family))
            check("\(family) rules", ours: ruleKeys(inv, family: family), theirs: ruleKeys(ip: try await json(["ip", flag, "-j", "rule", "show"], in: ns)))
        }
        check("neighbours", ours: neighborKeys(inv), theirs: neighborKeys(ip: try await json(["ip", "-j", "neigh", "show", "nud", "all"], in: ns)))
        check("fdb", ours: fdbKeys(inv), theirs: fdbKeys(bridge: try await json(["bridge", "-j", "fdb", "show"], in: ns)))
    }
}
