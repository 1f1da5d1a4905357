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
        // Attributes go to locals and the Route is built once at the end: assigning into the
        // large struct attribute by attribute made the optimizer copy it several times per route.
        var destination: IPAddress = isIPv4 ? .v4(.any) : .v6(IPv6Address(high: 0, low: 0))
        var source: IPAddress?, gateway: IPAddress?, preferredSource: IPAddress?
        var outputInterface: Int?, metric: UInt32?, mtu: UInt32?
        var table = UInt32(header.uint8(4))
        var nexthopList: [Nexthop] = []
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.rtmsg), context: "route attributes")
        while a.next() {
            switch RouteAttribute(rawValue: a.type) {
            case .destination?: if let ip = a.ipAddress() { destination = ip }
            case .source?: source = a.ipAddress()
            case .outputInterface?: outputInterface = Int(a.uint32())
            case .gateway?: gateway = a.ipAddress()
            case .via?: gateway = via(&a)
            case .priority?: metric = a.uint32()
            case .preferredSource?: preferredSource = a.ipAddress()
            case .table?: table = a.uint32()
            case .metrics?:
                var m = a.nested("RTA_METRICS")
                while m.next() {
                    if RouteMetricAttribute(rawValue: m.type) == .mtu { mtu = m.uint32() }
                }
                a.absorb(m)
            case .multipath?:
                nexthopList = nexthops(&a)
            default: break
            }
        }
        try a.finish()
        let prefix = IPPrefix(address: destination, length: Int(header.uint8(1)))
        guard destination.isIPv4 == isIPv4 else {
            throw NetlinkDecodeError(problem: .malformed, context: "route attributes", offset: 0,
                                     detail: "destination \(prefix) does not match family \(family)")
        }
        var route = Route(destination: prefix, table: table, type: RouteType(rawValue: header.uint8(7)),
                          routeProtocol: RouteProtocol(rawValue: header.uint8(5)), scope: RouteScope(rawValue: header.uint8(6)))
        route.tos = header.uint8(3)
        route.flags = flagNames(header.uint32(8))
        route.sourcePrefix = source.map { IPPrefix(address: $0, length: Int(header.uint8(2))) }
        route.gateway = gateway
        route.outputInterfaceIndex = outputInterface
        route.preferredSource = preferredSource
        route.metric = metric
        route.mtu = mtu
        route.nexthops = nexthopList
        return route
    }

    static let flagTable = FlagNameTable(RouteFlag.allCases.map { ($0.rawValue, $0.name) })

    static func flagNames(_ flags: UInt32) -> [String] { flagTable.names(of: flags) }

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
