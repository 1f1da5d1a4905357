import Foundation
import HopscopeModel
import Packets
import Testing

/// The encoders, proved two ways: our decoders read back every field, and tshark (run live on a
/// pcap of the encoded frames) agrees with our decode field by field and marks every IPv4, UDP
/// and ICMP checksum good.
@Suite struct EncoderTests {
    static let guestMAC = MACAddress("fa:16:3e:11:22:33")!
    static let serverMAC = MACAddress("fa:16:3e:44:55:66")!
    static let guest = IPv4Address(10, 0, 0, 31)
    static let server = IPv4Address(10, 0, 0, 2)
    static let router = IPv4Address(10, 0, 0, 1)
    static let lease = DHCPMessage.LeaseOptions(
        subnetMask: IPv4Address(255, 255, 255, 0), routers: [router], dnsServers: [server, IPv4Address(198, 51, 100, 53)],
        domainName: "openstacklocal", mtu: 1450, leaseSeconds: 86_400, renewalSeconds: 43_200, rebindingSeconds: 75_600)

    /// One frame of each kind the probes and the tap guest send, with a label for messages.
    static func frames() throws -> [(String, [UInt8])] {
        let g = guestMAC, s = serverMAC
        func dhcpFromClient(_ message: [UInt8], source: IPv4Address = .any, to destination: IPv4Address = .broadcast,
                            mac: MACAddress = .broadcast) throws -> [UInt8] {
            try Frames.udp(from: g, to: mac, source: source, destination: destination, sourcePort: 68, destinationPort: 67, payload: message)
        }
        func dhcpFromServer(_ message: [UInt8]) throws -> [UInt8] {
            try Frames.udp(from: s, to: g, source: server, destination: guest, sourcePort: 67, destinationPort: 68, payload: message)
        }
        return [
            ("arp request (VLAN 100)", try Frames.arpRequest(senderMAC: g, senderIP: guest, targetIP: router, vlanID: 100)),
            ("arp reply", try Frames.arpReply(senderMAC: g, senderIP: guest, targetMAC: s, targetIP: server)),
            ("echo request", try Frames.icmpEcho(from: g, to: s, source: guest, destination: router, identifier: 0x4242, sequence: 7,
                                                 data: Array(0..<57), identification: 99)),
            ("echo reply", try Frames.icmpEcho(reply: true, from: g, to: s, source: guest, destination: router, identifier: 0x4242,
                                               sequence: 7, data: Array(0..<57))),
            ("large echo", try Frames.icmpEcho(from: g, to: s, source: guest, destination: router, identifier: 1, sequence: 1,
                                               data: [UInt8](repeating: 0xA5, count: 1422))),
            ("udp odd payload", try Frames.udp(from: g, to: s, source: guest, destination: server, sourcePort: 40000, destinationPort: 9,
                                               payload: [1, 2, 3, 4, 5])),
            ("dhcp discover", try dhcpFromClient(DHCPMessage.discover(xid: 0x1234_5678, clientMAC: g, hostName: "tapvm1"))),
            ("dhcp offer", try dhcpFromServer(DHCPMessage.offer(xid: 0x1234_5678, clientMAC: g, yourAddress: guest, serverID: server, lease: lease))),
            ("dhcp request", try dhcpFromClient(DHCPMessage.request(xid: 0x1234_5678, clientMAC: g, requestedAddress: guest,
                                                                      serverID: server, hostName: "tapvm1"))),
            ("dhcp ack", try dhcpFromServer(DHCPMessage.ack(xid: 0x1234_5678, clientMAC: g, yourAddress: guest, serverID: server, lease: lease))),
            ("dhcp renew", try dhcpFromClient(DHCPMessage.request(xid: 0x9, clientMAC: g, clientAddress: guest),
                                              source: guest, to: server, mac: s)),
            ("dhcp nak", try dhcpFromServer(DHCPMessage.nak(xid: 0x9, clientMAC: g, serverID: server, message: "wrong address"))),
            ("dhcp release", try dhcpFromClient(DHCPMessage.release(xid: 0xA, clientMAC: g, clientAddress: guest, serverID: server),
                                                source: guest, to: server, mac: s)),
            ("dns A query", try Frames.udp(from: g, to: s, source: guest, destination: server, sourcePort: 53_000, destinationPort: 53,
                                           payload: DNSMessage.encodeQuery(id: 0xBEEF, name: "www.example.org"))),
            ("dns AAAA query", try Frames.udp(from: g, to: s, source: guest, destination: server, sourcePort: 53_001, destinationPort: 53,
                                              payload: DNSMessage.encodeQuery(id: 2, name: "mirror.example.org.", type: DNSRecordType.aaaa,
                                                                              recursionDesired: false))),
        ]
    }

    // MARK: Our decoders read back what was encoded

    @Test func everyFrameDecodesCleanlyWithValidChecksums() throws {
        for (label, frame) in try Self.frames() {
            let packet = Packet(decoding: frame, linkType: .ethernet)
            #expect(packet.issue == nil, "\(label): \(String(describing: packet.issue))")
            #expect(frame.count >= EthernetHeader.minimumFrameLength, "\(label) is padded to 60 bytes")
            try frame.withUnsafeBytes { b in
                if let ip = packet.firstIPv4(in: b) {
                    #expect(ip.checksumIsValid(in: b), "\(label): IPv4 header checksum")
                    #expect(Int(ip.totalLength) == ip.payload.end - ip.offset)
                }
                for layer in packet.layers {
                    switch layer.header(in: b) {
                    case .icmp(let h):
                        #expect(Self.sum(b, h.offset..<(h.data.end)) == 0xFFFF, "\(label): ICMP checksum")
                    case .udp(let u):
                        let ip = try #require(packet.firstIPv4(in: b))
                        #expect(u.checksum != 0, "\(label): UDP checksum present")
                        let pseudo = (ip.source.value >> 16) + (ip.source.value & 0xFFFF) + (ip.destination.value >> 16)
                            + (ip.destination.value & 0xFFFF) + 17 + UInt32(u.length)
                        #expect(Self.sum(b, u.offset..<(u.offset + Int(u.length)), initial: pseudo) == 0xFFFF, "\(label): UDP checksum")
                    default: break
                    }
                }
            }
        }
    }

    @Test func arpAndVLANFieldsRoundTrip() throws {
        let frame = try Frames.arpRequest(senderMAC: Self.guestMAC, senderIP: Self.guest, targetIP: Self.router, vlanID: 100)
        let packet = Packet(decoding: frame, linkType: .ethernet)
        #expect(packet.layers.map(\.protocolID) == [.ethernet, .vlan, .arp])
        let layers = packet.headers(in: frame)
        guard case .ethernet(let eth) = layers[0], case .vlan(let tag) = layers[1], case .arp(let arp) = layers[2] else {
            Issue.record("layers"); return
        }
        #expect(eth.destination == .broadcast && eth.source == Self.guestMAC && eth.etherType == EtherType.vlan)
        #expect(tag.vlanID == 100 && tag.priority == 0 && tag.etherType == EtherType.arp)
        #expect(arp.isRequest && arp.senderHardwareAddress == Self.guestMAC && arp.senderProtocolAddress == Self.guest)
        #expect(arp.targetHardwareAddress == .zero && arp.targetProtocolAddress == Self.router)

        let replyFrame = try Frames.arpReply(senderMAC: Self.serverMAC, senderIP: Self.server, targetMAC: Self.guestMAC, targetIP: Self.guest)
        let reply = Packet(decoding: replyFrame, linkType: .ethernet).headers(in: replyFrame)
        guard case .ethernet(let replyEth) = reply[0], case .arp(let answer) = reply[1] else { Issue.record("reply layers"); return }
        #expect(replyEth.destination == Self.guestMAC && replyEth.etherType == EtherType.arp)
        #expect(answer.isReply && answer.senderHardwareAddress == Self.serverMAC && answer.senderProtocolAddress == Self.server)
        #expect(answer.targetHardwareAddress == Self.guestMAC && answer.targetProtocolAddress == Self.guest)
        let tagged = try VLANTag.encodeTag(vlanID: 4095, priority: 7, dropEligible: true)
        #expect(tagged == [0x81, 0x00, 0xFF, 0xFF])
    }

    @Test func echoKeepsIdentifierSequenceAndData() throws {
        let data: [UInt8] = Array(0..<57)
        let frame = try Frames.icmpEcho(from: Self.guestMAC, to: Self.serverMAC, source: Self.guest, destination: Self.router,
                                        identifier: 0x4242, sequence: 7, data: data, timeToLive: 17, identification: 99)
        let packet = Packet(decoding: frame, linkType: .ethernet)
        let ip = try #require(frame.withUnsafeBytes { packet.firstIPv4(in: $0) })
        #expect(ip.source == Self.guest && ip.destination == Self.router && ip.timeToLive == 17 && ip.identification == 99)
        #expect(ip.protocol == IPProtocolNumber.icmp && !ip.dontFragment)
        guard case .icmp(let icmp) = packet.headers(in: frame)[2] else { Issue.record("no ICMP layer"); return }
        #expect(icmp.type == 8 && icmp.code == 0 && icmp.identifier == 0x4242 && icmp.sequenceNumber == 7)
        #expect(Array(frame[icmp.data.range]) == data)
        let reply = ICMPHeader.echoReply(identifier: 0x4242, sequence: 7, data: data)
        #expect(reply[0] == 0 && Array(reply[8...]) == data)
    }

    @Test func dhcpMessagesCarryTheirOptions() throws {
        let discover = try DHCPMessage.discover(xid: 0xCAFE, clientMAC: Self.guestMAC, hostName: "tapvm1", requestedAddress: Self.guest)
        let d = try decodeDHCP(discover)
        #expect(d.message.op == 1 && d.message.xid == 0xCAFE && d.message.clientHardwareAddress == Self.guestMAC)
        #expect(d.message.messageType == .discover && d.message.hasMagicCookie && !d.message.broadcast)
        #expect(discover.count == DHCPMessage.minimumEncodedLength)
        #expect(d.options.first { $0.code == DHCPOption.Code.hostName }?.text == "tapvm1")
        #expect(d.options.first { $0.code == DHCPOption.Code.requestedIPAddress }?.addresses == [Self.guest])
        #expect(d.options.first { $0.code == DHCPOption.Code.clientIdentifier }?.clientIdentifierMAC == Self.guestMAC)
        #expect(d.options.first { $0.code == DHCPOption.Code.parameterRequestList }?.parameterRequestList == DHCPMessage.defaultParameterRequestList)

        let ack = try decodeDHCP(DHCPMessage.ack(xid: 0xCAFE, clientMAC: Self.guestMAC, yourAddress: Self.guest, serverID: Self.server,
                                                 lease: Self.lease))
        #expect(ack.message.op == 2 && ack.message.messageType == .ack && ack.message.yiaddr == Self.guest && ack.message.siaddr == Self.server)
        func option(_ code: UInt8) -> DHCPOption? { ack.options.first { $0.code == code } }
        #expect(option(DHCPOption.Code.serverIdentifier)?.addresses == [Self.server])
        #expect(option(DHCPOption.Code.router)?.addresses == [Self.router])
        #expect(option(DHCPOption.Code.domainNameServer)?.addresses == Self.lease.dnsServers)
        #expect(option(DHCPOption.Code.subnetMask)?.addresses == [IPv4Address(255, 255, 255, 0)])
        #expect(option(DHCPOption.Code.domainName)?.text == "openstacklocal")
        #expect(option(DHCPOption.Code.interfaceMTU)?.number == 1450)
        #expect(option(DHCPOption.Code.ipAddressLeaseTime)?.number == 86_400)
        #expect(option(DHCPOption.Code.renewalTime)?.number == 43_200)
        #expect(option(DHCPOption.Code.rebindingTime)?.number == 75_600)

        let renew = try decodeDHCP(DHCPMessage.request(xid: 1, clientMAC: Self.guestMAC, clientAddress: Self.guest))
        #expect(renew.message.ciaddr == Self.guest && renew.message.messageType == .request)
        #expect(!renew.options.contains { $0.code == DHCPOption.Code.serverIdentifier || $0.code == DHCPOption.Code.requestedIPAddress },
                "a renewal names neither server nor address (RFC 2131 4.3.2)")
        let nak = try decodeDHCP(DHCPMessage.nak(xid: 1, clientMAC: Self.guestMAC, serverID: Self.server, message: "no"))
        #expect(nak.message.messageType == .nak && nak.options.first { $0.code == DHCPOption.Code.message }?.text == "no")
        let release = try decodeDHCP(DHCPMessage.release(xid: 2, clientMAC: Self.guestMAC, clientAddress: Self.guest, serverID: Self.server))
        #expect(release.message.messageType == .release && release.message.ciaddr == Self.guest)
        let offer = try decodeDHCP(DHCPMessage.offer(xid: 3, clientMAC: Self.guestMAC, yourAddress: Self.guest, serverID: Self.server, lease: Self.lease))
        #expect(offer.message.messageType == .offer && offer.message.yiaddr == Self.guest)
    }

    @Test func dnsQueryRoundTrips() throws {
        let bytes = try DNSMessage.encodeQuery(id: 0xBEEF, name: "www.example.org", type: DNSRecordType.aaaa)
        let frame = try Frames.udp(from: Self.guestMAC, to: Self.serverMAC, source: Self.guest, destination: Self.server,
                                   sourcePort: 40_000, destinationPort: 53, payload: bytes)
        let packet = Packet(decoding: frame, linkType: .ethernet)
        guard case .dns(let dns) = packet.headers(in: frame)[3] else { Issue.record("no DNS layer: \(packet.layers.map(\.protocolID))"); return }
        #expect(dns.id == 0xBEEF && !dns.isResponse && dns.rd && dns.qdcount == 1 && dns.ancount == 0)
        let questions = try frame.withUnsafeBytes { b throws(DecodeError) in try dns.questions(in: b) }
        #expect(questions.map(\.name) == ["www.example.org."] && questions.map(\.type) == [DNSRecordType.aaaa] && questions.map(\.class) == [1])
        #expect(try DNSMessage.encodeName(".") == [0])
        #expect(try DNSMessage.encodeName("a.b.") == [1, 97, 1, 98, 0])
    }

    @Test func badInputIsRefusedWithTheFieldNamed() {
        #expect(throws: PacketEncodeError.valueOutOfRange(field: "VLAN id", value: 4096, allowed: 0...4095)) {
            try EthernetHeader.encode(destination: .broadcast, source: Self.guestMAC, etherType: EtherType.arp, payload: [], vlanID: 4096)
        }
        #expect(throws: PacketEncodeError.self) { try DNSMessage.encodeQuery(id: 1, name: "a..b") }
        #expect(throws: PacketEncodeError.self) { try DNSMessage.encodeQuery(id: 1, name: "") }
        #expect(throws: PacketEncodeError.self) { try DNSMessage.encodeQuery(id: 1, name: String(repeating: "x", count: 64) + ".org") }
        let longName = Array(repeating: String(repeating: "y", count: 60), count: 5).joined(separator: ".")
        #expect(throws: PacketEncodeError.self) { try DNSMessage.encodeName(longName) }
        #expect(throws: PacketEncodeError.optionTooLong(code: 12, bytes: 300)) {
            try DHCPMessage.discover(xid: 1, clientMAC: Self.guestMAC, hostName: String(repeating: "h", count: 300))
        }
        #expect(throws: PacketEncodeError.payloadTooLarge(layer: .ipv4, bytes: 65_516, limit: 65_515)) {
            try IPv4Header.encode(source: Self.guest, destination: Self.server, protocol: 1, payload: [UInt8](repeating: 0, count: 65_516))
        }
        #expect(throws: PacketEncodeError.payloadTooLarge(layer: .udp, bytes: 65_528, limit: 65_527)) {
            try UDPHeader.encode(sourcePort: 1, destinationPort: 2, payload: [UInt8](repeating: 0, count: 65_528), source: Self.guest, destination: Self.server)
        }
        #expect(PacketEncodeError.badName("a..b", reason: "x").description.contains("a..b"))
    }

    // MARK: tshark agrees, and marks every checksum good

    @Test func tsharkReadsEveryFrameAsWeDoWithGoodChecksums() async throws {
        let frames = try Self.frames()
        let decoded = try await Tshark.decode(frames.map(\.1))
        #expect(decoded.count == frames.count)
        var compared = 0
        for (index, (label, frame)) in frames.enumerated() where index < decoded.count {
            let theirs = decoded[index]
            for (proto, statusKey) in [("ip", "ip.checksum.status"), ("udp", "udp.checksum.status"), ("icmp", "icmp.checksum.status")] {
                guard let instance = theirs[proto]?.first else { continue }
                #expect(instance[statusKey] == ["1"], "\(label): tshark's \(statusKey) is \(instance[statusKey] ?? []) (1 = good)")
            }
            // Expert severity 8388608 is an error (a malformed or bad field) anywhere in the frame.
            let severities = theirs.values.flatMap { $0 }.flatMap { $0["_ws.expert.severity"] ?? [] }
            #expect(!severities.contains("8388608") && theirs.values.flatMap({ $0 }).allSatisfy { $0["_ws.malformed"] == nil },
                    "\(label): tshark reports an error")
            let packet = Packet(decoding: frame, linkType: .ethernet)
            for (proto, instances) in TsharkOracleTests.ourFields(packet, frame) {
                let tsharkInstances = try #require(theirs[proto], "\(label): tshark has no \(proto) layer")
                for (k, ours) in instances.enumerated() {
                    for (field, values) in ours {
                        guard let tv = tsharkInstances[k][field] else { continue }
                        compared += 1
                        let theirValues = TsharkOracleTests.nestedRepeats.contains(field) && tv.count > values.count
                            ? Array(tv.prefix(values.count)) : tv
                        #expect(values.map(TsharkOracleTests.normalize) == theirValues.map(TsharkOracleTests.normalize),
                                "\(label) \(proto).\(field): ours \(values), tshark \(tv)")
                    }
                }
            }
        }
        #expect(compared > 200, "fields compared with tshark: \(compared)")
        let names = decoded.compactMap { $0["dhcp"]?.first?["dhcp.option.dhcp"]?.first }
        #expect(names == ["1", "2", "3", "5", "3", "6", "7"], "DHCP message types as tshark reads them")
    }

    // MARK: Helpers

    func decodeDHCP(_ message: [UInt8]) throws -> (message: DHCPMessage, options: [DHCPOption]) {
        let frame = try Frames.udp(from: Self.guestMAC, to: .broadcast, source: .any, destination: .broadcast,
                                   sourcePort: 68, destinationPort: 67, payload: message)
        let packet = Packet(decoding: frame, linkType: .ethernet)
        #expect(packet.issue == nil)
        guard case .dhcp(let m) = packet.headers(in: frame)[3] else { throw DecodeError(kind: .malformed, layer: .dhcp, offset: 0, reason: .badMagicCookie) }
        let options = try frame.withUnsafeBytes { b throws(DecodeError) in try DHCPOption.all(in: b, of: m) }
        return (m, options)
    }

    static func sum(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, initial: UInt32 = 0) -> UInt16 {
        var total = UInt64(initial)
        var i = range.lowerBound
        while i + 1 < range.upperBound { total += UInt64(b[i]) << 8 | UInt64(b[i + 1]); i += 2 }
        if i < range.upperBound { total += UInt64(b[i]) << 8 }
        while total >> 16 != 0 { total = (total & 0xFFFF) + (total >> 16) }
        return UInt16(total)
    }
}

/// tshark run live as an oracle on frames written to a temporary pcap file.
enum Tshark {
    typealias Fields = [String: [String]]

    /// Each frame's layers as tshark reads them: protocol -> one flattened field dict per
    /// instance (the flattening of scripts/oracle/record-tshark.py, status fields kept).
    static func decode(_ frames: [[UInt8]]) async throws -> [[String: [Fields]]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hopscope-encoders-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pcap")
        defer { try? FileManager.default.removeItem(at: path) }
        try pcap(frames).write(to: path)
        let (data, status) = try await toolOutput("/usr/bin/env", ["tshark", "-n", "-r", path.path, "-T", "json", "--no-duplicate-keys",
                                                             "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
        try #require(status == 0, "tshark failed (is it installed? apt-get install tshark)")
        let packets = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return packets.map { packet in
            let layers = (packet["_source"] as? [String: Any])?["layers"] as? [String: Any] ?? [:]
            var out: [String: [Fields]] = [:]
            for (proto, value) in layers {
                let instances = value as? [Any] ?? [value]
                out[proto] = instances.map { instance in
                    var fields: Fields = [:]
                    flatten(instance, proto: proto, into: &fields)
                    return fields
                }
            }
            return out
        }
    }

    static func flatten(_ value: Any, proto: String, into out: inout Fields) {
        if let dict = value as? [String: Any] {
            for (key, item) in dict {
                if let s = item as? String {
                    if key.hasPrefix(proto + ".") || key.hasPrefix("_ws.") { out[key, default: []].append(s) }
                } else if let list = item as? [String], key.hasPrefix(proto + ".") {
                    out[key, default: []] += list
                } else {
                    flatten(item, proto: proto, into: &out)
                }
            }
        } else if let list = value as? [Any] {
            for item in list { flatten(item, proto: proto, into: &out) }
        }
    }

    /// A classic pcap file (microsecond timestamps, Ethernet) holding `frames`.
    static func pcap(_ frames: [[UInt8]]) -> Data {
        var out = Data()
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        le32(0xA1B2_C3D4); le16(2); le16(4); le32(0); le32(0); le32(65_535); le32(1)
        for (i, frame) in frames.enumerated() {
            le32(1_700_000_000); le32(UInt32(i)); le32(UInt32(frame.count)); le32(UInt32(frame.count))
            out.append(contentsOf: frame)
        }
        return out
    }
}
