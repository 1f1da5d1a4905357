import HopscopeModel
import Testing
import Topology

/// The FIB lookup on hand-made namespaces: policy rules, longest prefix, metrics, route types.
@Suite struct RouteLookupTests {
    func route(_ dst: String, table: UInt32 = RoutingTable.main, type: RouteType = .unicast, via: String? = nil, dev: String? = "eth0",
               metric: UInt32? = nil) -> Route {
        var r = Route(destination: IPPrefix(dst)!, table: table, type: type)
        r.gateway = via.flatMap { IPAddress($0) }
        r.outputInterface = type == .unicast ? dev : nil
        r.metric = metric
        return r
    }

    func namespace(routes: [Route], rules: [RoutingRule] = []) -> NamespaceInventory {
        var inv = NamespaceInventory(namespace: NetworkNamespace(label: "t", inode: 1))
        inv.routes = routes
        inv.rules = rules
        var a = InterfaceAddress(interfaceIndex: 2, prefix: IPPrefix("10.0.0.5/24")!)
        a.interface = "eth0"
        inv.addresses = [a]
        return inv
    }

    @Test func longestPrefixThenLowestMetric() {
        let inv = namespace(routes: [route("0.0.0.0/0", via: "10.0.0.1"), route("192.0.2.0/24", via: "10.0.0.2", metric: 200),
                                     route("192.0.2.0/24", via: "10.0.0.3", metric: 100), route("192.0.2.128/25", dev: "eth1")])
        #expect(RouteLookup.lookup(inv, destination: IPAddress("198.51.100.1")!).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.1")))
        #expect(RouteLookup.lookup(inv, destination: IPAddress("192.0.2.1")!).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.3")))
        #expect(RouteLookup.lookup(inv, destination: IPAddress("192.0.2.200")!).outcome == .unicast(interface: "eth1", gateway: nil))
    }

    @Test func localTableWinsAndRejectingTypesStop() {
        let inv = namespace(routes: [route("10.0.0.5/32", table: RoutingTable.local, type: .local), route("0.0.0.0/0", via: "10.0.0.1"),
                                     route("203.0.113.0/24", type: .blackhole), route("198.18.0.0/15", type: .unreachable)])
        #expect(RouteLookup.lookup(inv, destination: IPAddress("10.0.0.5")!).outcome == .local)
        #expect(RouteLookup.lookup(inv, destination: IPAddress("203.0.113.9")!).outcome == .rejected(type: "blackhole"))
        #expect(RouteLookup.lookup(inv, destination: IPAddress("198.18.0.9")!).outcome == .rejected(type: "unreachable"))
        let none = RouteLookup.lookup(namespace(routes: []), destination: IPAddress("192.0.2.1")!)
        #expect(none.outcome == .noRoute)
    }

    @Test func policyRulesPickTablesBySourceAndMark() {
        var fromRule = RoutingRule(family: "inet", priority: 100, action: .lookup, table: 100)
        fromRule.from = IPPrefix("10.0.0.0/24")
        var markRule = RoutingRule(family: "inet", priority: 90, action: .lookup, table: 200)
        markRule.fwmark = 0x2
        markRule.fwmask = 0xffff
        let rules = [RoutingRule(family: "inet", priority: 0, action: .lookup, table: RoutingTable.local), markRule, fromRule,
                     RoutingRule(family: "inet", priority: 32766, action: .lookup, table: RoutingTable.main)]
        let inv = namespace(routes: [route("0.0.0.0/0", via: "10.0.0.1"), route("0.0.0.0/0", table: 100, via: "10.0.0.100"),
                                     route("0.0.0.0/0", table: 200, via: "10.0.0.200")], rules: rules)
        let dst = IPAddress("192.0.2.1")!
        #expect(RouteLookup.lookup(inv, destination: dst, source: IPAddress("10.0.0.9")).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.100")))
        #expect(RouteLookup.lookup(inv, destination: dst, source: IPAddress("172.16.0.9")).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.1")))
        #expect(RouteLookup.lookup(inv, destination: dst, source: IPAddress("172.16.0.9"), mark: 0x10002).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.200")))
        let d = RouteLookup.lookup(inv, destination: dst, source: IPAddress("10.0.0.9"))
        #expect(d.evidence.map(\.text).contains("100: from 10.0.0.0/24 lookup 100"))
    }

    @Test func throwSuppressAndBlackholeRules() {
        var suppress = RoutingRule(family: "inet", priority: 10, action: .lookup, table: RoutingTable.main)
        suppress.suppressPrefixLength = 0
        var blackhole = RoutingRule(family: "inet", priority: 20, action: .blackhole)
        blackhole.to = IPPrefix("203.0.113.0/24")
        let rules = [suppress, blackhole, RoutingRule(family: "inet", priority: 30, action: .lookup, table: 50),
                     RoutingRule(family: "inet", priority: 32766, action: .lookup, table: RoutingTable.main)]
        let inv = namespace(routes: [route("0.0.0.0/0", via: "10.0.0.1"), route("192.0.2.0/24", table: 50, type: .throw),
                                     route("0.0.0.0/0", table: 50, via: "10.0.0.50")], rules: rules)
        // The default route is suppressed by rule 10; table 50 throws 192.0.2.0/24 back to main.
        #expect(RouteLookup.lookup(inv, destination: IPAddress("192.0.2.1")!).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.1")))
        #expect(RouteLookup.lookup(inv, destination: IPAddress("198.51.100.1")!).outcome == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.50")))
        #expect(RouteLookup.lookup(inv, destination: IPAddress("203.0.113.1")!).outcome == .rejected(type: "blackhole"))
    }

    @Test func multipathAndUidRulesAreUnknownNotGuessed() {
        var mp = route("0.0.0.0/0", dev: nil)
        mp.nexthops = [Nexthop(gateway: IPAddress("10.0.0.1"), interfaceIndex: 2), Nexthop(gateway: IPAddress("10.0.0.2"), interfaceIndex: 2)]
        mp.nexthops[0].interface = "eth0"
        mp.nexthops[1].interface = "eth0"
        let inv = namespace(routes: [mp])
        guard case .unknown(let why) = RouteLookup.lookup(inv, destination: IPAddress("192.0.2.1")!).outcome else {
            Issue.record("a multipath route must be unknown")
            return
        }
        #expect(why.contains("multipath"))
        var uid = RoutingRule(family: "inet", priority: 5, action: .lookup, table: 7)
        uid.uidRange = 1000...1000
        let withUID = namespace(routes: [route("0.0.0.0/0", via: "10.0.0.1")], rules: [uid] + [RoutingRule(family: "inet", priority: 32766, action: .lookup, table: RoutingTable.main)])
        guard case .unknown = RouteLookup.lookup(withUID, destination: IPAddress("192.0.2.1")!).outcome else {
            Issue.record("a uid-range rule on a local packet must be unknown")
            return
        }
        // A forwarded packet has no uid: the rule does not apply.
        #expect(RouteLookup.lookup(withUID, destination: IPAddress("192.0.2.1")!, source: IPAddress("10.0.0.9"), inInterface: "eth0").outcome
                == .unicast(interface: "eth0", gateway: IPAddress("10.0.0.1")))
    }

    @Test func sourceAddressComesFromTheOutputInterface() {
        let inv = namespace(routes: [route("0.0.0.0/0", via: "10.0.0.1")])
        let d = RouteLookup.lookup(inv, destination: IPAddress("192.0.2.1")!)
        #expect(RouteLookup.sourceAddress(inv, decision: d, destination: IPAddress("192.0.2.1")!) == IPAddress("10.0.0.5"))
    }
}
