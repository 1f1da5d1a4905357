import HopscopeModel

// DHCPv4 (BOOTP), RFC 2131 section 2, options RFC 2132
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------+---------------+---------------+---------------+
//  |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
//  +---------------+---------------+---------------+---------------+
//  |                            xid (4)                            |
//  +-------------------------------+-------------------------------+
//  |           secs (2)            |           flags (2)           |
//  +-------------------------------+-------------------------------+
//  |                          ciaddr  (4)                          |
//  |                          yiaddr  (4)                          |
//  |                          siaddr  (4)                          |
//  |                          giaddr  (4)                          |
//  +---------------------------------------------------------------+
//  |                          chaddr  (16)                         |
//  |                          sname   (64)                         |
//  |                          file    (128)                        |
//  +---------------------------------------------------------------+
//  |  options (variable): magic cookie 99.130.83.99, then Code,    |
//  |  Len, value; Pad (0) and End (255) are one byte               |
//  +---------------------------------------------------------------+

/// A DHCP (BOOTP) message. The message type (option 53) is found while decoding; the other options
/// stay in the frame and are read with `DHCPOption.all(in:of:)`.
public struct DHCPMessage: Hashable, Sendable, BitwiseCopyable, Codable {
    public var offset: Int
    /// 1 BOOTREQUEST, 2 BOOTREPLY.
    public var op: UInt8
    public var htype: UInt8
    public var hlen: UInt8
    public var hops: UInt8
    public var xid: UInt32
    public var secs: UInt16
    /// Bit 15 is the BROADCAST flag.
    public var flags: UInt16
    public var ciaddr: IPv4Address
    public var yiaddr: IPv4Address
    public var siaddr: IPv4Address
    public var giaddr: IPv4Address
    /// chaddr as an Ethernet address when htype is 1 and hlen 6 (the first 6 bytes otherwise).
    public var clientHardwareAddress: MACAddress
    /// Option 53, when present.
    public var messageType: DHCPMessageType?
    /// True when the options start with the magic cookie (a DHCP, not plain BOOTP, message).
    public var hasMagicCookie: Bool
    /// Options after the magic cookie, in the frame.
    public var options: ByteRange

    public static let fixedLength = 236
    public static let magicCookie: UInt32 = 0x6382_5363
    public var broadcast: Bool { flags & 0x8000 != 0 }
    public var isRequest: Bool { op == 1 }

    static func decode(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ packet: inout Packet) -> Next {
        let captured = end - start
        guard captured >= fixedLength else {
            return packet.fail(.truncated(.dhcp, at: start, needed: fixedLength, available: captured))
        }
        var messageType: UInt8?
        let cookieAt = start + fixedLength
        if captured >= fixedLength + 4 && b.u32(cookieAt) == magicCookie {
            // Walk the options once: it validates them and finds the message type.
            var i = cookieAt + 4
            while i < end {
                let code = b.u8(i)
                if code == DHCPOption.Code.end { break }
                if code == DHCPOption.Code.pad { i += 1; continue }
                guard i + 1 < end else {
                    return packet.fail(.truncated(.dhcp, at: i, needed: 2, available: end - i, .optionCutShort),
                                       after: layer(start, end, messageType))
                }
                let length = Int(b.u8(i + 1))
                guard i + 2 + length <= end else {
                    return packet.fail(.truncated(.dhcp, at: i, needed: 2 + length, available: end - i, .optionCutShort),
                                       after: layer(start, end, messageType))
                }
                if code == DHCPOption.Code.messageType && length >= 1 && messageType == nil {
                    messageType = b.u8(i + 2)
                }
                i += 2 + length
            }
        }
        _ = packet.push(layer(start, end, messageType))
        return .done
    }

    private static func layer(_ start: Int, _ end: Int, _ messageType: UInt8?) -> Layer {
        Layer(.dhcp, start, end, flags: messageType == nil ? 0 : Layer.hasValue, extra: UInt16(messageType ?? 0))
    }

}

extension DHCPMessage {
    /// The fields as decoding saw them, with the message type its walk over the options found.
    init(_ layer: Layer, _ b: UnsafeRawBufferPointer) {
        let start = layer.offset, end = layer.end
        self.init(offset: start, op: b.u8(start), htype: b.u8(start + 1), hlen: b.u8(start + 2), hops: b.u8(start + 3),
                  xid: b.u32(start + 4), secs: b.u16(start + 8), flags: b.u16(start + 10),
                  ciaddr: b.ipv4(start + 12), yiaddr: b.ipv4(start + 16), siaddr: b.ipv4(start + 20),
                  giaddr: b.ipv4(start + 24), clientHardwareAddress: b.mac(start + 28),
                  messageType: layer.flags & Layer.hasValue != 0 ? DHCPMessageType(rawValue: UInt8(truncatingIfNeeded: layer.extra)) : nil,
                  hasMagicCookie: false, options: .empty)
        let cookieAt = start + Self.fixedLength
        if end - start >= Self.fixedLength + 4 && b.u32(cookieAt) == Self.magicCookie {
            hasMagicCookie = true
            options = ByteRange(offset: cookieAt + 4, count: end - cookieAt - 4)
        } else if end - start > Self.fixedLength {
            // BOOTP: a 64-byte vendor area without the cookie; kept raw.
            options = ByteRange(offset: cookieAt, count: end - cookieAt)
        }
    }
}

/// DHCP message type, option 53 (RFC 2132 section 9.6, RFC 4388 for the lease queries).
public struct DHCPMessageType: RawRepresentable, Hashable, Sendable, BitwiseCopyable, Codable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let discover = DHCPMessageType(rawValue: 1), offer = DHCPMessageType(rawValue: 2)
    public static let request = DHCPMessageType(rawValue: 3), decline = DHCPMessageType(rawValue: 4)
    public static let ack = DHCPMessageType(rawValue: 5), nak = DHCPMessageType(rawValue: 6)
    public static let release = DHCPMessageType(rawValue: 7), inform = DHCPMessageType(rawValue: 8)

    /// tcpdump's name: Discover, Offer, Request, Decline, ACK, NACK, Release, Inform, ...
    public var description: String {
        switch rawValue {
        case 1: "Discover"
        case 2: "Offer"
        case 3: "Request"
        case 4: "Decline"
        case 5: "ACK"
        case 6: "NACK"
        case 7: "Release"
        case 8: "Inform"
        case 9: "Force Renew"
        case 10: "Lease Query"
        case 11: "Lease Unassigned"
        case 12: "Lease Unknown"
        case 13: "Lease Active"
        default: "Unknown (\(rawValue))"
        }
    }
}

/// One DHCP option, with the value decoded for the common options and kept raw for the rest.
public struct DHCPOption: Hashable, Sendable, Codable {
    public var code: UInt8
    public var length: UInt8
    /// Options whose value is one or more IPv4 addresses (subnet mask, router, DNS servers,
    /// requested address, server identifier, broadcast address).
    public var addresses: [IPv4Address]?
    /// Options whose value is text (host name, domain name, message, vendor class).
    public var text: String?
    /// Options whose value is a number (lease/renewal/rebinding time, MTU, max message size).
    public var number: UInt32?
    /// Option 53.
    public var messageType: DHCPMessageType?
    /// Option 55: the requested option codes.
    public var parameterRequestList: [UInt8]?
    /// Option 61 (client identifier): type byte and, for type 1 with 6 bytes, the MAC address.
    public var clientIdentifierType: UInt8?
    public var clientIdentifierMAC: MACAddress?
    /// The raw value as hex, for every option (so nothing is lost).
    public var value: String

    /// Option codes, RFC 2132 (names as there).
    public enum Code {
        public static let pad: UInt8 = 0, subnetMask: UInt8 = 1, router: UInt8 = 3, domainNameServer: UInt8 = 6
        public static let hostName: UInt8 = 12, domainName: UInt8 = 15, interfaceMTU: UInt8 = 26, broadcastAddress: UInt8 = 28
        public static let requestedIPAddress: UInt8 = 50, ipAddressLeaseTime: UInt8 = 51, overload: UInt8 = 52
        public static let messageType: UInt8 = 53, serverIdentifier: UInt8 = 54, parameterRequestList: UInt8 = 55
        public static let message: UInt8 = 56, maximumMessageSize: UInt8 = 57, renewalTime: UInt8 = 58
        public static let rebindingTime: UInt8 = 59, vendorClassIdentifier: UInt8 = 60, clientIdentifier: UInt8 = 61
        public static let end: UInt8 = 255
    }

    /// The RFC 2132 name of the option.
    public var name: String {
        switch code {
        case Code.subnetMask: "Subnet-Mask"
        case Code.router: "Default-Gateway"
        case Code.domainNameServer: "Domain-Name-Server"
        case Code.hostName: "Hostname"
        case Code.domainName: "Domain-Name"
        case Code.interfaceMTU: "MTU"
        case Code.broadcastAddress: "BR"
        case Code.requestedIPAddress: "Requested-IP"
        case Code.ipAddressLeaseTime: "Lease-Time"
        case Code.overload: "Option-Overload"
        case Code.messageType: "DHCP-Message"
        case Code.serverIdentifier: "Server-ID"
        case Code.parameterRequestList: "Parameter-Request"
        case Code.message: "Message"
        case Code.maximumMessageSize: "MSZ"
        case Code.renewalTime: "RN"
        case Code.rebindingTime: "RB"
        case Code.vendorClassIdentifier: "Vendor-Class"
        case Code.clientIdentifier: "Client-ID"
        case 42: "NTP"
        case 81: "FQDN"
        case 119: "Domain-Search"
        case 121: "Classless-Static-Route"
        default: "Option-\(code)"
        }
    }

    /// Every option of the message in order, End excluded, Pad skipped.
    public static func all(in b: UnsafeRawBufferPointer, of message: DHCPMessage) throws(DecodeError) -> [DHCPOption] {
        guard message.hasMagicCookie else { return [] }
        var out: [DHCPOption] = []
        var i = message.options.offset
        let end = min(message.options.end, b.count)
        while i < end {
            let code = b.u8(i)
            if code == Code.end { break }
            if code == Code.pad { i += 1; continue }
            guard i + 1 < end else { throw .truncated(.dhcp, at: i, needed: 2, available: end - i, .optionCutShort) }
            let length = Int(b.u8(i + 1))
            guard i + 2 + length <= end else { throw .truncated(.dhcp, at: i, needed: 2 + length, available: end - i, .optionCutShort) }
            out.append(DHCPOption(code: code, b, (i + 2)..<(i + 2 + length)))
            i += 2 + length
        }
        return out
    }

    init(code: UInt8, _ b: UnsafeRawBufferPointer, _ range: Range<Int>) {
        self.code = code
        self.length = UInt8(range.count)
        self.value = b.hexString(range)
        let n = range.count
        switch code {
        case Code.subnetMask, Code.requestedIPAddress, Code.serverIdentifier, Code.broadcastAddress,
             Code.router, Code.domainNameServer, 42:
            if n > 0 && n % 4 == 0 { addresses = stride(from: range.lowerBound, to: range.upperBound, by: 4).map { b.ipv4($0) } }
        case Code.hostName, Code.domainName, Code.message, Code.vendorClassIdentifier:
            text = String(decoding: UnsafeRawBufferPointer(rebasing: b[range]), as: UTF8.self)
        case Code.ipAddressLeaseTime, Code.renewalTime, Code.rebindingTime:
            if n == 4 { number = b.u32(range.lowerBound) }
        case Code.interfaceMTU, Code.maximumMessageSize:
            if n == 2 { number = UInt32(b.u16(range.lowerBound)) }
        case Code.overload:
            if n == 1 { number = UInt32(b.u8(range.lowerBound)) }
        case Code.messageType:
            if n >= 1 { messageType = DHCPMessageType(rawValue: b.u8(range.lowerBound)) }
        case Code.parameterRequestList:
            parameterRequestList = Array(b[range])
        case Code.clientIdentifier:
            if n >= 1 {
                clientIdentifierType = b.u8(range.lowerBound)
                if clientIdentifierType == 1 && n == 7 { clientIdentifierMAC = b.mac(range.lowerBound + 1) }
            }
        default:
            break
        }
    }
}

extension DHCPMessage {
    /// The value bytes of the first option with `code`, if present.
    public func option(_ code: UInt8, in b: UnsafeRawBufferPointer) -> ByteRange? {
        guard hasMagicCookie else { return nil }
        var i = options.offset
        let end = min(options.end, b.count)
        while i < end {
            let c = b.u8(i)
            if c == DHCPOption.Code.end { return nil }
            if c == DHCPOption.Code.pad { i += 1; continue }
            guard i + 1 < end else { return nil }
            let length = Int(b.u8(i + 1))
            guard i + 2 + length <= end else { return nil }
            if c == code { return ByteRange(offset: i + 2, count: length) }
            i += 2 + length
        }
        return nil
    }

    /// tcpdump's `BOOTP/DHCP, Request from 00:0b:82:01:fc:42, length 272`, followed by what an
    /// operator needs to follow a lease: `, xid 0x3d1d, DHCP-Discover`, the requested address of a
    /// request, and the offered address and server of a reply.
    func summarize(writer w: SummaryWriter, length: Int, to t: TextBuffer) {
        let b = w.b
        t.append("BOOTP/DHCP, ")
        switch op {
        case 1: t.append("Request")
        case 2: t.append("Reply")
        default: t.append("unknown (0x"); t.hex(op, width: 2); t.append(")")
        }
        if htype == 1 && hlen == 6 && op == 1 { t.append(" from "); t.mac(clientHardwareAddress) }
        t.append(", length "); t.decimal(max(0, length))
        t.append(", xid 0x"); t.hex(xid)
        if let messageType {
            t.append(", DHCP-"); t.append(contentsOf: messageType.description)
        }
        if let requested = option(DHCPOption.Code.requestedIPAddress, in: b), requested.count == 4 {
            t.append(", requested "); t.ipv4(b.ipv4(requested.offset))
        }
        if yiaddr != .any { t.append(", yiaddr "); t.ipv4(yiaddr) }
        if let server = option(DHCPOption.Code.serverIdentifier, in: b), server.count == 4 {
            t.append(", server-id "); t.ipv4(b.ipv4(server.offset))
        }
    }
}
