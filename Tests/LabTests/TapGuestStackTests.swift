import HopscopeModel
import Packets
import Testing
@testable import Lab

/// The tap guest's protocol logic, frame by frame and without root: a fake DHCP server, router
/// and neighbours (built with the Packets encoders) talk to a `TapGuestStack`, and every frame
/// it sends back is read with the Packets decoders.
@Suite struct TapGuestStackTests {
    static let guestMAC = MACAddress("fa:16:3e:b4:75:47")!
    static let serverMAC = MACAddress("fa:16:3e:00:00:02")!
    static let routerMAC = MACAddress("fa:16:3e:00:00:01")!
    static let neighbourMAC = MACAddress("fa:16:3e:00:00:12")!
    static let guestIP = IPv4Address(10, 0, 0, 31)
    static let serverIP = IPv4Address(10, 0, 0, 2)
    static let routerIP = IPv4Address(10, 0, 0, 1)
    static let gateway = IPv4Address(203, 0, 113, 1)
    static let allowed = [IPPrefix("10.0.0.0/24")!, IPPrefix("203.0.113.0/24")!]

    static func lease(seconds: UInt32 = 100, t1: UInt32? = nil, t2: UInt32? = nil) -> DHCPMessage.LeaseOptions {
        DHCPMessage.LeaseOptions(subnetMask: IPv4Address(255, 255, 255, 0), routers: [routerIP], dnsServers: [serverIP],
                                 domainName: "openstacklocal", mtu: 1450, leaseSeconds: seconds,
                                 renewalSeconds: t1, rebindingSeconds: t2)
    }

    /// A decoded frame the guest sent.
    struct Sent {
        let bytes: [UInt8]
        let packet: Packet
        let layers: [LayerHeader]
        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            packet = Packet(decoding: bytes, linkType: .ethernet)
            layers = packet.headers(in: bytes)
        }
        var ethernet: EthernetHeader? { if case .ethernet(let e) = layers.first { e } else { nil } }
        var arp: ARPPacket? { layers.lazy.compactMap { if case .arp(let a) = $0 { a } else { nil } }.first }
        var ip: IPv4Header? { layers.lazy.compactMap { if case .ipv4(let h) = $0 { h } else { nil } }.first }
        var icmp: ICMPHeader? { layers.lazy.compactMap { if case .icmp(let h) = $0 { h } else { nil } }.first }
        var udp: UDPHeader? { layers.lazy.compactMap { if case .udp(let h) = $0 { h } else { nil } }.first }
        var dhcp: DHCPMessage? { layers.lazy.compactMap { if case .dhcp(let m) = $0 { m } else { nil } }.first }
        func dhcpOption(_ code: UInt8) -> DHCPOption? {
            guard let dhcp else { return nil }
            return bytes.withUnsafeBytes { b in (try? DHCPOption.all(in: b, of: dhcp))?.first { $0.code == code } }
        }
    }

    static func only(_ frames: [[UInt8]], sourceLocation: SourceLocation = #_sourceLocation) throws -> Sent {
        try #require(frames.count == 1, "expected one frame, got \(frames.count)", sourceLocation: sourceLocation)
        return Sent(frames[0])
    }

    static func fromServer(_ message: [UInt8], to mac: MACAddress = guestMAC) throws -> [UInt8] {
        try Frames.udp(from: serverMAC, to: mac, source: serverIP, destination: guestIP, sourcePort: 67, destinationPort: 68, payload: message)
    }

    /// A guest taken through DISCOVER, OFFER, REQUEST and ACK at time 0.
    static func boundGuest(lease: DHCPMessage.LeaseOptions = lease()) throws -> TapGuestStack {
        var guest = TapGuestStack(identity: .init(mac: guestMAC, hostName: "tapvm1"), allowedTargets: allowed, seed: 42)
        let discover = try only(guest.start(now: 0))
        let xid = try #require(discover.dhcp).xid
        let request = try only(guest.receive(try fromServer(DHCPMessage.offer(xid: xid, clientMAC: guestMAC, yourAddress: guestIP,
                                                                              serverID: serverIP, lease: lease)), now: 0.01))
        #expect(request.dhcp?.messageType == .request)
        #expect(guest.receive(try fromServer(DHCPMessage.ack(xid: xid, clientMAC: guestMAC, yourAddress: guestIP,
                                                              serverID: serverIP, lease: lease)), now: 0.02).isEmpty)
        return guest
    }

    // MARK: DHCP

    @Test func bootsWithDiscoverRequestAndHonoursTheAck() throws {
        var guest = TapGuestStack(identity: .init(mac: Self.guestMAC, hostName: "tapvm1"), allowedTargets: Self.allowed, seed: 7)
        let discover = try Self.only(guest.start(now: 0))
        #expect(discover.packet.issue == nil)
        #expect(discover.ethernet?.destination == .broadcast && discover.ethernet?.source == Self.guestMAC)
        #expect(discover.ip?.source == .any && discover.ip?.destination == .broadcast)
        #expect(discover.udp?.sourcePort == 68 && discover.udp?.destinationPort == 67)
        let d = try #require(discover.dhcp)
        #expect(d.messageType == .discover && d.clientHardwareAddress == Self.guestMAC && d.op == 1)
        #expect(discover.dhcpOption(DHCPOption.Code.hostName)?.text == "tapvm1")
        #expect(discover.dhcpOption(DHCPOption.Code.clientIdentifier)?.clientIdentifierMAC == Self.guestMAC)
        let asked = try #require(discover.dhcpOption(DHCPOption.Code.parameterRequestList)?.parameterRequestList)
        for code in [DHCPOption.Code.router, DHCPOption.Code.domainNameServer, DHCPOption.Code.interfaceMTU] { #expect(asked.contains(code)) }
        #expect(guest.dhcpState == .selecting)

        // An offer for another transaction or another client is ignored.
        #expect(guest.receive(try Self.fromServer(DHCPMessage.offer(xid: d.xid &+ 1, clientMAC: Self.guestMAC, yourAddress: Self.guestIP,
                                                                    serverID: Self.serverIP, lease: Self.lease())), now: 0.1).isEmpty)
        let request = try Self.only(guest.receive(try Self.fromServer(DHCPMessage.offer(
            xid: d.xid, clientMAC: Self.guestMAC, yourAddress: Self.guestIP, serverID: Self.serverIP, lease: Self.lease())), now: 0.1))
        let r = try #require(request.dhcp)
        #expect(r.messageType == .request && r.xid == d.xid && r.ciaddr == .any)
        #expect(request.ethernet?.destination == .broadcast)
        #expect(request.dhcpOption(DHCPOption.Code.requestedIPAddress)?.addresses == [Self.guestIP])
        #expect(request.dhcpOption(DHCPOption.Code.serverIdentifier)?.addresses == [Self.serverIP])
        #expect(guest.dhcpState == .requesting)

        let before = guest.leaseGeneration
        #expect(guest.receive(try Self.fromServer(DHCPMessage.ack(xid: d.xid, clientMAC: Self.guestMAC, yourAddress: Self.guestIP,
                                                                  serverID: Self.serverIP, lease: Self.lease())), now: 0.2).isEmpty)
        #expect(guest.dhcpState == .bound && guest.leaseGeneration > before)
        let lease = try #require(guest.lease)
        #expect(lease.address == Self.guestIP && lease.prefixLength == 24 && lease.router == Self.routerIP)
        #expect(lease.dnsServers == [Self.serverIP] && lease.domainName == "openstacklocal" && lease.mtu == 1450)
        #expect(lease.serverID == Self.serverIP && lease.serverMAC == Self.serverMAC && lease.leaseSeconds == 100)
        // Without options 58 and 59, T1 and T2 are 1/2 and 7/8 of the lease (RFC 2131 4.4.5).
        #expect(lease.renewalSeconds == 50 && lease.rebindingSeconds == 84 && lease.acknowledgements == 1)
    }

    @Test func bootingRetriesForeverWithACappedBackOff() throws {
        var guest = TapGuestStack(identity: .init(mac: Self.guestMAC, hostName: "tapvm1"), allowedTargets: Self.allowed, seed: 9)
        _ = guest.start(now: 0)
        var sentAt: [Double] = [0]
        var t = 0.0
        while t < 40 {
            t += 0.1
            for frame in guest.tick(now: t) where Sent(frame).dhcp?.messageType == .discover { sentAt.append(t) }
        }
        let gaps = zip(sentAt.dropFirst(), sentAt).map { ($0 - $1).rounded() }
        #expect(Array(gaps.prefix(5)) == [1, 2, 4, 8, 8], "\(gaps)")
        #expect(guest.lease == nil && guest.dhcpState == .selecting)
    }

    @Test func renewsUnicastAtT1ThroughARPAndRebindsAtT2() throws {
        var guest = try Self.boundGuest(lease: Self.lease(seconds: 100, t1: 30, t2: 60))
        #expect(guest.tick(now: 29).isEmpty)
        // T1: the server's MAC is unknown, so ARP goes first; the REQUEST follows the reply.
        let arp = try Self.only(guest.tick(now: 30.1))
        #expect(arp.arp?.isRequest == true && arp.arp?.targetProtocolAddress == Self.serverIP && arp.arp?.senderProtocolAddress == Self.guestIP)
        #expect(guest.dhcpState == .renewing)
        let renew = try Self.only(guest.receive(try Frames.arpReply(senderMAC: Self.serverMAC, senderIP: Self.serverIP,
                                                                   targetMAC: Self.guestMAC, targetIP: Self.guestIP), now: 30.2))
        let r = try #require(renew.dhcp)
        #expect(r.messageType == .request && r.ciaddr == Self.guestIP)
        #expect(renew.ethernet?.destination == Self.serverMAC && renew.ip?.source == Self.guestIP && renew.ip?.destination == Self.serverIP)
        #expect(renew.dhcpOption(DHCPOption.Code.serverIdentifier) == nil && renew.dhcpOption(DHCPOption.Code.requestedIPAddress) == nil)
        #expect(renew.packet.issue == nil)

        // No answer: at T2 it rebinds with a broadcast REQUEST, still from its address.
        let rebind = try Self.only(guest.tick(now: 60.1))
        #expect(guest.dhcpState == .rebinding)
        #expect(rebind.ethernet?.destination == .broadcast && rebind.ip?.destination == .broadcast && rebind.dhcp?.ciaddr == Self.guestIP)
        let xid = try #require(rebind.dhcp).xid
        #expect(guest.receive(try Self.fromServer(DHCPMessage.ack(xid: xid, clientMAC: Self.guestMAC, yourAddress: Self.guestIP,
                                                                  serverID: Self.serverIP, lease: Self.lease(seconds: 100, t1: 30, t2: 60))),
                              now: 61).isEmpty)
        let lease = try #require(guest.lease)
        #expect(guest.dhcpState == .bound && lease.acknowledgements == 2 && lease.boundAt == 61)
    }

    @Test func anExpiredLeaseIsDroppedAndANakRestartsDiscovery() throws {
        var guest = try Self.boundGuest(lease: Self.lease(seconds: 100, t1: 90, t2: 95))
        _ = guest.tick(now: 90.5)
        let discover = try Self.only(guest.tick(now: 100.1).filter { Sent($0).dhcp != nil })
        #expect(guest.lease == nil && discover.dhcp?.messageType == .discover && guest.dhcpState == .selecting)

        var renewed = try Self.boundGuest()
        let request = try Self.only(renewed.receive(try Frames.arpReply(senderMAC: Self.serverMAC, senderIP: Self.serverIP,
                                                                       targetMAC: Self.guestMAC, targetIP: Self.guestIP), now: 1)
                                        + renewed.perform(.renew, id: "r1", now: 1))
        let xid = try #require(request.dhcp).xid
        let after = try Self.only(renewed.receive(try Self.fromServer(DHCPMessage.nak(xid: xid, clientMAC: Self.guestMAC, serverID: Self.serverIP,
                                                                                     message: "wrong network")), now: 1.1))
        #expect(after.dhcp?.messageType == .discover && renewed.lease == nil)
        let outcome = try #require(renewed.takeFinished().first)
        #expect(outcome.id == "r1" && !outcome.succeeded && outcome.detail.contains("DHCPNAK from 10.0.0.2: wrong network"))
    }

    @Test func aCommandedExchangeKeepsTheLeaseWhenNobodyAnswers() throws {
        var guest = try Self.boundGuest()
        let discover = try Self.only(guest.perform(.dhcp, id: "x", now: 5))
        #expect(discover.dhcp?.messageType == .discover)
        #expect(discover.dhcpOption(DHCPOption.Code.requestedIPAddress)?.addresses == [Self.guestIP])
        #expect(guest.perform(.dhcp, id: "y", now: 5.1).isEmpty)
        #expect(guest.takeFinished().map(\.id) == ["y"], "a second exchange is refused while one runs")
        var t = 5.0
        while t < 9 { t += 0.1; _ = guest.tick(now: t) }
        let outcome = try #require(guest.takeFinished().first)
        #expect(!outcome.succeeded && outcome.detail == "no DHCPOFFER after 3 DHCPDISCOVERs")
        #expect(guest.dhcpState == .bound && guest.lease?.address == Self.guestIP)
        // The guest still answers for its address.
        #expect(!guest.receive(try Frames.arpRequest(senderMAC: Self.routerMAC, senderIP: Self.routerIP, targetIP: Self.guestIP), now: 9.5).isEmpty)
    }

    @Test func releasesItsLeaseOnTheWayOut() throws {
        var guest = try Self.boundGuest()
        let release = try Self.only(guest.release(now: 3))
        #expect(release.dhcp?.messageType == .release && release.dhcp?.ciaddr == Self.guestIP)
        #expect(release.ethernet?.destination == Self.serverMAC && release.ip?.destination == Self.serverIP)
        #expect(guest.lease == nil && guest.release(now: 4).isEmpty)
    }

    // MARK: ARP and ICMP

    @Test func answersARPForItsAddressOnly() throws {
        var guest = try Self.boundGuest()
        let reply = try Self.only(guest.receive(try Frames.arpRequest(senderMAC: Self.routerMAC, senderIP: Self.routerIP, targetIP: Self.guestIP), now: 1))
        let arp = try #require(reply.arp)
        #expect(arp.isReply && arp.senderHardwareAddress == Self.guestMAC && arp.senderProtocolAddress == Self.guestIP)
        #expect(arp.targetHardwareAddress == Self.routerMAC && arp.targetProtocolAddress == Self.routerIP)
        #expect(reply.ethernet?.destination == Self.routerMAC && reply.bytes.count == 60)
        #expect(guest.receive(try Frames.arpRequest(senderMAC: Self.routerMAC, senderIP: Self.routerIP, targetIP: IPv4Address(10, 0, 0, 12)), now: 1).isEmpty)
        // Before it has a lease it answers nothing.
        var booting = TapGuestStack(identity: .init(mac: Self.guestMAC, hostName: "tapvm1"), allowedTargets: Self.allowed, seed: 3)
        _ = booting.start(now: 0)
        #expect(booting.receive(try Frames.arpRequest(senderMAC: Self.routerMAC, senderIP: Self.routerIP, targetIP: Self.guestIP), now: 1).isEmpty)
    }

    @Test func answersEchoRequestsToTheSendersMAC() throws {
        var guest = try Self.boundGuest()
        let data: [UInt8] = Array(0..<56)
        let request = try Frames.icmpEcho(from: Self.routerMAC, to: Self.guestMAC, source: Self.gateway, destination: Self.guestIP,
                                          identifier: 77, sequence: 3, data: data)
        let reply = try Self.only(guest.receive(request, now: 1))
        let icmp = try #require(reply.icmp)
        #expect(icmp.type == 0 && icmp.identifier == 77 && icmp.sequenceNumber == 3)
        #expect(Array(reply.bytes[icmp.data.range]) == data)
        #expect(reply.ethernet?.destination == Self.routerMAC && reply.ip?.source == Self.guestIP && reply.ip?.destination == Self.gateway)
        #expect(reply.packet.issue == nil)
        // Not for its address, not for its MAC: silence.
        #expect(guest.receive(try Frames.icmpEcho(from: Self.routerMAC, to: Self.guestMAC, source: Self.gateway, destination: IPv4Address(10, 0, 0, 12),
                                                  identifier: 1, sequence: 1, data: []), now: 1).isEmpty)
        #expect(guest.receive(try Frames.icmpEcho(from: Self.routerMAC, to: Self.neighbourMAC, source: Self.gateway, destination: Self.guestIP,
                                                  identifier: 1, sequence: 1, data: []), now: 1).isEmpty)
    }

    @Test func pingsOffSubnetThroughTheLeasedRouter() throws {
        var guest = try Self.boundGuest()
        let arp = try Self.only(guest.perform(.ping(target: Self.gateway, count: 2, payloadSize: 56), id: "p", now: 1))
        #expect(arp.arp?.targetProtocolAddress == Self.routerIP, "the next hop of an off-subnet target is the leased router")
        let first = try Self.only(guest.receive(try Frames.arpReply(senderMAC: Self.routerMAC, senderIP: Self.routerIP,
                                                                   targetMAC: Self.guestMAC, targetIP: Self.guestIP), now: 1.01))
        let echo = try #require(first.icmp)
        #expect(echo.type == 8 && echo.sequenceNumber == 1 && echo.data.count == 56)
        #expect(first.ethernet?.destination == Self.routerMAC && first.ip?.destination == Self.gateway && first.ip?.source == Self.guestIP)
        func reply(to sent: Sent) throws -> [UInt8] {
            let h = try #require(sent.icmp)
            return try Frames.icmpEcho(reply: true, from: Self.routerMAC, to: Self.guestMAC, source: Self.gateway, destination: Self.guestIP,
                                       identifier: h.identifier, sequence: h.sequenceNumber, data: Array(sent.bytes[h.data.range]))
        }
        _ = guest.receive(try reply(to: first), now: 1.02)
        let second = try Self.only(guest.tick(now: 1.25))
        #expect(second.icmp?.sequenceNumber == 2)
        #expect(guest.takeFinished().isEmpty, "not done before the last reply or timeout")
        _ = guest.receive(try reply(to: second), now: 1.26)
        let outcome = try #require(guest.takeFinished().first)
        #expect(outcome.succeeded && outcome.id == "p")
        let result = try #require(outcome.ping)
        #expect(result.transmitted == 2 && result.received == 2 && result.roundTripMilliseconds.count == 2 && result.error == nil)
    }

    @Test func aPingWithoutRepliesEndsAfterItsTimeout() throws {
        var guest = try Self.boundGuest()
        _ = guest.receive(try Frames.arpRequest(senderMAC: Self.neighbourMAC, senderIP: IPv4Address(10, 0, 0, 12), targetIP: Self.guestIP), now: 1)
        // The neighbour was learnt from its request: no ARP needed.
        let echo = try Self.only(guest.perform(.ping(target: IPv4Address(10, 0, 0, 12), count: 1, payloadSize: 8), id: "q", now: 2))
        #expect(echo.ethernet?.destination == Self.neighbourMAC)
        _ = guest.tick(now: 2.9)
        #expect(guest.takeFinished().isEmpty)
        _ = guest.tick(now: 3.1)
        let outcome = try #require(guest.takeFinished().first)
        #expect(!outcome.succeeded && outcome.ping?.transmitted == 1 && outcome.ping?.received == 0)
    }

    @Test func aNextHopThatNeverAnswersARPFailsThePing() throws {
        var guest = try Self.boundGuest()
        var requests = guest.perform(.ping(target: IPv4Address(10, 0, 0, 99), count: 1, payloadSize: 56), id: "n", now: 1)
        var t = 1.0
        while guest.finished.isEmpty && t < 10 { t += 0.1; requests += guest.tick(now: t) }
        #expect(requests.count == 3 && requests.allSatisfy { Sent($0).arp?.targetProtocolAddress == IPv4Address(10, 0, 0, 99) })
        let outcome = try #require(guest.takeFinished().first)
        #expect(!outcome.succeeded && outcome.detail.contains("did not answer ARP"))
    }

    @Test func refusesPingsItMustNotSend() throws {
        var guest = try Self.boundGuest()
        _ = guest.perform(.ping(target: IPv4Address(8, 8, 8, 8), count: 1, payloadSize: 56), id: "a", now: 1)
        _ = guest.perform(.ping(target: Self.gateway, count: 11, payloadSize: 56), id: "b", now: 1)
        _ = guest.perform(.ping(target: Self.gateway, count: 1, payloadSize: 1423), id: "c", now: 1)
        let refused = guest.takeFinished()
        #expect(refused.map(\.id) == ["a", "b", "c"] && refused.allSatisfy { !$0.succeeded })
        #expect(refused[0].detail.contains("not a lab address"))
        #expect(refused[2].detail.contains("MTU 1450"), "the leased MTU bounds what the guest sends")
        var booting = TapGuestStack(identity: .init(mac: Self.guestMAC, hostName: "tapvm1"), allowedTargets: Self.allowed, seed: 5)
        _ = booting.start(now: 0)
        _ = booting.perform(.ping(target: Self.gateway, count: 1, payloadSize: 56), id: "d", now: 1)
        _ = booting.perform(.renew, id: "e", now: 1)
        #expect(booting.takeFinished().map(\.detail).allSatisfy { $0.contains("no address") || $0.contains("no lease") })
        // A 1422-byte payload fills the 1450-byte MTU exactly.
        #expect(guest.perform(.ping(target: Self.gateway, count: 1, payloadSize: 1422), id: "f", now: 1).count == 1)
    }
}
