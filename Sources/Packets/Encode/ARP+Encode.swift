import HopscopeModel

// ARP encoder for Ethernet and IPv4 (see Protocols/ARP.swift for the layout).

extension ARPPacket {
    /// The 28-byte ARP packet for Ethernet hardware and IPv4 protocol addresses.
    public static func encode(opcode: UInt16, senderMAC: MACAddress, senderIP: IPv4Address,
                              targetMAC: MACAddress, targetIP: IPv4Address) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(28)
        out.append16(1)                     // ar$hrd: Ethernet
        out.append16(EtherType.ipv4)        // ar$pro
        out.append(6)                       // ar$hln
        out.append(4)                       // ar$pln
        out.append16(opcode)
        out.append(senderMAC)
        out.append(senderIP)
        out.append(targetMAC)
        out.append(targetIP)
        return out
    }

    /// "who-has `targetIP` tell `senderIP`": a request with an all-zero target hardware address.
    public static func request(senderMAC: MACAddress, senderIP: IPv4Address, targetIP: IPv4Address) -> [UInt8] {
        encode(opcode: 1, senderMAC: senderMAC, senderIP: senderIP, targetMAC: .zero, targetIP: targetIP)
    }

    /// "`senderIP` is-at `senderMAC`", answering the request of `targetMAC`/`targetIP`.
    public static func reply(senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address) -> [UInt8] {
        encode(opcode: 2, senderMAC: senderMAC, senderIP: senderIP, targetMAC: targetMAC, targetIP: targetIP)
    }
}
