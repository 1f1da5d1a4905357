import Foundation

/// One packet, described by its header fields, in the flow syntax of `ovs-appctl ofproto/trace`.
///
/// `hopscope ovs-trace`, `hopscope firewall-trace` and the path walk all take packets in this
/// form (`icmp,nw_src=10.0.0.5,nw_dst=203.0.113.1`, `tcp,nw_dst=10.0.0.5,tp_dst=22`), so an
/// operator can paste the same FLOW into any of them and into `ofproto/trace` itself.
///
/// A field that is not given is zero, as in OVS. Field names follow ovs-fields(7) and its
/// aliases (`dl_src` = `eth_src`, `nw_src` = `ip_src`, `tp_dst` = `tcp_dst` = `udp_dst`, ...).
/// Fields this type does not model are kept in `extraFields` (in order) so the text round-trips.
public struct PacketKey: Hashable, Sendable, Codable, CustomStringConvertible {
    /// OpenFlow port name or number the packet enters on, as given.
    public var inPort: String?
    public var ethSrc: MACAddress?
    public var ethDst: MACAddress?
    /// The 802.1Q TCI as OVS models it: 0 for untagged, else `0x1000 | PCP<<13 | VID`.
    public var vlanTCI: UInt16 = 0
    public var ethType: UInt16 = 0
    public var ipSrc: IPAddress?
    public var ipDst: IPAddress?
    public var ipProto: UInt8 = 0
    public var ttl: UInt8?
    public var tos: UInt8?
    public var srcPort: UInt16?
    public var dstPort: UInt16?
    public var tcpFlags: UInt16?
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    public var arpOp: UInt16?
    public var arpSPA: IPv4Address?
    public var arpTPA: IPv4Address?
    public var arpSHA: MACAddress?
    public var arpTHA: MACAddress?
    public var tunnelID: UInt64?
    public var tunnelSrc: IPAddress?
    public var tunnelDst: IPAddress?
    public var metadata: UInt64?
    /// reg0...reg15 values that are set.
    public var registers: [Int: UInt32] = [:]
    /// OVS ct_state bits (see `ConntrackState`); nil when not given.
    public var ctState: UInt32?
    public var ctZone: UInt16?
    public var ctMark: UInt32?
    /// Fields given in the text that this type does not model, in order, as `name=value` pairs.
    public var extraFields: [ExtraField] = []

    public struct ExtraField: Hashable, Sendable, Codable {
        public var name: String
        public var value: String?
        public init(name: String, value: String?) { self.name = name; self.value = value }
    }

    public init() {}

    // MARK: Well-known values

    public enum EtherType {
        public static let ipv4: UInt16 = 0x0800
        public static let arp: UInt16 = 0x0806
        public static let vlan: UInt16 = 0x8100
        public static let ipv6: UInt16 = 0x86DD
    }
    public enum IPProtocol {
        public static let icmp: UInt8 = 1
        public static let tcp: UInt8 = 6
        public static let udp: UInt8 = 17
        public static let gre: UInt8 = 47
        public static let icmpv6: UInt8 = 58
        public static let sctp: UInt8 = 132
    }

    /// The VLAN ID when tagged, else nil.
    public var vlanID: UInt16? {
        get { vlanTCI & 0x1000 != 0 ? vlanTCI & 0x0FFF : nil }
        set { vlanTCI = newValue.map { 0x1000 | ($0 & 0x0FFF) | (vlanTCI & 0xE000) } ?? 0 }
    }
    public var isIPv4: Bool { ethType == EtherType.ipv4 }
    public var isIPv6: Bool { ethType == EtherType.ipv6 }
    public var isARP: Bool { ethType == EtherType.arp }
    public var isICMP: Bool { (isIPv4 && ipProto == IPProtocol.icmp) || (isIPv6 && ipProto == IPProtocol.icmpv6) }

    // MARK: Parsing

    /// An error in FLOW text, naming the field and the column (1-based) where it starts.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var message: String
        public var column: Int
        public var description: String { "flow: column \(column): \(message)" }
    }

    /// Protocol shorthands of ovs-fields(7): each sets dl_type and, for some, nw_proto.
    static let shorthands: [String: (UInt16, UInt8?)] = [
        "ip": (EtherType.ipv4, nil), "ipv4": (EtherType.ipv4, nil),
        "icmp": (EtherType.ipv4, IPProtocol.icmp), "tcp": (EtherType.ipv4, IPProtocol.tcp),
        "udp": (EtherType.ipv4, IPProtocol.udp), "sctp": (EtherType.ipv4, IPProtocol.sctp),
        "arp": (EtherType.arp, nil), "rarp": (0x8035, nil),
        "ipv6": (EtherType.ipv6, nil), "icmp6": (EtherType.ipv6, IPProtocol.icmpv6),
        "tcp6": (EtherType.ipv6, IPProtocol.tcp), "udp6": (EtherType.ipv6, IPProtocol.udp),
        "sctp6": (EtherType.ipv6, IPProtocol.sctp),
    ]

    /// Parses FLOW text such as `in_port=tap1,icmp,nw_src=10.0.0.5,nw_dst=10.0.0.1,icmp_type=8`.
    /// Throws `ParseError` naming the field and column for unknown shorthands and bad values.
    public init(parsing text: String) throws {
        self.init()
        var column = 1
        for rawItem in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { column += rawItem.count + 1 }
            let item = rawItem.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            let nameValue = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(nameValue[0]).trimmingCharacters(in: .whitespaces)
            guard nameValue.count == 2 else {
                guard let (type, proto) = PacketKey.shorthands[name] else {
                    throw ParseError(message: "unknown protocol shorthand '\(name)' (use ip, icmp, tcp, udp, arp, ipv6, icmp6, tcp6, udp6 or name=value)", column: column)
                }
                ethType = type
                if let proto { ipProto = proto }
                continue
            }
            let value = String(nameValue[1]).trimmingCharacters(in: .whitespaces)
            do {
                try set(field: name, value: value)
            } catch let e as FieldError {
                throw ParseError(message: "\(name)=\(value): \(e.message)", column: column)
            }
        }
    }

    struct FieldError: Error { var message: String }

    static func integer<T: FixedWidthInteger & UnsignedInteger>(_ s: String, as: T.Type) throws -> T {
        let v: T? = s.hasPrefix("0x") || s.hasPrefix("0X") ? T(s.dropFirst(2), radix: 16) : T(s, radix: 10)
        guard let v else { throw FieldError(message: "expected an integer that fits in \(T.bitWidth) bits") }
        return v
    }
    static func mac(_ s: String) throws -> MACAddress {
        guard let m = MACAddress(s) else { throw FieldError(message: "expected a MAC address like fa:16:3e:00:00:01") }
        return m
    }
    static func ip(_ s: String) throws -> IPAddress {
        guard let a = IPAddress(s) else { throw FieldError(message: "expected an IP address") }
        return a
    }
    static func ipv4(_ s: String) throws -> IPv4Address {
        guard let a = IPv4Address(s) else { throw FieldError(message: "expected an IPv4 address") }
        return a
    }

    mutating func set(field: String, value: String) throws {
        switch field {
        case "in_port": inPort = value
        case "dl_src", "eth_src": ethSrc = try Self.mac(value)
        case "dl_dst", "eth_dst": ethDst = try Self.mac(value)
        case "dl_type", "eth_type": ethType = try Self.integer(value, as: UInt16.self)
        case "vlan_tci": vlanTCI = try Self.integer(value, as: UInt16.self)
        case "dl_vlan", "vlan_vid":
            var vid = try Self.integer(value, as: UInt16.self)
            if field == "vlan_vid" { vid &= 0x0FFF }
            guard vid < 4096 else { throw FieldError(message: "VLAN ID must be 0-4095") }
            vlanID = vid
        case "dl_vlan_pcp", "vlan_pcp":
            let pcp = try Self.integer(value, as: UInt16.self)
            guard pcp < 8 else { throw FieldError(message: "PCP must be 0-7") }
            vlanTCI = (vlanTCI & 0x1FFF) | 0x1000 | pcp << 13
        case "nw_src", "ip_src", "ipv6_src":
            ipSrc = try Self.ip(value)
            if ethType == 0 { ethType = ipSrc!.isIPv4 ? EtherType.ipv4 : EtherType.ipv6 }
        case "nw_dst", "ip_dst", "ipv6_dst":
            ipDst = try Self.ip(value)
            if ethType == 0 { ethType = ipDst!.isIPv4 ? EtherType.ipv4 : EtherType.ipv6 }
        case "nw_proto", "ip_proto": ipProto = try Self.integer(value, as: UInt8.self)
        case "nw_ttl": ttl = try Self.integer(value, as: UInt8.self)
        case "nw_tos": tos = try Self.integer(value, as: UInt8.self)
        case "tp_src", "tcp_src", "udp_src", "sctp_src": srcPort = try Self.integer(value, as: UInt16.self)
        case "tp_dst", "tcp_dst", "udp_dst", "sctp_dst": dstPort = try Self.integer(value, as: UInt16.self)
        case "tcp_flags": tcpFlags = try Self.tcpFlags(value)
        case "icmp_type", "icmpv6_type": icmpType = try Self.integer(value, as: UInt8.self)
        case "icmp_code", "icmpv6_code": icmpCode = try Self.integer(value, as: UInt8.self)
        case "arp_op": arpOp = try Self.integer(value, as: UInt16.self)
        case "arp_spa": arpSPA = try Self.ipv4(value)
        case "arp_tpa": arpTPA = try Self.ipv4(value)
        case "arp_sha": arpSHA = try Self.mac(value)
        case "arp_tha": arpTHA = try Self.mac(value)
        case "tun_id", "tunnel_id": tunnelID = try Self.integer(value, as: UInt64.self)
        case "tun_src": tunnelSrc = try Self.ip(value)
        case "tun_dst": tunnelDst = try Self.ip(value)
        case "metadata": metadata = try Self.integer(value, as: UInt64.self)
        case "ct_state": ctState = try ConntrackState.parse(value)
        case "ct_zone": ctZone = try Self.integer(value, as: UInt16.self)
        case "ct_mark": ctMark = try Self.integer(value, as: UInt32.self)
        default:
            if field.hasPrefix("reg"), let n = Int(field.dropFirst(3)), (0...15).contains(n) {
                registers[n] = try Self.integer(value, as: UInt32.self)
            } else {
                extraFields.append(ExtraField(name: field, value: value))
            }
        }
    }

    /// TCP flag names as `ovs-ofctl` prints them, with their bits.
    public static let tcpFlagBits: [(String, UInt16)] = [
        ("fin", 0x001), ("syn", 0x002), ("rst", 0x004), ("psh", 0x008),
        ("ack", 0x010), ("urg", 0x020), ("ece", 0x040), ("cwr", 0x080), ("ns", 0x100),
    ]

    /// Accepts a number (`0x012`) or OVS's `+syn+ack` form (flags not named are clear).
    static func tcpFlags(_ s: String) throws -> UInt16 {
        if s.hasPrefix("+") || s.hasPrefix("-") {
            var bits: UInt16 = 0
            var i = s.startIndex
            while i < s.endIndex {
                let sign = s[i]
                let rest = s[s.index(after: i)...]
                let end = rest.firstIndex(where: { $0 == "+" || $0 == "-" }) ?? s.endIndex
                let name = String(rest[..<end])
                guard let bit = tcpFlagBits.first(where: { $0.0 == name })?.1 else {
                    throw FieldError(message: "unknown TCP flag '\(name)'")
                }
                if sign == "+" { bits |= bit }
                i = end
            }
            return bits
        }
        return try integer(s, as: UInt16.self)
    }

    // MARK: Formatting

    /// The packet in FLOW syntax, shortest form first: the protocol shorthand, then fields.
    public var description: String {
        var items: [String] = []
        if let inPort { items.append("in_port=\(inPort)") }
        let short = PacketKey.shorthands.first { $0.value.0 == ethType && $0.value.1 == (ipProto == 0 ? nil : ipProto) && !["ipv4", "rarp"].contains($0.key) }
            ?? PacketKey.shorthands.first { $0.value.0 == ethType && $0.value.1 == nil && $0.key != "ipv4" }
        if let short { items.append(short.key) } else if ethType != 0 { items.append("dl_type=0x\(String(ethType, radix: 16, uppercase: false))") }
        if let ethSrc { items.append("dl_src=\(ethSrc)") }
        if let ethDst { items.append("dl_dst=\(ethDst)") }
        if vlanTCI != 0 { items.append("vlan_tci=0x\(String(vlanTCI, radix: 16))") }
        if ipProto != 0, short?.value.1 != ipProto { items.append("nw_proto=\(ipProto)") }
        if let ipSrc { items.append(ipSrc.isIPv4 ? "nw_src=\(ipSrc)" : "ipv6_src=\(ipSrc)") }
        if let ipDst { items.append(ipDst.isIPv4 ? "nw_dst=\(ipDst)" : "ipv6_dst=\(ipDst)") }
        if let ttl { items.append("nw_ttl=\(ttl)") }
        if let tos { items.append("nw_tos=\(tos)") }
        if let srcPort { items.append("tp_src=\(srcPort)") }
        if let dstPort { items.append("tp_dst=\(dstPort)") }
        if let tcpFlags { items.append("tcp_flags=0x\(String(tcpFlags, radix: 16))") }
        if let icmpType { items.append(isIPv6 ? "icmpv6_type=\(icmpType)" : "icmp_type=\(icmpType)") }
        if let icmpCode { items.append(isIPv6 ? "icmpv6_code=\(icmpCode)" : "icmp_code=\(icmpCode)") }
        if let arpOp { items.append("arp_op=\(arpOp)") }
        if let arpSPA { items.append("arp_spa=\(arpSPA)") }
        if let arpTPA { items.append("arp_tpa=\(arpTPA)") }
        if let arpSHA { items.append("arp_sha=\(arpSHA)") }
        if let arpTHA { items.append("arp_tha=\(arpTHA)") }
        if let tunnelID { items.append("tun_id=0x\(String(tunnelID, radix: 16))") }
        if let tunnelSrc { items.append("tun_src=\(tunnelSrc)") }
        if let tunnelDst { items.append("tun_dst=\(tunnelDst)") }
        if let metadata { items.append("metadata=0x\(String(metadata, radix: 16))") }
        for (n, v) in registers.sorted(by: { $0.key < $1.key }) { items.append("reg\(n)=0x\(String(v, radix: 16))") }
        if let ctState { items.append("ct_state=\(ConntrackState.format(ctState))") }
        if let ctZone { items.append("ct_zone=\(ctZone)") }
        if let ctMark { items.append("ct_mark=0x\(String(ctMark, radix: 16))") }
        for f in extraFields { items.append(f.value.map { "\(f.name)=\($0)" } ?? f.name) }
        return items.joined(separator: ",")
    }
}

/// Open vSwitch connection-tracking state bits (ovs-fields(7), `ct_state`).
public enum ConntrackState {
    public static let bits: [(String, UInt32)] = [
        ("new", 0x01), ("est", 0x02), ("rel", 0x04), ("rpl", 0x08),
        ("inv", 0x10), ("trk", 0x20), ("snat", 0x40), ("dnat", 0x80),
    ]

    /// Parses `+trk+est`, `trk|est`, or a number. Flags prefixed with `-` are left clear.
    public static func parse(_ s: String) throws -> UInt32 {
        if let n = s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s) { return n }
        var out: UInt32 = 0
        var token = ""
        var sign: Character = "+"
        func flush() throws {
            guard !token.isEmpty else { return }
            guard let bit = bits.first(where: { $0.0 == token })?.1 else {
                throw PacketKey.FieldError(message: "unknown ct_state flag '\(token)' (new, est, rel, rpl, inv, trk, snat, dnat)")
            }
            if sign == "+" { out |= bit }
            token = ""
        }
        for ch in s {
            if ch == "+" || ch == "-" || ch == "|" { try flush(); sign = ch == "-" ? "-" : "+" } else { token.append(ch) }
        }
        try flush()
        return out
    }

    /// `+new+trk` style, in bit order.
    public static func format(_ v: UInt32) -> String {
        let names = bits.filter { v & $0.1 != 0 }.map { "+" + $0.0 }
        return names.isEmpty ? "0" : names.joined()
    }
}
