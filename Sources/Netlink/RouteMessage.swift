import HopscopeModel

// RTM_NEWROUTE payload:
//
//   struct rtmsg {  0: family  1: dst_len  2: src_len  3: tos  4: table  5: protocol
//                   6: scope   7: type     8-11: flags (RTNH_F_*, RTM_F_*) }
//   then RTA_* attributes. RTA_TABLE (u32) supersedes the 8-bit table. RTA_MULTIPATH is a run of
//   struct rtnexthop { 0-1: len  2: flags  3: hops  4-7: ifindex } each followed by RTA_* attributes.

/// Decodes RTM_NEWROUTE messages into `Route` values.
public enum RouteMessage {
    /// Decodes one RTM_NEWROUTE payload; returns nil for families other than IPv4 and IPv6
    /// (multicast routing, MPLS), which an AF_UNSPEC dump also returns.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> Route? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.rtmsg, context: "rtmsg")
        let family = header.uint8(0)
        let isIPv4 = family == AddressFamily.inet.rawValue
        guard isIPv4 || family == AddressFamily.inet6.rawValue else { return nil }
        let any: IPAddress = isIPv4 ? .v4(.any) : .v6(IPv6Address(high: 0, low: 0))
        var route = Route(
            destination: IPPrefix(address: any, length: Int(header.uint8(1))),
            table: UInt32(header.uint8(4)),
            type: RouteType(rawValue: header.uint8(7)),
            routeProtocol: RouteProtocol(rawValue: header.uint8(5)),
            scope: RouteScope(rawValue: header.uint8(6)))
        route.tos = header.uint8(3)
        route.flags = flagNames(header.uint32(8))
        let sourceLength = Int(header.uint8(2))
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.rtmsg), context: "route attributes")
        while a.next() {
            switch RouteAttribute(rawValue: a.type) {
            case .destination?:
                if let ip = a.ipAddress() { route.destination = IPPrefix(address: ip, length: route.destination.length) }
            case .source?:
                if let ip = a.ipAddress() { route.sourcePrefix = IPPrefix(address: ip, length: sourceLength) }
            case .outputInterface?: route.outputInterfaceIndex = Int(a.uint32())
            case .gateway?: route.gateway = a.ipAddress()
            case .via?: route.gateway = via(&a)
            case .priority?: route.metric = a.uint32()
            case .preferredSource?: route.preferredSource = a.ipAddress()
            case .table?: route.table = a.uint32()
            case .metrics?:
                var m = a.nested("RTA_METRICS")
                while m.next() {
                    if RouteMetricAttribute(rawValue: m.type) == .mtu { route.mtu = m.uint32() }
                }
                a.absorb(m)
            case .multipath?:
                route.nexthops = nexthops(&a)
            default: break
            }
        }
        try a.finish()
        guard route.destination.address.isIPv4 == isIPv4 else {
            throw NetlinkDecodeError(problem: .malformed, context: "route attributes", offset: 0,
                                     detail: "destination \(route.destination) does not match family \(family)")
        }
        return route
    }

    static func flagNames(_ flags: UInt32) -> [String] {
        RouteFlag.allCases.filter { flags & $0.rawValue != 0 }.map(\.name)
    }

    /// `struct rtvia { u16 family; u8 addr[] }`: a gateway of another family (IPv4 via IPv6).
    static func via(_ a: inout AttributeDecoder) -> IPAddress? {
        let p = a.payload
        guard p.count >= 2, let ip = IPAddress(bytes: p[2...]) else {
            a.fail(.malformed, "RTA_VIA needs a 2-byte family and a 4- or 16-byte address, found \(p.count) byte(s)")
            return nil
        }
        return ip
    }

    static func nexthops(_ a: inout AttributeDecoder) -> [Nexthop] {
        let p = a.payload
        var result: [Nexthop] = []
        var offset = 0
        while offset < p.count {
            guard p.count - offset >= FamilyHeaderSize.rtnexthop else {
                a.fail(.truncated, "RTA_MULTIPATH: \(p.count - offset) byte(s) left, too few for an 8-byte rtnexthop")
                return result
            }
            let length = Int(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            guard length >= FamilyHeaderSize.rtnexthop, length <= p.count - offset else {
                a.fail(length < FamilyHeaderSize.rtnexthop ? .malformed : .truncated,
                       "RTA_MULTIPATH: rtnexthop length \(length) with \(p.count - offset) byte(s) left")
                return result
            }
            var hop = Nexthop(interfaceIndex: Int(p.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self)),
                              weight: Int(p[offset + 3]) + 1,
                              flags: flagNames(UInt32(p[offset + 2])))
            let attributes = UnsafeRawBufferPointer(rebasing: p[(offset + FamilyHeaderSize.rtnexthop)..<(offset + length)])
            var n = AttributeDecoder(attributes, context: "rtnexthop attributes")
            while n.next() {
                switch RouteAttribute(rawValue: n.type) {
                case .gateway?: hop.gateway = n.ipAddress()
                case .via?: hop.gateway = via(&n)
                default: break
                }
            }
            a.absorb(n)
            result.append(hop)
            offset += (length + 3) & ~3
        }
        return result
    }
}
