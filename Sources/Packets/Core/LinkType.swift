/// The link-layer header type of a capture: what the first byte of every frame is.
///
/// Values are libpcap's DLT numbers as `pcap_datalink` returns them, which equal the LINKTYPE
/// numbers of pcap and pcapng files except for raw IP (`DLT_RAW` is 12 on Linux, 14 on OpenBSD,
/// while files say LINKTYPE_RAW 101); all three are accepted.
public struct LinkType: RawRepresentable, Hashable, Sendable, BitwiseCopyable, Codable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// BSD loopback: a 4-byte address family in the capturing host's byte order (DLT_NULL).
    public static let null = LinkType(rawValue: 0)
    /// Ethernet II and 802.3 (DLT_EN10MB).
    public static let ethernet = LinkType(rawValue: 1)
    /// Raw IPv4 or IPv6, version nibble first (DLT_RAW on Linux); captures on tun devices use it.
    public static let raw = LinkType(rawValue: 12)
    static let rawOpenBSD = LinkType(rawValue: 14)
    /// LINKTYPE_RAW as written in files.
    public static let rawFile = LinkType(rawValue: 101)
    /// OpenBSD loopback: like `null` but the family is big-endian (DLT_LOOP).
    public static let loop = LinkType(rawValue: 108)
    /// Linux cooked capture v1, used for `any` before libpcap 1.10 (DLT_LINUX_SLL).
    public static let linuxSLL = LinkType(rawValue: 113)
    /// Raw IPv4 only (DLT_IPV4).
    public static let ipv4 = LinkType(rawValue: 228)
    /// Raw IPv6 only (DLT_IPV6).
    public static let ipv6 = LinkType(rawValue: 229)
    /// Linux cooked capture v2, with the interface index (DLT_LINUX_SLL2), used for `any`.
    public static let linuxSLL2 = LinkType(rawValue: 276)

    /// True when the decoders can read frames of this link type.
    public var isSupported: Bool {
        switch self {
        case .null, .ethernet, .raw, .rawOpenBSD, .rawFile, .loop, .linuxSLL, .ipv4, .ipv6, .linuxSLL2: true
        default: false
        }
    }

    /// libpcap's name for the link type (as `tcpdump -r` prints it).
    public var description: String {
        switch self {
        case .null: "NULL"
        case .ethernet: "EN10MB"
        case .raw, .rawOpenBSD, .rawFile: "RAW"
        case .loop: "LOOP"
        case .linuxSLL: "LINUX_SLL"
        case .ipv4: "IPV4"
        case .ipv6: "IPV6"
        case .linuxSLL2: "LINUX_SLL2"
        default: "DLT_\(rawValue)"
        }
    }
}

/// EtherType values the decoders dispatch on (IEEE 802 numbers).
public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let vlan: UInt16 = 0x8100
    public static let qinq: UInt16 = 0x88A8
    /// Pre-standard QinQ outer tag still sent by some switches.
    public static let qinqLegacy: UInt16 = 0x9100
    public static let ipv6: UInt16 = 0x86DD
    /// Transparent Ethernet bridging: the payload is an Ethernet frame (GRE, Geneve).
    public static let transparentEthernet: UInt16 = 0x6558
}

/// IP protocol numbers the decoders dispatch on (IANA "Assigned Internet Protocol Numbers").
public enum IPProtocolNumber {
    public static let hopByHop: UInt8 = 0
    public static let icmp: UInt8 = 1
    public static let ipv4: UInt8 = 4
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let ipv6: UInt8 = 41
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let gre: UInt8 = 47
    public static let authentication: UInt8 = 51
    public static let icmpv6: UInt8 = 58
    public static let noNextHeader: UInt8 = 59
    public static let destinationOptions: UInt8 = 60
}
