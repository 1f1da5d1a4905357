import HopscopeModel

/// The rtnetlink dumps Hopscope makes, on any transport (a socket in a namespace, or a fake
/// kernel in tests). Each returns decoded values plus the messages that did not decode.
extension NetlinkTransport {
    /// Every interface (`RTM_GETLINK` dump), with the IPv4 per-interface settings from IFLA_AF_SPEC.
    public func dumpLinksWithSettings() throws -> DumpResult<(link: Link, ipv4: LinkMessage.IPv4Settings?)> {
        try dump(.getLink, familyHeader: Self.zeros(FamilyHeaderSize.ifinfomsg)) { m in
            m.type == MessageType.newLink.rawValue ? try LinkMessage.decodeWithSettings(m.payload) : nil
        }
    }

    /// Every interface (`RTM_GETLINK` dump). `ipv4Settings` is called with each interface that
    /// carries IPv4 settings, as it is decoded (on an interrupted dump, again for the retry).
    public func dumpLinks(ipv4Settings: (Link, LinkMessage.IPv4Settings) -> Void = { _, _ in }) throws -> DumpResult<Link> {
        try dump(.getLink, familyHeader: Self.zeros(FamilyHeaderSize.ifinfomsg)) { m in
            guard m.type == MessageType.newLink.rawValue else { return nil }
            let (link, ipv4) = try LinkMessage.decodeWithSettings(m.payload)
            if let ipv4 { ipv4Settings(link, ipv4) }
            return link
        }
    }

    /// One interface by index (`RTM_GETLINK` request).
    public func link(index: Int) throws -> Link {
        var header = Self.zeros(FamilyHeaderSize.ifinfomsg)
        withUnsafeBytes(of: Int32(index)) { for i in 0..<4 { header[4 + i] = $0[i] } }
        return try request(.getLink, familyHeader: header) { m in try LinkMessage.decode(m.payload) }
    }

    /// IPv4 and IPv6 addresses of every interface (`RTM_GETADDR` dump).
    public func dumpAddresses() throws -> DumpResult<InterfaceAddress> {
        try dump(.getAddress, familyHeader: Self.zeros(FamilyHeaderSize.ifaddrmsg)) { m in
            m.type == MessageType.newAddress.rawValue ? try AddressMessage.decode(m.payload) : nil
        }
    }

    /// IPv4 and IPv6 routes of every table (`RTM_GETROUTE` dump; other families are left out).
    public func dumpRoutes() throws -> DumpResult<Route> {
        try dump(.getRoute, familyHeader: Self.zeros(FamilyHeaderSize.rtmsg)) { m in
            m.type == MessageType.newRoute.rawValue ? try RouteMessage.decode(m.payload) : nil
        }
    }

    /// IPv4 and IPv6 policy routing rules (`RTM_GETRULE` dump).
    public func dumpRules() throws -> DumpResult<RoutingRule> {
        try dump(.getRule, familyHeader: Self.zeros(FamilyHeaderSize.fibRuleHeader)) { m in
            m.type == MessageType.newRule.rawValue ? try RuleMessage.decode(m.payload) : nil
        }
    }

    /// The ARP and NDP caches (`RTM_GETNEIGH` dump, AF_UNSPEC).
    public func dumpNeighbors() throws -> DumpResult<Neighbor> {
        try dump(.getNeighbor, familyHeader: Self.zeros(FamilyHeaderSize.ndmsg)) { m in
            m.type == MessageType.newNeighbor.rawValue ? try NeighborMessage.decodeNeighbor(m.payload) : nil
        }
    }

    /// The forwarding databases of bridges, bridge ports and vxlan devices (`RTM_GETNEIGH` dump, AF_BRIDGE).
    public func dumpForwardingDatabase() throws -> DumpResult<FDBEntry> {
        var header = Self.zeros(FamilyHeaderSize.ndmsg)
        header[0] = AddressFamily.bridge.rawValue
        return try dump(.getNeighbor, familyHeader: header) { m in
            m.type == MessageType.newNeighbor.rawValue ? try NeighborMessage.decodeFDB(m.payload) : nil
        }
    }

    /// The ids this namespace has given other namespaces (`RTM_GETNSID` dump, `ip netns list-id`).
    public func dumpNamespaceIDs() throws -> DumpResult<Int32> {
        try dump(.getNamespaceID, familyHeader: Self.zeros(FamilyHeaderSize.rtgenmsg)) { m in
            m.type == MessageType.newNamespaceID.rawValue ? try NamespaceIDMessage.decode(m.payload) : nil
        }
    }

    /// The id this namespace gives the namespace open as `fd` (`RTM_GETNSID` with NETNSA_FD), or
    /// nil when it has none. Reads only: never assigns an id.
    public func namespaceID(ofNamespaceFD fd: Int32) throws -> Int32? {
        try request(.getNamespaceID, familyHeader: Self.zeros(FamilyHeaderSize.rtgenmsg), attributes: {
            $0.attribute(NamespaceIDAttribute.fd.rawValue, uint32: UInt32(bitPattern: fd))
        }) { m in try NamespaceIDMessage.decode(m.payload) }
    }

    /// The ids this namespace gives the namespaces open as `fds`, in order: nil where it gives
    /// none, or where the kernel refused the question (a descriptor that is not a namespace).
    /// One `RTM_GETNSID` with NETNSA_FD per descriptor, sent together (`requests`). Reads only:
    /// never assigns an id.
    public func namespaceIDs(ofNamespaceFDs fds: [Int32]) throws -> [Int32?] {
        try requests(.getNamespaceID, familyHeader: Self.zeros(FamilyHeaderSize.rtgenmsg), count: fds.count, attributes: { i, b in
            b.attribute(NamespaceIDAttribute.fd.rawValue, uint32: UInt32(bitPattern: fds[i]))
        }) { m in try NamespaceIDMessage.decode(m.payload) }
        .map { (try? $0.get()) ?? nil }
    }

    static func zeros(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: n) }
}
