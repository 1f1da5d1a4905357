import Foundation
import HopscopeModel
import Namespaces
import Packets

/// Where probes leave from: a namespace with an interface in it (the lab instance's own
/// namespace, a router or DHCP namespace as neutron-debug uses them, or a probe port's namespace).
public struct ProbeOrigin: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// The instance's own network namespace (the lab's namespace instances).
        case instance
        /// A router (qrouter-) or DHCP (qdhcp-) namespace, or another namespace of the snapshots.
        case service
        /// A temporary probe port on the instance's integration bridge, in a namespace of its own.
        case probePort
    }
    public var kind: Kind
    /// The namespace as `ip netns` names it (nil: this process's own namespace).
    public var namespaceName: String?
    public var pid: Int32?
    public var interface: String
    public var mac: MACAddress
    /// The address probes are sent from (nil for a probe port without one: only link-layer probes then).
    public var address: IPv4Address?
    /// In words: `vm1 (namespace hsprobe-vm1, eth0)`.
    public var label: String

    public init(kind: Kind, namespaceName: String?, pid: Int32? = nil, interface: String, mac: MACAddress, address: IPv4Address?, label: String) {
        self.kind = kind
        self.namespaceName = namespaceName
        self.pid = pid
        self.interface = interface
        self.mac = mac
        self.address = address
        self.label = label
    }

    public var namespace: NamespaceRef {
        if let namespaceName { return .named(namespaceName) }
        if let pid { return .process(pid) }
        return .current
    }

    public var description: String { label }
}

/// What a DHCP server offered or acknowledged, as read from its reply.
public struct DHCPReply: Sendable, Hashable, Codable {
    /// `DHCPOFFER`, `DHCPACK`, `DHCPNAK`.
    public var messageType: String
    public var yourAddress: IPv4Address?
    public var serverID: IPv4Address?
    public var subnetMask: IPv4Address?
    public var router: [IPv4Address]
    public var dnsServers: [IPv4Address]
    public var mtu: Int?
    public var leaseSeconds: UInt32?
    public var domainName: String?
    /// A NAK's message (option 56).
    public var message: String?
    /// The reply as tcpdump would summarise it.
    public var summary: String
}

/// A DNS response as the prober read it.
public struct DNSReply: Sendable, Hashable, Codable {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, ...
    public var rcode: String
    public var addresses: [IPAddress]
    /// The answer records in words: `www.example.org. A 198.51.100.10`.
    public var answers: [String]
}

/// What one probe got back at its origin.
public struct ProbeResult: Sendable, Codable {
    public var probe: Probe
    public var origin: ProbeOrigin
    /// True when the answer came back (echo reply, ARP reply, SYN-ACK, DHCPACK, DNS response).
    public var answered: Bool
    /// In words: `3/3 echo replies`, `connection refused (RST)`, `no DHCPOFFER within 3 s`.
    public var detail: String
    public var dhcpOffer: DHCPReply?
    public var dhcpAck: DHCPReply?
    public var dns: DNSReply?
}

/// Sends one probe from an origin and waits a bounded time for its answer.
///
/// Every socket is made on a thread inside the origin's namespace (`ProbeSockets`). Nothing
/// persists: DHCP uses the instance's MAC and takes the lease it already has (no release, which
/// would take it away from the instance). Throws `SystemCallError` when a socket cannot be made
/// (missing interface, no permission); a probe that gets no answer is a result, not an error.
public enum ProbeSender {
    public static func send(_ probe: Probe, from origin: ProbeOrigin, timeout: Duration = .seconds(2)) async throws -> ProbeResult {
        var r = ProbeResult(probe: probe, origin: origin, answered: false, detail: "")
        let ns = origin.namespace
        switch probe.kind {
        case .ping(let count):
            guard let dst = probe.destination else { throw ProbeError.noDestination(probe.kind) }
            let answered = try await ProbeSockets.ping(in: ns, to: dst, identifier: probe.identifier, count: count, data: probe.marker, timeout: timeout)
            r.answered = !answered.isEmpty
            r.detail = "\(answered.count)/\(count) echo replies from \(dst)"
        case .arp:
            guard let dst = probe.destination else { throw ProbeError.noDestination(probe.kind) }
            let frame = try Frames.arpRequest(senderMAC: origin.mac, senderIP: origin.address ?? .any, targetIP: dst)
            let mac: MACAddress? = try await ProbeSockets.withPacketSocket(in: ns, interface: origin.interface) { s in
                try s.send(frame)
                return s.receive(until: ProbeSockets.deadline(timeout)) { f in
                    guard probe.leg(of: f) == .answer, case .arp(let a)? = Packet(decoding: f, linkType: .ethernet).headers(in: f).first(where: { if case .arp = $0 { true } else { false } })
                    else { return nil }
                    return a.senderHardwareAddress
                }
            }
            r.answered = mac != nil
            r.detail = mac.map { "\(dst) is at \($0)" } ?? "no ARP reply for \(dst) within \(timeout)"
        case .udp(let port):
            guard let dst = probe.destination else { throw ProbeError.noDestination(probe.kind) }
            let (answer, _) = try await ProbeSockets.udpExchange(in: ns, to: dst, port: port, sourcePort: probe.sourcePort,
                                                                 payload: probe.marker, timeout: timeout)
            switch answer {
            case .reply(let bytes): r.answered = true; r.detail = "\(bytes.count)-byte reply from \(dst):\(port)"
            case .refused: r.answered = true; r.detail = "\(dst) answered port \(port) unreachable (ICMP): the datagram arrived, nothing listens"
            case .noReply: r.detail = "no reply from \(dst):\(port) within \(timeout) (UDP: silence also happens when the datagram arrived)"
            }
        case .tcp(let port):
            guard let dst = probe.destination else { throw ProbeError.noDestination(probe.kind) }
            let outcome = try await ProbeSockets.tcpConnect(in: ns, to: dst, port: port, sourcePort: probe.sourcePort, timeout: timeout)
            r.answered = outcome != "timed out"
            r.detail = "TCP \(dst):\(port): \(outcome)"
        case .dhcp:
            guard let client = probe.clientMAC else { throw ProbeError.noClientMAC }
            let (offer, ack) = try await dhcpExchange(probe, client: client, origin: origin, timeout: timeout)
            r.dhcpOffer = offer
            r.dhcpAck = ack
            r.answered = ack?.messageType == "DHCPACK"
            if let ack {
                r.detail = ack.messageType == "DHCPACK"
                    ? "DHCPOFFER and DHCPACK of \(ack.yourAddress?.description ?? "?") from \(ack.serverID?.description ?? "?")"
                    : "\(ack.messageType)\(ack.message.map { ": \($0)" } ?? "") from \(ack.serverID?.description ?? "?")"
            } else if offer != nil {
                r.detail = "DHCPOFFER but no answer to the DHCPREQUEST within \(timeout)"
            } else {
                r.detail = "no DHCPOFFER within \(timeout) for \(client)"
            }
        case .dns(let name):
            guard let dst = probe.destination else { throw ProbeError.noDestination(probe.kind) }
            let query = try DNSMessage.encodeQuery(id: probe.identifier, name: name)
            let (answer, _) = try await ProbeSockets.udpExchange(in: ns, to: dst, port: 53, sourcePort: probe.sourcePort,
                                                                 payload: query, timeout: timeout)
            switch answer {
            case .reply(let bytes):
                r.answered = true
                let reply = decodeDNS(bytes, from: dst)
                r.dns = reply
                r.detail = "\(reply?.rcode ?? "undecodable reply") from \(dst)" + (reply.map { $0.answers.isEmpty ? "" : ": " + $0.answers.joined(separator: ", ") } ?? "")
            case .refused: r.detail = "\(dst) answered port 53 unreachable: no DNS server listens there"
            case .noReply: r.detail = "no DNS response from \(dst) within \(timeout)"
            }
        }
        return r
    }

    /// DISCOVER (broadcast flag set, so that replies come back to any port), OFFER, REQUEST of
    /// the offered address, ACK or NAK, on a packet socket on the origin's interface.
    static func dhcpExchange(_ probe: Probe, client: MACAddress, origin: ProbeOrigin, timeout: Duration) async throws -> (DHCPReply?, DHCPReply?) {
        let xid = probe.transactionID
        let discover = try Frames.udp(from: origin.mac, to: .broadcast, source: .any, destination: IPv4Address(255, 255, 255, 255),
                                      sourcePort: 68, destinationPort: 67,
                                      payload: DHCPMessage.discover(xid: xid, clientMAC: client, broadcast: true))
        return try await ProbeSockets.withPacketSocket(in: origin.namespace, interface: origin.interface) { s in
            func reply(_ f: [UInt8]) -> DHCPReply? {
                let p = Packet(decoding: f, linkType: .ethernet)
                guard case .dhcp(let m)? = p.headers(in: f).last(where: { if case .dhcp = $0 { true } else { false } }),
                      m.xid == xid, m.op == 2 else { return nil }
                return ProbeSender.dhcpReply(m, frame: f)
            }
            try s.send(discover)
            guard let offer = s.receive(until: ProbeSockets.deadline(timeout), reply), offer.messageType == "DHCPOFFER" else { return (nil, nil) }
            let request = try Frames.udp(from: origin.mac, to: .broadcast, source: .any, destination: IPv4Address(255, 255, 255, 255),
                                         sourcePort: 68, destinationPort: 67,
                                         payload: DHCPMessage.request(xid: xid, clientMAC: client, requestedAddress: offer.yourAddress,
                                                                      serverID: offer.serverID, broadcast: true))
            try s.send(request)
            let ack = s.receive(until: ProbeSockets.deadline(timeout)) { f in reply(f).flatMap { $0.messageType == "DHCPOFFER" ? nil : $0 } }
            return (offer, ack)
        }
    }

    static func dhcpReply(_ m: DHCPMessage, frame: [UInt8]) -> DHCPReply {
        let options = frame.withUnsafeBytes { (try? DHCPOption.all(in: $0, of: m)) ?? [] }
        func first(_ code: UInt8) -> DHCPOption? { options.first { $0.code == code } }
        let type = m.messageType.map { "DHCP" + "\($0)".uppercased() } ?? "BOOTREPLY"
        return DHCPReply(
            messageType: type, yourAddress: m.yiaddr == .any ? nil : m.yiaddr,
            serverID: first(DHCPOption.Code.serverIdentifier)?.addresses?.first,
            subnetMask: first(DHCPOption.Code.subnetMask)?.addresses?.first,
            router: first(DHCPOption.Code.router)?.addresses ?? [],
            dnsServers: first(DHCPOption.Code.domainNameServer)?.addresses ?? [],
            mtu: first(DHCPOption.Code.interfaceMTU)?.number.map(Int.init),
            leaseSeconds: first(DHCPOption.Code.ipAddressLeaseTime)?.number,
            domainName: first(DHCPOption.Code.domainName)?.text,
            message: first(DHCPOption.Code.message)?.text,
            summary: Probe.summary(of: frame))
    }

    /// Decodes a DNS response received on a UDP socket. The decoders work on whole frames, so the
    /// payload is wrapped in the UDP/IP/Ethernet headers it arrived in first.
    static func decodeDNS(_ payload: [UInt8], from server: IPv4Address) -> DNSReply? {
        guard let frame = try? Frames.udp(from: .zero, to: .zero, source: server, destination: .any, sourcePort: 53,
                                          destinationPort: 53, payload: payload) else { return nil }
        let p = Packet(decoding: frame, linkType: .ethernet)
        guard case .dns(let m)? = p.headers(in: frame).last(where: { if case .dns = $0 { true } else { false } }) else { return nil }
        let records = frame.withUnsafeBytes { m.readableRecords(.answer, in: $0).0 }
        return DNSReply(rcode: DNSResponseCode.name(UInt16(m.rcode)).uppercased(), addresses: records.compactMap(\.address),
                        answers: records.map { "\($0.name) \(DNSRecordType.mnemonic($0.type)) \($0.address?.description ?? $0.target ?? "")" })
    }
}

/// A probe that cannot be sent as asked.
public enum ProbeError: Error, CustomStringConvertible, Equatable {
    case noDestination(ProbeKind)
    case noClientMAC
    case noSourceAddress(String)

    public var description: String {
        switch self {
        case .noDestination(let k): "\(k) needs a destination address"
        case .noClientMAC: "a DHCP probe needs the instance's MAC address (not found in the snapshot)"
        case .noSourceAddress(let o): "\(o) has no IPv4 address to send from; only ARP and DHCP probes can leave from it"
        }
    }
}
