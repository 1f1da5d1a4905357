import HopscopeModel

// DHCPv4 encoder (see Protocols/DHCP.swift for the layout; options RFC 2132): the fixed BOOTP
// fields, the magic cookie, the options in the order given, End, and padding to the 300 bytes
// of a BOOTP message that old relays and servers expect (RFC 1542 section 2.1).

extension DHCPMessage {
    /// BOOTP's minimum message length: fixed fields, cookie and options padded to 300 bytes.
    public static let minimumEncodedLength = 300

    /// The options a client asks for: subnet mask, router, DNS, host name, domain name, MTU,
    /// broadcast address, lease time, server id, renewal and rebinding times.
    public static let defaultParameterRequestList: [UInt8] = [
        DHCPOption.Code.subnetMask, DHCPOption.Code.router, DHCPOption.Code.domainNameServer, DHCPOption.Code.hostName,
        DHCPOption.Code.domainName, DHCPOption.Code.interfaceMTU, DHCPOption.Code.broadcastAddress,
        DHCPOption.Code.ipAddressLeaseTime, DHCPOption.Code.serverIdentifier, DHCPOption.Code.renewalTime,
        DHCPOption.Code.rebindingTime,
    ]

    /// One option to encode, by meaning; `other` carries any code with raw bytes.
    public enum OptionValue: Hashable, Sendable {
        case messageType(DHCPMessageType)
        case subnetMask(IPv4Address)
        case router([IPv4Address])
        case domainNameServers([IPv4Address])
        case hostName(String)
        case domainName(String)
        case interfaceMTU(UInt16)
        case broadcastAddress(IPv4Address)
        case requestedIPAddress(IPv4Address)
        case leaseTime(UInt32)
        case serverIdentifier(IPv4Address)
        case parameterRequestList([UInt8])
        case message(String)
        case maximumMessageSize(UInt16)
        case renewalTime(UInt32)
        case rebindingTime(UInt32)
        /// Option 61: a type byte (1 for Ethernet) and the identifier.
        case clientIdentifier(type: UInt8, identifier: [UInt8])
        case other(code: UInt8, value: [UInt8])

        /// The client identifier most clients send: type 1 (Ethernet) and the MAC address.
        public static func clientIdentifier(_ mac: MACAddress) -> OptionValue {
            .clientIdentifier(type: 1, identifier: mac.bytes)
        }

        public var code: UInt8 {
            typealias C = DHCPOption.Code
            return switch self {
            case .messageType: C.messageType
            case .subnetMask: C.subnetMask
            case .router: C.router
            case .domainNameServers: C.domainNameServer
            case .hostName: C.hostName
            case .domainName: C.domainName
            case .interfaceMTU: C.interfaceMTU
            case .broadcastAddress: C.broadcastAddress
            case .requestedIPAddress: C.requestedIPAddress
            case .leaseTime: C.ipAddressLeaseTime
            case .serverIdentifier: C.serverIdentifier
            case .parameterRequestList: C.parameterRequestList
            case .message: C.message
            case .maximumMessageSize: C.maximumMessageSize
            case .renewalTime: C.renewalTime
            case .rebindingTime: C.rebindingTime
            case .clientIdentifier: C.clientIdentifier
            case .other(let code, _): code
            }
        }

        /// The option's value bytes (without code and length).
        public var valueBytes: [UInt8] {
            var out: [UInt8] = []
            switch self {
            case .messageType(let t): out.append(t.rawValue)
            case .subnetMask(let a), .broadcastAddress(let a), .requestedIPAddress(let a), .serverIdentifier(let a): out.append(a)
            case .router(let list), .domainNameServers(let list): for a in list { out.append(a) }
            case .hostName(let s), .domainName(let s), .message(let s): out += Array(s.utf8)
            case .interfaceMTU(let v), .maximumMessageSize(let v): out.append16(v)
            case .leaseTime(let v), .renewalTime(let v), .rebindingTime(let v): out.append32(v)
            case .parameterRequestList(let codes): out += codes
            case .clientIdentifier(let type, let identifier): out.append(type); out += identifier
            case .other(_, let value): out += value
            }
            return out
        }
    }

    /// What a server hands out with an address (OFFER and ACK).
    public struct LeaseOptions: Hashable, Sendable {
        public var subnetMask: IPv4Address
        public var routers: [IPv4Address]
        public var dnsServers: [IPv4Address]
        public var domainName: String?
        public var mtu: UInt16?
        public var leaseSeconds: UInt32
        /// T1 and T2; nil leaves them out (clients then use 1/2 and 7/8 of the lease).
        public var renewalSeconds: UInt32?
        public var rebindingSeconds: UInt32?

        public init(subnetMask: IPv4Address, routers: [IPv4Address] = [], dnsServers: [IPv4Address] = [],
                    domainName: String? = nil, mtu: UInt16? = nil, leaseSeconds: UInt32,
                    renewalSeconds: UInt32? = nil, rebindingSeconds: UInt32? = nil) {
            self.subnetMask = subnetMask
            self.routers = routers
            self.dnsServers = dnsServers
            self.domainName = domainName
            self.mtu = mtu
            self.leaseSeconds = leaseSeconds
            self.renewalSeconds = renewalSeconds
            self.rebindingSeconds = rebindingSeconds
        }

        var options: [OptionValue] {
            var out: [OptionValue] = [.leaseTime(leaseSeconds)]
            if let renewalSeconds { out.append(.renewalTime(renewalSeconds)) }
            if let rebindingSeconds { out.append(.rebindingTime(rebindingSeconds)) }
            out.append(.subnetMask(subnetMask))
            if !routers.isEmpty { out.append(.router(routers)) }
            if !dnsServers.isEmpty { out.append(.domainNameServers(dnsServers)) }
            if let domainName { out.append(.domainName(domainName)) }
            if let mtu { out.append(.interfaceMTU(mtu)) }
            return out
        }
    }

    /// A DHCP message: `op` (1 request, 2 reply), Ethernet hardware type, the fixed fields, the
    /// magic cookie, `options` in order and End, padded to 300 bytes. Throws `optionTooLong`
    /// for an option value over 255 bytes.
    public static func encode(op: UInt8, xid: UInt32, clientMAC: MACAddress, options: [OptionValue],
                              secs: UInt16 = 0, broadcast: Bool = false, ciaddr: IPv4Address = .any,
                              yiaddr: IPv4Address = .any, siaddr: IPv4Address = .any,
                              giaddr: IPv4Address = .any) throws(PacketEncodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(minimumEncodedLength)
        out += [op, 1, 6, 0]
        out.append32(xid)
        out.append16(secs)
        out.append16(broadcast ? 0x8000 : 0)
        out.append(ciaddr)
        out.append(yiaddr)
        out.append(siaddr)
        out.append(giaddr)
        out.append(clientMAC)
        out += [UInt8](repeating: 0, count: 10 + 64 + 128)      // rest of chaddr, sname, file
        out.append32(magicCookie)
        for option in options {
            let value = option.valueBytes
            guard value.count <= 255 else { throw .optionTooLong(code: option.code, bytes: value.count) }
            out.append(option.code)
            out.append(UInt8(value.count))
            out += value
        }
        out.append(DHCPOption.Code.end)
        if out.count < minimumEncodedLength { out += [UInt8](repeating: 0, count: minimumEncodedLength - out.count) }
        return out
    }

    // MARK: The messages of an exchange (RFC 2131 section 3, table 5 for what each carries)

    /// DHCPDISCOVER: a client looking for servers, optionally asking for its previous address.
    public static func discover(xid: UInt32, clientMAC: MACAddress, hostName: String? = nil,
                                requestedAddress: IPv4Address? = nil,
                                parameters: [UInt8] = defaultParameterRequestList,
                                broadcast: Bool = false, secs: UInt16 = 0) throws(PacketEncodeError) -> [UInt8] {
        var options: [OptionValue] = [.messageType(.discover), .clientIdentifier(clientMAC)]
        if let requestedAddress { options.append(.requestedIPAddress(requestedAddress)) }
        if let hostName { options.append(.hostName(hostName)) }
        options.append(.parameterRequestList(parameters))
        return try encode(op: 1, xid: xid, clientMAC: clientMAC, options: options, secs: secs, broadcast: broadcast)
    }

    /// DHCPREQUEST. Selecting an offer: `requestedAddress` and `serverID` set, `clientAddress`
    /// nil. Renewing or rebinding a lease: `clientAddress` set (ciaddr), the other two nil.
    public static func request(xid: UInt32, clientMAC: MACAddress, requestedAddress: IPv4Address? = nil,
                               serverID: IPv4Address? = nil, clientAddress: IPv4Address? = nil, hostName: String? = nil,
                               parameters: [UInt8] = defaultParameterRequestList,
                               broadcast: Bool = false, secs: UInt16 = 0) throws(PacketEncodeError) -> [UInt8] {
        var options: [OptionValue] = [.messageType(.request), .clientIdentifier(clientMAC)]
        if let requestedAddress { options.append(.requestedIPAddress(requestedAddress)) }
        if let serverID { options.append(.serverIdentifier(serverID)) }
        if let hostName { options.append(.hostName(hostName)) }
        options.append(.parameterRequestList(parameters))
        return try encode(op: 1, xid: xid, clientMAC: clientMAC, options: options, secs: secs, broadcast: broadcast,
                          ciaddr: clientAddress ?? .any)
    }

    /// DHCPRELEASE: the client gives `clientAddress` back to `serverID`.
    public static func release(xid: UInt32, clientMAC: MACAddress, clientAddress: IPv4Address,
                               serverID: IPv4Address) throws(PacketEncodeError) -> [UInt8] {
        try encode(op: 1, xid: xid, clientMAC: clientMAC,
                   options: [.messageType(.release), .clientIdentifier(clientMAC), .serverIdentifier(serverID)],
                   ciaddr: clientAddress)
    }

    /// DHCPOFFER: `serverID` offers `yourAddress` with `lease`.
    public static func offer(xid: UInt32, clientMAC: MACAddress, yourAddress: IPv4Address, serverID: IPv4Address,
                             lease: LeaseOptions) throws(PacketEncodeError) -> [UInt8] {
        try encode(op: 2, xid: xid, clientMAC: clientMAC,
                   options: [.messageType(.offer), .serverIdentifier(serverID)] + lease.options,
                   yiaddr: yourAddress, siaddr: serverID)
    }

    /// DHCPACK: `serverID` confirms `yourAddress` with `lease` (for a renewal, `clientAddress`
    /// echoes the client's ciaddr).
    public static func ack(xid: UInt32, clientMAC: MACAddress, yourAddress: IPv4Address, serverID: IPv4Address,
                           lease: LeaseOptions, clientAddress: IPv4Address = .any) throws(PacketEncodeError) -> [UInt8] {
        try encode(op: 2, xid: xid, clientMAC: clientMAC,
                   options: [.messageType(.ack), .serverIdentifier(serverID)] + lease.options,
                   ciaddr: clientAddress, yiaddr: yourAddress, siaddr: serverID)
    }

    /// DHCPNAK: `serverID` refuses the client's request, saying why in `message`.
    public static func nak(xid: UInt32, clientMAC: MACAddress, serverID: IPv4Address,
                           message: String? = nil) throws(PacketEncodeError) -> [UInt8] {
        var options: [OptionValue] = [.messageType(.nak), .serverIdentifier(serverID)]
        if let message { options.append(.message(message)) }
        return try encode(op: 2, xid: xid, clientMAC: clientMAC, options: options)
    }
}
