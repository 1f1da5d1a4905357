import HopscopeModel

/// Whole Ethernet frames for probes and the lab's tap guest, composed from the protocol
/// encoders: ARP requests and replies, ICMP echo, and any UDP datagram (DHCP, DNS).
///
/// Every frame is padded to 60 bytes and carries correct lengths and checksums, so it can be
/// written to a tap device, an AF_PACKET socket or a pcap file as is. `vlanID` adds an 802.1Q tag.
/// Pure functions; errors are `PacketEncodeError` naming the field that did not fit.
public enum Frames {
    /// A broadcast "who-has `targetIP` tell `senderIP`".
    public static func arpRequest(senderMAC: MACAddress, senderIP: IPv4Address, targetIP: IPv4Address,
                                  vlanID: UInt16? = nil) throws(PacketEncodeError) -> [UInt8] {
        try EthernetHeader.encode(destination: .broadcast, source: senderMAC, etherType: EtherType.arp,
                                  payload: ARPPacket.request(senderMAC: senderMAC, senderIP: senderIP, targetIP: targetIP),
                                  vlanID: vlanID)
    }

    /// "`senderIP` is-at `senderMAC`", sent straight to the asker.
    public static func arpReply(senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address,
                                vlanID: UInt16? = nil) throws(PacketEncodeError) -> [UInt8] {
        try EthernetHeader.encode(destination: targetMAC, source: senderMAC, etherType: EtherType.arp,
                                  payload: ARPPacket.reply(senderMAC: senderMAC, senderIP: senderIP, targetMAC: targetMAC, targetIP: targetIP),
                                  vlanID: vlanID)
    }

    /// An IPv4 datagram carrying `payload` (already encoded, `protocol` says what it is).
    public static func ipv4(from sourceMAC: MACAddress, to destinationMAC: MACAddress, source: IPv4Address,
                            destination: IPv4Address, protocol proto: UInt8, payload: [UInt8], timeToLive: UInt8 = 64,
                            identification: UInt16 = 0, dontFragment: Bool = false,
                            vlanID: UInt16? = nil) throws(PacketEncodeError) -> [UInt8] {
        let datagram = try IPv4Header.encode(source: source, destination: destination, protocol: proto, payload: payload,
                                             timeToLive: timeToLive, identification: identification, dontFragment: dontFragment)
        return try EthernetHeader.encode(destination: destinationMAC, source: sourceMAC, etherType: EtherType.ipv4,
                                         payload: datagram, vlanID: vlanID)
    }

    /// An ICMP echo request (or reply, with `reply`) from `source` to `destination`.
    public static func icmpEcho(reply: Bool = false, from sourceMAC: MACAddress, to destinationMAC: MACAddress,
                                source: IPv4Address, destination: IPv4Address, identifier: UInt16, sequence: UInt16,
                                data: [UInt8], timeToLive: UInt8 = 64, identification: UInt16 = 0,
                                vlanID: UInt16? = nil) throws(PacketEncodeError) -> [UInt8] {
        let icmp = reply
            ? ICMPHeader.echoReply(identifier: identifier, sequence: sequence, data: data)
            : ICMPHeader.echoRequest(identifier: identifier, sequence: sequence, data: data)
        return try ipv4(from: sourceMAC, to: destinationMAC, source: source, destination: destination, protocol: IPProtocolNumber.icmp,
                        payload: icmp, timeToLive: timeToLive, identification: identification, vlanID: vlanID)
    }

    /// A UDP datagram; DHCP clients send from 0.0.0.0:68 to 255.255.255.255:67 with the
    /// broadcast MAC, DNS queries from an ephemeral port to 53.
    public static func udp(from sourceMAC: MACAddress, to destinationMAC: MACAddress, source: IPv4Address,
                           destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8],
                           timeToLive: UInt8 = 64, identification: UInt16 = 0,
                           vlanID: UInt16? = nil) throws(PacketEncodeError) -> [UInt8] {
        let datagram = try UDPHeader.encode(sourcePort: sourcePort, destinationPort: destinationPort, payload: payload,
                                            source: source, destination: destination)
        return try ipv4(from: sourceMAC, to: destinationMAC, source: source, destination: destination, protocol: IPProtocolNumber.udp,
                        payload: datagram, timeToLive: timeToLive, identification: identification, vlanID: vlanID)
    }
}
