/// The protocols the decoders know, by the short name used in JSON, errors and `--json` output.
public enum ProtocolID: String, Sendable, BitwiseCopyable, Codable, CaseIterable {
    case ethernet
    case vlan
    case linuxSLL = "sll"
    case linuxSLL2 = "sll2"
    case nullLoopback = "null"
    case arp
    case ipv4
    case ipv6
    case ipv6Extension = "ipv6-extension"
    case icmp
    case icmpv6
    case udp
    case tcp
    case gre
    case vxlan
    case geneve
    case dhcp
    case dns
    case payload
}
