import HopscopeModel

/// A value of up to 128 bits (IPv6 addresses, ct_label, xxreg), most significant half first.
public struct Bits128: Hashable, Sendable, Codable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64 = 0, low: UInt64) { self.high = high; self.low = low }
    public static let zero = Bits128(low: 0)

    /// All ones in the low `width` bits.
    public static func ones(_ width: Int) -> Bits128 {
        if width >= 128 { return Bits128(high: .max, low: .max) }
        if width >= 64 { return Bits128(high: width == 64 ? 0 : UInt64.max >> (128 - width), low: .max) }
        return Bits128(high: 0, low: width == 0 ? 0 : UInt64.max >> (64 - width))
    }
    public static func & (a: Bits128, b: Bits128) -> Bits128 { Bits128(high: a.high & b.high, low: a.low & b.low) }
    public static func | (a: Bits128, b: Bits128) -> Bits128 { Bits128(high: a.high | b.high, low: a.low | b.low) }
    public static prefix func ~ (a: Bits128) -> Bits128 { Bits128(high: ~a.high, low: ~a.low) }
    public static func << (a: Bits128, n: Int) -> Bits128 {
        if n == 0 { return a }
        if n >= 128 { return .zero }
        if n >= 64 { return Bits128(high: a.low << UInt64(n - 64), low: 0) }
        return Bits128(high: a.high << UInt64(n) | a.low >> UInt64(64 - n), low: a.low << UInt64(n))
    }
    public static func >> (a: Bits128, n: Int) -> Bits128 {
        if n == 0 { return a }
        if n >= 128 { return .zero }
        if n >= 64 { return Bits128(high: 0, low: a.high >> UInt64(n - 64)) }
        return Bits128(high: a.high >> UInt64(n), low: a.low >> UInt64(n) | a.high << UInt64(64 - n))
    }
    public var isZero: Bool { high == 0 && low == 0 }
    /// Number of significant bits (0 for zero).
    public var bitLength: Int { high != 0 ? 128 - high.leadingZeroBitCount : 64 - low.leadingZeroBitCount }

    /// `0x…` hexadecimal, minimal digits.
    public var hex: String {
        if high == 0 { return "0x" + String(low, radix: 16) }
        let lowHex = String(low, radix: 16)
        return "0x" + String(high, radix: 16) + String(repeating: "0", count: 16 - lowHex.count) + lowHex
    }
    public var description: String { hex }

    /// Parses decimal or `0x` hexadecimal text of up to 128 bits.
    public init?(parsing text: Substring) {
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = text.dropFirst(2)
            guard !digits.isEmpty, digits.count <= 32 else { return nil }
            var h: UInt64 = 0, l: UInt64 = 0
            for c in digits.utf8 {
                guard let d = hexDigit(c) else { return nil }
                h = h << 4 | l >> 60
                l = l << 4 | UInt64(d)
            }
            self.init(high: h, low: l)
        } else {
            guard !text.isEmpty, let v = UInt64(text) else { return nil }
            self.init(low: v)
        }
    }
}

@inline(__always) func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Storage of the packet metadata and headers the evaluator models: one 64-bit slot each, 128-bit
/// fields in two. Several OpenFlow fields share a slot exactly as in OVS's `struct flow`
/// (arp_spa is nw_src, arp_op is nw_proto, icmp_type is tp_src, nd_sll is arp_sha), so a flow
/// written either way matches the same packets.
public enum PacketSlot: Int, CaseIterable, Sendable {
    case inPort, ethSrc, ethDst, ethType, vlanTCI, vlanTCIInner
    case nwSrc, nwDst, ipv6SrcHigh, ipv6SrcLow, ipv6DstHigh, ipv6DstLow, ipv6Label
    case nwProto, nwTOS, nwTTL, nwFrag, tpSrc, tpDst, tcpFlags
    case arpSHA, arpTHA, ndTargetHigh, ndTargetLow
    case tunnelID, tunnelSrc, tunnelDst, tunnelFlags
    case metadata
    case reg0, reg1, reg2, reg3, reg4, reg5, reg6, reg7, reg8, reg9, reg10, reg11, reg12, reg13, reg14, reg15
    case packetMark, ctState, ctZone, ctMark, ctLabelHigh, ctLabelLow, conjunctionID, actsetOutput, recirculationID, dpHash, skbPriority

    public static let count = PacketSlot.allCases.count
}

/// How a field's values are written in flow text.
public enum FieldFormat: Sendable, Hashable {
    case number, mac, ipv4, ipv6, port, ctState, tcpFlags, fragment
}

/// One piece of a field's storage: `bits` bits at `offset` (from bit 0) of a slot.
public struct FieldPart: Sendable, Hashable {
    public var slot: PacketSlot
    public var offset: Int
    public var bits: Int
}

/// How a match on the field is turned into slot masks: most are plain bits; `dl_vlan` and
/// `dl_vlan_pcp` are OpenFlow 1.0 views of `vlan_tci` with their own rules.
public enum FieldMatchKind: Sendable, Hashable { case plain, dlVlan, dlVlanPcp }

/// A named OpenFlow field (ovs-fields(7)): its width, where it is stored, how it is written.
public struct FieldDescriptor: Sendable {
    /// The name OVS prints in matches (`reg5`, `dl_src`, `tun_id`, ...).
    public let name: String
    public let width: Int
    /// Storage pieces, most significant first; their bit counts add up to `width`.
    public let parts: [FieldPart]
    public let format: FieldFormat
    public let matchKind: FieldMatchKind
    /// Bits a match may constrain (nw_tos excludes ECN); nil means all `width` bits.
    public let matchableMask: Bits128?
}

/// An OpenFlow field, by index into `FlowField.descriptors`.
public struct FlowField: Hashable, Sendable, Codable, CustomStringConvertible {
    public let index: Int
    public var descriptor: FieldDescriptor { FlowField.descriptors[index] }
    public var name: String { descriptor.name }
    public var width: Int { descriptor.width }
    public var description: String { name }

    init(index: Int) { self.index = index }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let f = FlowField(named: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown OpenFlow field \(name)")
        }
        self = f
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }

    /// Looks a field up by any of its names: the match name, its aliases, and NXM/OXM names
    /// (`NXM_NX_REG5`, `OXM_OF_METADATA`, `NXM_OF_ETH_SRC`). Nil for fields not modelled.
    public init?(named name: some StringProtocol) {
        guard let i = FlowField.byName[String(name)] ?? FlowField.byName[name.lowercased()] else { return nil }
        self.init(index: i)
    }

    // MARK: The registry

    private static let registry = build()
    public static let descriptors: [FieldDescriptor] = registry.0
    static let byName: [String: Int] = registry.1
    /// Formats and widths by index, for the parser: reading them through `descriptor` copies the
    /// whole descriptor (name and parts) for every value parsed.
    static let formats: [FieldFormat] = descriptors.map(\.format)
    static let widths: [Int] = descriptors.map(\.width)

    private static func build() -> ([FieldDescriptor], [String: Int]) {
        var list: [FieldDescriptor] = []
        var names: [String: Int] = [:]
        func add(_ name: String, _ width: Int, _ parts: [FieldPart], _ format: FieldFormat = .number,
                 kind: FieldMatchKind = .plain, matchable: Bits128? = nil, aliases: [String] = []) {
            let i = list.count
            list.append(FieldDescriptor(name: name, width: width, parts: parts, format: format, matchKind: kind, matchableMask: matchable))
            for n in [name] + aliases { names[n] = i }
        }
        func p(_ s: PacketSlot, _ offset: Int = 0, _ bits: Int) -> FieldPart { FieldPart(slot: s, offset: offset, bits: bits) }

        add("in_port", 16, [p(.inPort, 0, 16)], .port, aliases: ["NXM_OF_IN_PORT"])
        add("in_port_oxm", 32, [p(.inPort, 0, 32)], .port, aliases: ["OXM_OF_IN_PORT"])
        add("dl_src", 48, [p(.ethSrc, 0, 48)], .mac, aliases: ["eth_src", "NXM_OF_ETH_SRC", "OXM_OF_ETH_SRC"])
        add("dl_dst", 48, [p(.ethDst, 0, 48)], .mac, aliases: ["eth_dst", "NXM_OF_ETH_DST", "OXM_OF_ETH_DST"])
        add("dl_type", 16, [p(.ethType, 0, 16)], aliases: ["eth_type", "NXM_OF_ETH_TYPE", "OXM_OF_ETH_TYPE"])
        add("vlan_tci", 16, [p(.vlanTCI, 0, 16)], aliases: ["NXM_OF_VLAN_TCI"])
        add("dl_vlan", 12, [p(.vlanTCI, 0, 12)], kind: .dlVlan)
        add("dl_vlan_pcp", 3, [p(.vlanTCI, 13, 3)], kind: .dlVlanPcp)
        add("vlan_vid", 13, [p(.vlanTCI, 0, 13)], aliases: ["OXM_OF_VLAN_VID"])
        add("vlan_pcp", 3, [p(.vlanTCI, 13, 3)], aliases: ["OXM_OF_VLAN_PCP"])
        add("nw_src", 32, [p(.nwSrc, 0, 32)], .ipv4, aliases: ["ip_src", "ipv4_src", "NXM_OF_IP_SRC", "OXM_OF_IPV4_SRC"])
        add("nw_dst", 32, [p(.nwDst, 0, 32)], .ipv4, aliases: ["ip_dst", "ipv4_dst", "NXM_OF_IP_DST", "OXM_OF_IPV4_DST"])
        add("arp_spa", 32, [p(.nwSrc, 0, 32)], .ipv4, aliases: ["NXM_OF_ARP_SPA", "OXM_OF_ARP_SPA"])
        add("arp_tpa", 32, [p(.nwDst, 0, 32)], .ipv4, aliases: ["NXM_OF_ARP_TPA", "OXM_OF_ARP_TPA"])
        add("arp_op", 16, [p(.nwProto, 0, 16)], aliases: ["NXM_OF_ARP_OP", "OXM_OF_ARP_OP"])
        add("arp_sha", 48, [p(.arpSHA, 0, 48)], .mac, aliases: ["NXM_NX_ARP_SHA", "OXM_OF_ARP_SHA"])
        add("arp_tha", 48, [p(.arpTHA, 0, 48)], .mac, aliases: ["NXM_NX_ARP_THA", "OXM_OF_ARP_THA"])
        add("ipv6_src", 128, [p(.ipv6SrcHigh, 0, 64), p(.ipv6SrcLow, 0, 64)], .ipv6, aliases: ["NXM_NX_IPV6_SRC", "OXM_OF_IPV6_SRC"])
        add("ipv6_dst", 128, [p(.ipv6DstHigh, 0, 64), p(.ipv6DstLow, 0, 64)], .ipv6, aliases: ["NXM_NX_IPV6_DST", "OXM_OF_IPV6_DST"])
        add("ipv6_label", 20, [p(.ipv6Label, 0, 20)], aliases: ["NXM_NX_IPV6_LABEL", "OXM_OF_IPV6_FLABEL"])
        add("nd_target", 128, [p(.ndTargetHigh, 0, 64), p(.ndTargetLow, 0, 64)], .ipv6, aliases: ["NXM_NX_ND_TARGET", "OXM_OF_IPV6_ND_TARGET"])
        add("nd_sll", 48, [p(.arpSHA, 0, 48)], .mac, aliases: ["NXM_NX_ND_SLL", "OXM_OF_IPV6_ND_SLL"])
        add("nd_tll", 48, [p(.arpTHA, 0, 48)], .mac, aliases: ["NXM_NX_ND_TLL", "OXM_OF_IPV6_ND_TLL"])
        add("nw_proto", 8, [p(.nwProto, 0, 8)], aliases: ["ip_proto", "NXM_OF_IP_PROTO", "OXM_OF_IP_PROTO"])
        add("nw_tos", 8, [p(.nwTOS, 0, 8)], matchable: Bits128(low: 0xFC), aliases: ["NXM_OF_IP_TOS"])
        add("ip_dscp", 6, [p(.nwTOS, 2, 6)], aliases: ["OXM_OF_IP_DSCP"])
        add("nw_ecn", 2, [p(.nwTOS, 0, 2)], aliases: ["ip_ecn", "NXM_NX_IP_ECN", "OXM_OF_IP_ECN"])
        add("nw_ttl", 8, [p(.nwTTL, 0, 8)], aliases: ["NXM_NX_IP_TTL"])
        add("nw_frag", 8, [p(.nwFrag, 0, 8)], .fragment, aliases: ["ip_frag", "NXM_NX_IP_FRAG"])
        add("tp_src", 16, [p(.tpSrc, 0, 16)], aliases: ["tcp_src", "udp_src", "sctp_src", "NXM_OF_TCP_SRC", "NXM_OF_UDP_SRC",
                                                       "OXM_OF_TCP_SRC", "OXM_OF_UDP_SRC", "OXM_OF_SCTP_SRC"])
        add("tp_dst", 16, [p(.tpDst, 0, 16)], aliases: ["tcp_dst", "udp_dst", "sctp_dst", "NXM_OF_TCP_DST", "NXM_OF_UDP_DST",
                                                       "OXM_OF_TCP_DST", "OXM_OF_UDP_DST", "OXM_OF_SCTP_DST"])
        add("icmp_type", 8, [p(.tpSrc, 0, 8)], aliases: ["icmpv4_type", "icmpv6_type", "NXM_OF_ICMP_TYPE", "NXM_NX_ICMPV6_TYPE",
                                                        "OXM_OF_ICMPV4_TYPE", "OXM_OF_ICMPV6_TYPE"])
        add("icmp_code", 8, [p(.tpDst, 0, 8)], aliases: ["icmpv4_code", "icmpv6_code", "NXM_OF_ICMP_CODE", "NXM_NX_ICMPV6_CODE",
                                                        "OXM_OF_ICMPV4_CODE", "OXM_OF_ICMPV6_CODE"])
        add("tcp_flags", 12, [p(.tcpFlags, 0, 12)], .tcpFlags, aliases: ["NXM_NX_TCP_FLAGS", "ONF_OXM_OF_TCP_FLAGS"])
        add("tun_id", 64, [p(.tunnelID, 0, 64)], aliases: ["tunnel_id", "NXM_NX_TUN_ID", "OXM_OF_TUNNEL_ID"])
        add("tun_src", 32, [p(.tunnelSrc, 0, 32)], .ipv4, aliases: ["NXM_NX_TUN_IPV4_SRC"])
        add("tun_dst", 32, [p(.tunnelDst, 0, 32)], .ipv4, aliases: ["NXM_NX_TUN_IPV4_DST"])
        add("tun_flags", 16, [p(.tunnelFlags, 0, 16)], aliases: ["NXM_NX_TUN_FLAGS"])
        add("metadata", 64, [p(.metadata, 0, 64)], aliases: ["OXM_OF_METADATA"])
        let regs: [PacketSlot] = [.reg0, .reg1, .reg2, .reg3, .reg4, .reg5, .reg6, .reg7, .reg8, .reg9, .reg10, .reg11, .reg12, .reg13, .reg14, .reg15]
        for (i, r) in regs.enumerated() {
            add("reg\(i)", 32, [p(r, 0, 32)], aliases: ["NXM_NX_REG\(i)"])
        }
        for i in 0..<8 {
            add("xreg\(i)", 64, [p(regs[2 * i], 0, 32), p(regs[2 * i + 1], 0, 32)], aliases: ["OXM_OF_PKT_REG\(i)"])
        }
        for i in 0..<4 {
            add("xxreg\(i)", 128, (0..<4).map { p(regs[4 * i + $0], 0, 32) }, aliases: ["NXM_NX_XXREG\(i)"])
        }
        add("pkt_mark", 32, [p(.packetMark, 0, 32)], aliases: ["NXM_NX_PKT_MARK"])
        add("ct_state", 32, [p(.ctState, 0, 32)], .ctState, aliases: ["NXM_NX_CT_STATE"])
        add("ct_zone", 16, [p(.ctZone, 0, 16)], aliases: ["NXM_NX_CT_ZONE"])
        add("ct_mark", 32, [p(.ctMark, 0, 32)], aliases: ["NXM_NX_CT_MARK"])
        add("ct_label", 128, [p(.ctLabelHigh, 0, 64), p(.ctLabelLow, 0, 64)], aliases: ["NXM_NX_CT_LABEL"])
        add("conj_id", 32, [p(.conjunctionID, 0, 32)], aliases: ["NXM_NX_CONJ_ID"])
        add("actset_output", 32, [p(.actsetOutput, 0, 32)], .port, aliases: ["ONF_OXM_OF_ACTSET_OUTPUT"])
        add("recirc_id", 32, [p(.recirculationID, 0, 32)], aliases: ["NXM_NX_RECIRC_ID"])
        add("dp_hash", 32, [p(.dpHash, 0, 32)], aliases: ["NXM_NX_DP_HASH"])
        add("skb_priority", 32, [p(.skbPriority, 0, 32)])
        return (list, names)
    }

    // Fields the evaluator and the protocol shorthands refer to directly.
    public static let inPort = FlowField(named: "in_port")!
    public static let ethType = FlowField(named: "dl_type")!
    public static let nwProto = FlowField(named: "nw_proto")!
    public static let vlanTCI = FlowField(named: "vlan_tci")!
    public static let tunnelID = FlowField(named: "tun_id")!
    public static let conjunctionID = FlowField(named: "conj_id")!
    public static let ctZone = FlowField(named: "ct_zone")!
    public static let ctMark = FlowField(named: "ct_mark")!
}

/// The protocol shorthands of ovs-fields(7) that a match may start with (`ip`, `tcp6`, `arp`...):
/// each fixes dl_type and sometimes nw_proto.
public enum ProtocolShorthand: String, CaseIterable, Sendable, Codable {
    case eth, ip, ipv6, icmp, icmp6, tcp, tcp6, udp, udp6, sctp, sctp6, arp, rarp, mpls, mplsm

    public var ethType: UInt16? {
        switch self {
        case .eth: nil
        case .ip, .icmp, .tcp, .udp, .sctp: 0x0800
        case .ipv6, .icmp6, .tcp6, .udp6, .sctp6: 0x86DD
        case .arp: 0x0806
        case .rarp: 0x8035
        case .mpls: 0x8847
        case .mplsm: 0x8848
        }
    }
    public var ipProtocol: UInt8? {
        switch self {
        case .icmp: 1
        case .icmp6: 58
        case .tcp, .tcp6: 6
        case .udp, .udp6: 17
        case .sctp, .sctp6: 132
        default: nil
        }
    }
}
