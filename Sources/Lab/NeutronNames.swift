import Foundation
import HopscopeModel

/// Neutron's and Nova's device, port and chain naming rules, so the lab looks like a real cloud.
public enum NeutronNames {
    /// Linux limits interface names to 15 characters; Neutron uses a 3-character prefix plus the
    /// first 11 characters of the port UUID (14 in all).
    public static let deviceNameLength = 14

    /// The first 11 characters of a port UUID, the part every device name carries.
    public static func stem(_ portID: String) -> String { String(portID.prefix(11)) }

    /// `tap<11>`: the instance's tap device (Nova), or the root-namespace end of an agent port.
    public static func tap(_ portID: String) -> String { "tap" + stem(portID) }
    /// `qbr<11>`: the per-port Linux bridge of the hybrid plug.
    public static func qbr(_ portID: String) -> String { "qbr" + stem(portID) }
    /// `qvb<11>`: the bridge end of the qvb/qvo veth pair.
    public static func qvb(_ portID: String) -> String { "qvb" + stem(portID) }
    /// `qvo<11>`: the OVS end of the qvb/qvo veth pair, on br-int.
    public static func qvo(_ portID: String) -> String { "qvo" + stem(portID) }

    /// `vxlan-<remote IPv4 in 8 hex digits>`, as the OVS agent names tunnel ports.
    public static func vxlanPort(remote: IPv4Address) -> String {
        "vxlan-" + String(format: "%08x", remote.value)
    }

    /// The hybrid firewall's wrapped chain name `neutron-openvswi-<d><first 10 of port id>`:
    /// iptables_manager truncates the unwrapped name to 11 characters, keeping the whole name
    /// under iptables' 29-character limit.
    public static func securityGroupChain(direction: Character, portID: String) -> String {
        securityGroupChainPrefix + String(String(direction) + portID).prefix(11)
    }

    /// The hybrid OVS agent's iptables wrap name ("neutron-openvswitch-agent" cut to 16) and dash.
    public static let securityGroupChainPrefix = "neutron-openvswi-"
    /// The L3 agent's iptables wrap name and dash.
    public static let routerChainPrefix = "neutron-l3-agent-"

    /// The MAC Nova gives an instance's tap device: the port MAC with the first byte `fe`, so the
    /// host side never answers for the guest's address.
    public static func tapMAC(for portMAC: MACAddress) -> MACAddress {
        MACAddress(value: (portMAC.value & 0x00FF_FFFF_FFFF) | 0xFE00_0000_0000)
    }

    /// The IPv6 link-local address (EUI-64) of `mac`, as the OVS agent's ND-spoofing flows use it.
    public static func linkLocalIPv6(for mac: MACAddress) -> String {
        let b = mac.bytes
        let groups = [
            UInt16(b[0] ^ 0x02) << 8 | UInt16(b[1]),
            UInt16(b[2]) << 8 | 0xFF,
            0xFE00 | UInt16(b[3]),
            UInt16(b[4]) << 8 | UInt16(b[5]),
        ]
        return "fe80::" + groups.map { String($0, radix: 16) }.joined(separator: ":")
    }

    /// The DNS name Neutron's dnsmasq gives a port with `address` (`host-10-0-0-11`).
    public static func hostName(for address: IPv4Address) -> String {
        "host-" + address.description.replacingOccurrences(of: ".", with: "-")
    }
}

/// Stable pseudo-random identifiers (UUIDs, MACs, cookies) derived from a seed and a label, so a
/// lab's plan is the same every time and yet looks like a real deployment's random ids.
struct DeterministicIDs: Sendable {
    let seed: String

    /// 128 well-mixed bits for `label`: FNV-1a over seed and label, then two splitmix64 rounds.
    func bits(_ label: String) -> (UInt64, UInt64) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(seed)|\(label)".utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var state = h
        return (splitmix(&state), splitmix(&state))
    }

    /// A version-4 style UUID in lower-case text.
    func uuid(_ label: String) -> String {
        var (hi, lo) = bits(label)
        hi = (hi & ~0xF000) | 0x4000                            // version 4
        lo = (lo & ~(0xC000 << 48)) | (0x8000 << 48)            // RFC 4122 variant
        let hex = String(format: "%016llx%016llx", hi, lo)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-"
            + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    /// A MAC in Neutron's default base `fa:16:3e:xx:xx:xx`.
    func neutronMAC(_ label: String) -> MACAddress {
        MACAddress(value: 0xFA16_3E00_0000 | (bits(label).0 & 0xFF_FFFF))
    }

    /// A 64-bit OpenFlow cookie, as the OVS agent draws one per bridge.
    func cookie(_ label: String) -> UInt64 { bits(label).1 }
}
