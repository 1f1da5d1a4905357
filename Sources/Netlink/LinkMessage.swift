import HopscopeModel

// RTM_NEWLINK payload (rtnetlink(7)):
//
//   struct ifinfomsg {            0: family   1: pad   2-3: type (ARPHRD_*)
//                                 4-7: index  8-11: flags (IFF_*)  12-15: change }
//   then IFLA_* attributes; IFLA_LINKINFO nests IFLA_INFO_KIND / _DATA / _SLAVE_KIND / _SLAVE_DATA.

/// Decodes RTM_NEWLINK messages into `Link` values.
public enum LinkMessage {
    /// Decodes one RTM_NEWLINK payload (starting at the ifinfomsg). Throws `NetlinkDecodeError`
    /// naming the attribute when the bytes are truncated or malformed.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> Link {
        try decodeWithSettings(payload).link
    }

    /// The interface's own net.ipv4.conf.IFACE values, from `IFLA_AF_SPEC`/`AF_INET`/`IFLA_INET_CONF`.
    public struct IPv4Settings: Sendable, Equatable {
        public var forwarding: Bool?
        public var proxyARP: Bool?
        public var rpFilter: Int?

        public init(forwarding: Bool? = nil, proxyARP: Bool? = nil, rpFilter: Int? = nil) {
            self.forwarding = forwarding
            self.proxyARP = proxyARP
            self.rpFilter = rpFilter
        }
    }

    /// Decodes one RTM_NEWLINK payload and the IPv4 per-interface settings it carries (the same
    /// values /proc/sys/net/ipv4/conf/IFACE shows, without reading a file per interface).
    public static func decodeWithSettings(_ payload: UnsafeRawBufferPointer) throws -> (link: Link, ipv4: IPv4Settings?) {
        var ipv4: IPv4Settings?
        let header = try FixedHeader(payload, size: FamilyHeaderSize.ifinfomsg, context: "ifinfomsg")
        var link = Link(index: Int(header.int32(4)), name: "")
        let hardware = header.uint16(2)
        link.hardwareType = HardwareTypeCode(rawValue: hardware)?.name ?? "[\(hardware)]"
        link.flags = InterfaceFlags(rawValue: header.uint32(8))

        var infoData: UnsafeRawBufferPointer?
        var portData: UnsafeRawBufferPointer?
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.ifinfomsg), context: "link attributes")
        while a.next() {
            switch LinkAttribute(rawValue: a.type) {
            case .address?: link.mac = a.macAddress()
            case .ifname?: link.name = a.string()
            case .mtu?: link.mtu = Int(a.uint32())
            case .link?: link.lowerIndex = Int(a.int32())
            case .master?: link.masterIndex = Int(a.uint32())
            case .txQueueLength?: link.txQueueLength = Int(a.uint32())
            case .operState?: link.operState = operState(a.uint8())
            case .ifAlias?: link.alias = a.string()
            case .promiscuity?: link.promiscuity = Int(a.uint32())
            case .carrier?: link.carrier = a.bool()
            case .linkNetnsID?: link.lowerNamespaceID = a.int32()
            case .stats64?: link.statistics = statistics(&a)
            case .afSpec?:
                var families = a.nested("IFLA_AF_SPEC")
                while families.next() {
                    guard families.type == UInt16(AddressFamily.inet.rawValue) else { continue }
                    var inet = families.nested("IFLA_AF_SPEC/AF_INET")
                    while inet.next() {
                        if InetAttribute(rawValue: inet.type) == .conf { ipv4 = ipv4Settings(inet.payload) }
                    }
                    families.absorb(inet)
                }
                a.absorb(families)
            case .linkInfo?:
                var info = a.nested("IFLA_LINKINFO")
                while info.next() {
                    switch LinkInfoAttribute(rawValue: info.type) {
                    case .kind?: link.kind = LinkKind(rawValue: info.string())
                    case .data?: infoData = info.payload
                    case .slaveKind?: link.portKind = info.string()
                    case .slaveData?: portData = info.payload
                    default: break
                    }
                }
                a.absorb(info)
            default: break
            }
        }
        try a.finish()
        if let data = infoData, let kind = link.kind { try decodeKindData(kind, data, into: &link) }
        if let data = portData, link.portKind == "bridge" { link.bridgePort = try bridgePort(data, context: "IFLA_INFO_SLAVE_DATA (bridge)") }
        return (link, ipv4)
    }

    static func ipv4Settings(_ conf: UnsafeRawBufferPointer) -> IPv4Settings {
        func value(_ entry: IPv4DeviceConf) -> UInt32? {
            let offset = (entry.rawValue - 1) * 4
            guard offset + 4 <= conf.count else { return nil }
            return conf.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        }
        return IPv4Settings(forwarding: value(.forwarding).map { $0 != 0 },
                            proxyARP: value(.proxyARP).map { $0 != 0 },
                            rpFilter: value(.rpFilter).map { Int($0) })
    }

    static func operState(_ code: UInt8) -> OperState {
        switch OperationalStateCode(rawValue: code) {
        case .notPresent?: .notPresent
        case .down?: .down
        case .lowerLayerDown?: .lowerLayerDown
        case .testing?: .testing
        case .dormant?: .dormant
        case .up?: .up
        case .unknown?, nil: .unknown
        }
    }

    /// `struct rtnl_link_stats64`: 23 u64 counters, plus rx_nohandler (4.6+) and
    /// rx_otherhost_dropped (5.19+).
    static func statistics(_ a: inout AttributeDecoder) -> LinkStatistics? {
        let p = a.payload
        guard p.count >= FamilyHeaderSize.linkStats64Minimum else {
            a.fail(.malformed, "IFLA_STATS64 needs at least \(FamilyHeaderSize.linkStats64Minimum) bytes, found \(p.count)")
            return nil
        }
        func u(_ i: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
        var s = LinkStatistics()
        s.rxPackets = u(0); s.txPackets = u(1); s.rxBytes = u(2); s.txBytes = u(3)
        s.rxErrors = u(4); s.txErrors = u(5); s.rxDropped = u(6); s.txDropped = u(7)
        s.multicast = u(8); s.collisions = u(9)
        s.rxLengthErrors = u(10); s.rxOverErrors = u(11); s.rxCRCErrors = u(12); s.rxFrameErrors = u(13)
        s.rxFIFOErrors = u(14); s.rxMissedErrors = u(15)
        s.txAbortedErrors = u(16); s.txCarrierErrors = u(17); s.txFIFOErrors = u(18)
        s.txHeartbeatErrors = u(19); s.txWindowErrors = u(20)
        s.rxCompressed = u(21); s.txCompressed = u(22)
        if p.count >= 24 * 8 { s.rxNoHandler = u(23) }
        if p.count >= 25 * 8 { s.rxOtherHostDropped = u(24) }
        return s
    }

    static func decodeKindData(_ kind: LinkKind, _ data: UnsafeRawBufferPointer, into link: inout Link) throws {
        switch kind {
        case .vxlan: link.tunnel = try vxlan(data)
        case .geneve: link.tunnel = try geneve(data)
        case .gre, .gretap, .ip6gre, .ip6gretap, "erspan", "ip6erspan": link.tunnel = try gre(data)
        case .ipip, .sit, "ip6tnl": link.tunnel = try ipTunnel(data)
        case .bridge: link.bridge = try bridge(data)
        case .vlan: link.vlan = try vlan(data)
        case .macvlan, .macvtap: link.macvlan = try macvlan(data)
        case .bond: link.bond = try bond(data)
        case .tun: link.tunTap = try tun(data)
        default: break
        }
    }

    static func vxlan(_ data: UnsafeRawBufferPointer) throws -> TunnelInfo {
        var t = TunnelInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (vxlan)")
        while a.next() {
            switch VXLANAttribute(rawValue: a.type) {
            case .id?: t.vni = a.uint32()
            case .group?, .group6?:
                if let ip = a.ipAddress() {
                    if ip.isMulticast { t.multicastGroup = ip } else { t.tunnelRemoteIP = ip }
                }
            case .local?, .local6?: t.tunnelLocalIP = a.ipAddress()
            case .link?: t.underlyingDeviceIndex = a.interfaceIndex()
            case .port?: t.destinationPort = a.uint16BigEndian()
            case .ttl?: t.ttl = a.uint8()
            case .learning?: t.learning = a.bool()
            case .collectMetadata?: t.externalControl = a.bool()
            default: break
            }
        }
        try a.finish()
        return t
    }

    static func geneve(_ data: UnsafeRawBufferPointer) throws -> TunnelInfo {
        var t = TunnelInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (geneve)")
        while a.next() {
            switch GeneveAttribute(rawValue: a.type) {
            case .id?: t.vni = a.uint32()
            case .remote?, .remote6?: t.tunnelRemoteIP = a.ipAddress()
            case .ttl?: t.ttl = a.uint8()
            case .port?: t.destinationPort = a.uint16BigEndian()
            // A flag attribute: present means set.
            case .collectMetadata?: t.externalControl = true
            default: break
            }
        }
        try a.finish()
        return t
    }

    /// GRE_KEY in the big-endian i_flags/o_flags words: the key attribute is in use.
    static let greKeyFlag: UInt16 = 0x2000

    static func gre(_ data: UnsafeRawBufferPointer) throws -> TunnelInfo {
        var t = TunnelInfo()
        var inputFlags: UInt16 = 0, outputFlags: UInt16 = 0
        var inputKey: UInt32?, outputKey: UInt32?
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (gre)")
        while a.next() {
            switch GREAttribute(rawValue: a.type) {
            case .link?: t.underlyingDeviceIndex = a.interfaceIndex()
            case .inputFlags?: inputFlags = a.uint16BigEndian()
            case .outputFlags?: outputFlags = a.uint16BigEndian()
            case .inputKey?: inputKey = a.uint32BigEndian()
            case .outputKey?: outputKey = a.uint32BigEndian()
            case .local?: t.tunnelLocalIP = nonZero(a.ipAddress())
            case .remote?: t.tunnelRemoteIP = nonZero(a.ipAddress())
            case .ttl?: t.ttl = a.uint8()
            case .collectMetadata?: t.externalControl = true
            default: break
            }
        }
        try a.finish()
        if inputFlags & greKeyFlag != 0 { t.inputKey = inputKey }
        if outputFlags & greKeyFlag != 0 { t.outputKey = outputKey }
        return t
    }

    static func ipTunnel(_ data: UnsafeRawBufferPointer) throws -> TunnelInfo {
        var t = TunnelInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (ip tunnel)")
        while a.next() {
            switch IPTunnelAttribute(rawValue: a.type) {
            case .link?: t.underlyingDeviceIndex = a.interfaceIndex()
            case .local?: t.tunnelLocalIP = nonZero(a.ipAddress())
            case .remote?: t.tunnelRemoteIP = nonZero(a.ipAddress())
            case .ttl?: t.ttl = a.uint8()
            case .collectMetadata?: t.externalControl = true
            default: break
            }
        }
        try a.finish()
        return t
    }

    /// Tunnels report an unset endpoint as the all-zero address (`remote any`).
    static func nonZero(_ ip: IPAddress?) -> IPAddress? {
        guard let ip, ip.bytes.contains(where: { $0 != 0 }) else { return nil }
        return ip
    }

    /// The kernel reports bridge timers in clock_t (USER_HZ, 100 per second).
    static let userHZ = 100.0

    static func bridge(_ data: UnsafeRawBufferPointer) throws -> BridgeInfo {
        var b = BridgeInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (bridge)")
        while a.next() {
            switch BridgeAttribute(rawValue: a.type) {
            case .forwardDelay?: b.forwardDelaySeconds = Double(a.uint32()) / userHZ
            case .ageingTime?: b.ageingTimeSeconds = Double(a.uint32()) / userHZ
            case .stpState?: b.stpEnabled = a.uint32() != 0
            case .priority?: b.priority = a.uint16()
            case .vlanFiltering?: b.vlanFiltering = a.bool()
            default: break
            }
        }
        try a.finish()
        return b
    }

    /// Bridge port attributes (`IFLA_BRPORT_*`), from IFLA_INFO_SLAVE_DATA or IFLA_PROTINFO.
    public static func bridgePort(_ data: UnsafeRawBufferPointer, context: StaticString) throws -> BridgePortState {
        var p = BridgePortState()
        var a = AttributeDecoder(data, context: context)
        while a.next() {
            switch BridgePortAttribute(rawValue: a.type) {
            case .state?: p.stpState = stpState(a.uint8())
            case .priority?: p.priority = a.uint16()
            case .cost?: p.cost = a.uint32()
            case .mode?: p.hairpin = a.bool()
            case .learning?: p.learning = a.bool()
            case .unicastFlood?: p.unicastFlood = a.bool()
            case .multicastFlood?: p.multicastFlood = a.bool()
            case .broadcastFlood?: p.broadcastFlood = a.bool()
            case .isolated?: p.isolated = a.bool()
            case .neighborSuppress?: p.neighborSuppress = a.bool()
            case .proxyARP?: p.proxyARP = a.bool()
            case .portNumber?: p.portNumber = a.uint16()
            default: break
            }
        }
        try a.finish()
        return p
    }

    static func stpState(_ code: UInt8) -> STPState? {
        switch BridgePortStateCode(rawValue: code) {
        case .disabled?: .disabled
        case .listening?: .listening
        case .learning?: .learning
        case .forwarding?: .forwarding
        case .blocking?: .blocking
        case nil: nil
        }
    }

    static func vlan(_ data: UnsafeRawBufferPointer) throws -> VLANInfo {
        var v = VLANInfo(id: 0)
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (vlan)")
        while a.next() {
            switch VLANAttribute(rawValue: a.type) {
            case .id?: v.id = a.uint16()
            case .tagProtocol?:
                switch a.uint16BigEndian() {
                case 0x8100: v.tagProtocol = "802.1Q"
                case 0x88A8: v.tagProtocol = "802.1ad"
                case let other: v.tagProtocol = "0x" + String(other, radix: 16)
                }
            default: break
            }
        }
        try a.finish()
        return v
    }

    static func macvlan(_ data: UnsafeRawBufferPointer) throws -> MACVLANInfo {
        var m = MACVLANInfo(mode: "vepa")
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (macvlan)")
        while a.next() {
            if MACVLANAttribute(rawValue: a.type) == .mode {
                let modes: [UInt32: String] = [1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"]
                let code = a.uint32()
                m.mode = modes[code] ?? String(code)
            }
        }
        try a.finish()
        return m
    }

    static func bond(_ data: UnsafeRawBufferPointer) throws -> BondInfo {
        var b = BondInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (bond)")
        let modes = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]
        while a.next() {
            switch BondAttribute(rawValue: a.type) {
            case .mode?:
                let code = Int(a.uint8())
                b.mode = code < modes.count ? modes[code] : String(code)
            case .activePort?: b.activePortIndex = Int(a.uint32())
            case .miimon?: b.miimonMilliseconds = a.uint32()
            default: break
            }
        }
        try a.finish()
        return b
    }

    static func tun(_ data: UnsafeRawBufferPointer) throws -> TunTapInfo {
        var t = TunTapInfo()
        var a = AttributeDecoder(data, context: "IFLA_INFO_DATA (tun)")
        while a.next() {
            switch TunAttribute(rawValue: a.type) {
            case .type?:
                let code = a.uint8()
                t.mode = code == 1 ? "tun" : code == 2 ? "tap" : String(code)
            case .persist?: t.persistent = a.bool()
            case .multiQueue?: t.multiQueue = a.bool()
            case .owner?:
                let uid = a.uint32()
                t.ownerUID = uid == UInt32.max ? nil : uid
            case .group?:
                let gid = a.uint32()
                t.groupGID = gid == UInt32.max ? nil : gid
            default: break
            }
        }
        try a.finish()
        return t
    }
}
