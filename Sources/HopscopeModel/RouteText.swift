extension Route {
    /// The route as `ip route show table all` prints it (without the table), e.g.
    /// `default via 203.0.113.1 dev qg-1b6460d0-ff proto boot`.
    public var text: String {
        var parts: [String] = []
        if type != .unicast { parts.append(type.description) }
        parts.append(isDefault ? "default" : destination.description)
        if let g = gateway { parts.append("via \(g)") }
        if let d = outputInterface ?? outputInterfaceIndex.map({ "if\($0)" }) { parts.append("dev \(d)") }
        for h in nexthops {
            parts.append("nexthop" + (h.gateway.map { " via \($0)" } ?? "") + (h.interface.map { " dev \($0)" } ?? "") + " weight \(h.weight)")
        }
        parts.append("proto \(routeProtocol)")
        if scope != .global { parts.append("scope \(scope)") }
        if let s = preferredSource { parts.append("src \(s)") }
        if let m = metric { parts.append("metric \(m)") }
        if let m = mtu { parts.append("mtu \(m)") }
        parts += flags
        return parts.joined(separator: " ")
    }
}

extension RoutingRule {
    /// The rule as `ip rule` prints it, e.g. `32766: from all lookup main`.
    public var text: String {
        var parts = ["\(priority):"]
        if inverted { parts.append("not") }
        parts.append("from \(from?.description ?? "all")")
        if let t = to { parts.append("to \(t)") }
        if tos != 0 { parts.append("tos 0x" + String(tos, radix: 16)) }
        if let m = fwmark { parts.append("fwmark 0x" + String(m, radix: 16) + (fwmask.map { $0 == 0xFFFF_FFFF ? "" : "/0x" + String($0, radix: 16) } ?? "")) }
        if let i = inputInterface { parts.append("iif \(i)") }
        if let o = outputInterface { parts.append("oif \(o)") }
        if let p = ipProtocol { parts.append("ipproto \(p)") }
        if let r = sourcePorts { parts.append("sport \(r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)")") }
        if let r = destinationPorts { parts.append("dport \(r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)")") }
        if let u = uidRange { parts.append("uidrange \(u.lowerBound)-\(u.upperBound)") }
        if l3mdev { parts.append("l3mdev") }
        switch action {
        case .lookup: parts.append("lookup \(table.map(RoutingTable.name) ?? "?")")
        case .goto: parts.append("goto \(gotoPriority.map(String.init) ?? "?")")
        default: parts.append(action.rawValue)
        }
        if let s = suppressPrefixLength, s >= 0 { parts.append("suppress_prefixlength \(s)") }
        return parts.joined(separator: " ")
    }
}

extension Neighbor {
    /// The entry as `ip neigh` prints it, e.g. `10.0.0.1 dev eth0 lladdr fa:16:3e:.. REACHABLE`.
    public var text: String {
        "\(address) dev \(interface ?? "if\(interfaceIndex)")" + (mac.map { " lladdr \($0)" } ?? "")
            + (isRouter ? " router" : "") + " " + state.names.joined(separator: ",")
    }
}

extension FDBEntry {
    /// The entry as `bridge fdb` prints it, e.g. `fa:16:3e:.. dev tap1 master qbr1`.
    public var text: String {
        var rest = ["\(mac) dev \(interface ?? "if\(interfaceIndex)")"]
        if let v = vlan { rest.append("vlan \(v)") }
        if let m = master { rest.append("master \(m)") }
        if let d = tunnelRemoteIP { rest.append("dst \(d)") }
        if let v = vni { rest.append("vni \(v)") }
        rest += flags
        if !stateName.isEmpty { rest.append(stateName) }
        return rest.joined(separator: " ")
    }
}
