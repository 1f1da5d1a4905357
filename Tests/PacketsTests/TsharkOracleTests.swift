import Foundation
import HopscopeModel
import Packets
import Testing

/// Every decoded field compared with tshark's (`tshark -T json`, recorded by
/// scripts/oracle/record-tshark.py into Fixtures/tshark) on the shared real captures.
@Suite struct TsharkOracleTests {
    typealias Fields = [String: [String]]

    /// Our decode of one frame in tshark's vocabulary: protocol -> one field dict per instance.
    static func ourFields(_ packet: Packet, _ bytes: [UInt8]) -> [String: [Fields]] {
        var out: [String: [Fields]] = [:]
        func add(_ proto: String, _ fields: Fields) { out[proto, default: []].append(fields) }
        func n<T: BinaryInteger>(_ v: T) -> [String] { [String(v)] }
        return bytes.withUnsafeBytes { b in
            for layer in packet.layers {
                switch layer.header(in: b) {
                case .ethernet(let h):
                    var f: Fields = ["eth.dst": [h.destination.description], "eth.src": [h.source.description]]
                    if !h.isLength { f["eth.type"] = n(h.etherType) }
                    add("eth", f)
                case .vlan(let v) where v.tpid == 0x88A8:
                    // tshark names an 802.1ad service tag its own protocol.
                    add("ieee8021ad", ["ieee8021ad.priority": n(v.priority), "ieee8021ad.dei": n(v.dropEligible ? 1 : 0), "ieee8021ad.id": n(v.vlanID)])
                case .vlan(let v):
                    add("vlan", ["vlan.priority": n(v.priority), "vlan.dei": n(v.dropEligible ? 1 : 0), "vlan.id": n(v.vlanID), "vlan.etype": n(v.etherType)])
                case .linuxSLL(let h):
                    var f: Fields = ["sll.pkttype": n(h.packetType), "sll.hatype": n(h.arphrdType), "sll.halen": n(h.addressLength)]
                    if h.protocolType >= 0x0600 { f["sll.etype"] = n(h.protocolType) }
                    if let mac = h.sourceMAC, h.arphrdType == 1 { f["sll.src.eth"] = [mac.description] }
                    add("sll", f)
                case .linuxSLL2(let h):
                    add("sll", ["sll.etype": n(h.protocolType), "sll.ifindex": n(h.interfaceIndex), "sll.hatype": n(h.arphrdType),
                                "sll.pkttype": n(h.packetType), "sll.halen": n(h.addressLength)])
                case .arp(let a):
                    var f: Fields = ["arp.hw.type": n(a.hardwareType), "arp.proto.type": n(a.protocolType), "arp.hw.size": n(a.hardwareLength),
                                     "arp.proto.size": n(a.protocolLength), "arp.opcode": n(a.opcode)]
                    if let m = a.senderHardwareAddress, a.hardwareType == 1 { f["arp.src.hw_mac"] = [m.description] }
                    if let m = a.targetHardwareAddress, a.hardwareType == 1 { f["arp.dst.hw_mac"] = [m.description] }
                    if let i = a.senderProtocolAddress, a.protocolType == 0x0800 { f["arp.src.proto_ipv4"] = [i.description] }
                    if let i = a.targetProtocolAddress, a.protocolType == 0x0800 { f["arp.dst.proto_ipv4"] = [i.description] }
                    add("arp", f)
                case .ipv4(let ip):
                    add("ip", ["ip.version": n(ip.version), "ip.hdr_len": n(ip.headerLength), "ip.dsfield": n(ip.typeOfService),
                               "ip.len": n(ip.totalLength == 0 ? ip.payload.end - ip.offset : Int(ip.totalLength)), "ip.id": n(ip.identification), "ip.flags": n(ip.flags),
                               "ip.frag_offset": n(ip.fragmentOffset), "ip.ttl": n(ip.timeToLive), "ip.proto": n(ip.protocol),
                               "ip.checksum": n(ip.headerChecksum), "ip.src": [ip.source.description], "ip.dst": [ip.destination.description]])
                case .ipv6(let ip):
                    add("ipv6", ["ipv6.version": n(ip.version), "ipv6.tclass": n(ip.trafficClass), "ipv6.flow": n(ip.flowLabel),
                                 "ipv6.plen": n(ip.payloadLength), "ipv6.nxt": n(ip.nextHeader), "ipv6.hlim": n(ip.hopLimit),
                                 "ipv6.src": [ip.source.description], "ipv6.dst": [ip.destination.description]])
                case .ipv6Extension(let e):
                    // tshark shows extension headers inside the IPv6 layer they follow.
                    guard var last = out["ipv6"]?.popLast() else { break }
                    func put(_ key: String, _ value: [String]) { last[key, default: []] += value }
                    switch e.headerType {
                    case IPProtocolNumber.hopByHop: put("ipv6.hopopts.nxt", n(e.nextHeader)); put("ipv6.hopopts.len", n(e.headerExtensionLength))
                    case IPProtocolNumber.destinationOptions: put("ipv6.dstopts.nxt", n(e.nextHeader)); put("ipv6.dstopts.len", n(e.headerExtensionLength))
                    case IPProtocolNumber.routing:
                        put("ipv6.routing.nxt", n(e.nextHeader)); put("ipv6.routing.len", n(e.headerExtensionLength))
                        put("ipv6.routing.type", n(e.routingType)); put("ipv6.routing.segleft", n(e.segmentsLeft))
                    case IPProtocolNumber.fragment:
                        put("ipv6.fragment.nxt", n(e.nextHeader)); put("ipv6.fragment.offset", n(e.fragmentOffset))
                        put("ipv6.fragment.more", n(e.moreFragments ? 1 : 0)); put("ipv6.fragment.id", n(e.identification))
                    default: break
                    }
                    out["ipv6"]!.append(last)
                case .icmp(let h):
                    var f: Fields = ["icmp.type": n(h.type), "icmp.code": n(h.code), "icmp.checksum": n(h.checksum)]
                    if h.isEcho { f["icmp.ident"] = n(h.identifier); f["icmp.seq"] = n(h.sequenceNumber) }
                    if h.type == 3 && h.code == 4 { f["icmp.mtu"] = n(h.nextHopMTU) }
                    if h.type == 5 { f["icmp.redir_gw"] = [h.gatewayAddress.description] }
                    add("icmp", f)
                case .icmpv6(let h):
                    var f: Fields = ["icmpv6.type": n(h.type), "icmpv6.code": n(h.code), "icmpv6.checksum": n(h.checksum)]
                    if h.isEcho { f["icmpv6.echo.identifier"] = n(h.identifier); f["icmpv6.echo.sequence_number"] = n(h.sequenceNumber) }
                    if h.type == 2 { f["icmpv6.mtu"] = n(h.mtu) }
                    if h.type == 135, let t = h.targetAddress { f["icmpv6.nd.ns.target_address"] = [t.description] }
                    if h.type == 136, let t = h.targetAddress {
                        f["icmpv6.nd.na.target_address"] = [t.description]
                        f["icmpv6.nd.na.flag.r"] = n(h.router ? 1 : 0); f["icmpv6.nd.na.flag.s"] = n(h.solicited ? 1 : 0)
                        f["icmpv6.nd.na.flag.o"] = n(h.override ? 1 : 0)
                    }
                    if h.type == 134 {
                        f["icmpv6.nd.ra.cur_hop_limit"] = n(h.curHopLimit); f["icmpv6.nd.ra.router_lifetime"] = n(h.routerLifetime)
                        if let r = h.reachableTime { f["icmpv6.nd.ra.reachable_time"] = n(r) }
                        if let r = h.retransTimer { f["icmpv6.nd.ra.retrans_timer"] = n(r) }
                    }
                    if let options = try? NDOption.all(in: b, of: h), !options.isEmpty {
                        f["icmpv6.opt.type"] = options.map { String($0.type) }
                        let links = options.compactMap { $0.linkLayerAddress?.description }
                        if !links.isEmpty { f["icmpv6.opt.linkaddr"] = links }
                        let mtus = options.compactMap { $0.mtu.map { String($0) } }
                        if !mtus.isEmpty { f["icmpv6.opt.mtu"] = mtus }
                    }
                    add("icmpv6", f)
                case .udp(let u):
                    add("udp", ["udp.srcport": n(u.sourcePort), "udp.dstport": n(u.destinationPort), "udp.length": n(u.length), "udp.checksum": n(u.checksum)])
                case .tcp(let t):
                    var f: Fields = ["tcp.srcport": n(t.sourcePort), "tcp.dstport": n(t.destinationPort), "tcp.seq_raw": n(t.sequenceNumber),
                                     "tcp.hdr_len": n(t.headerLength), "tcp.flags": n(t.flags), "tcp.window_size_value": n(t.window),
                                     "tcp.checksum": n(t.checksum), "tcp.urgent_pointer": n(t.urgentPointer)]
                    if t.ack { f["tcp.ack_raw"] = n(t.acknowledgmentNumber) }
                    if let options = try? TCPOption.all(in: b, of: t) {
                        let mss = options.compactMap { $0.mss.map { String($0) } }
                        if !mss.isEmpty { f["tcp.options.mss_val"] = mss }
                        let ws = options.compactMap { $0.windowScale.map { String($0) } }
                        if !ws.isEmpty { f["tcp.options.wscale.shift"] = ws }
                        let tsval = options.compactMap { $0.timestampValue.map { String($0) } }
                        if !tsval.isEmpty { f["tcp.options.timestamp.tsval"] = tsval }
                        let tsecr = options.compactMap { $0.timestampEchoReply.map { String($0) } }
                        if !tsecr.isEmpty { f["tcp.options.timestamp.tsecr"] = tsecr }
                    }
                    add("tcp", f)
                case .dhcp(let m):
                    var f: Fields = ["dhcp.type": n(m.op), "dhcp.hw.type": n(m.htype), "dhcp.hw.len": n(m.hlen), "dhcp.hops": n(m.hops),
                                     "dhcp.id": n(m.xid), "dhcp.secs": n(m.secs), "dhcp.flags": n(m.flags),
                                     "dhcp.ip.client": [m.ciaddr.description], "dhcp.ip.your": [m.yiaddr.description],
                                     "dhcp.ip.server": [m.siaddr.description], "dhcp.ip.relay": [m.giaddr.description]]
                    if let options = try? DHCPOption.all(in: b, of: m) {
                        for o in options {
                            let key: String? = switch o.code {
                            case DHCPOption.Code.messageType: "dhcp.option.dhcp"
                            case DHCPOption.Code.requestedIPAddress: "dhcp.option.requested_ip_address"
                            case DHCPOption.Code.serverIdentifier: "dhcp.option.dhcp_server_id"
                            case DHCPOption.Code.ipAddressLeaseTime: "dhcp.option.ip_address_lease_time"
                            case DHCPOption.Code.router: "dhcp.option.router"
                            case DHCPOption.Code.domainNameServer: "dhcp.option.domain_name_server"
                            case DHCPOption.Code.subnetMask: "dhcp.option.subnet_mask"
                            case DHCPOption.Code.interfaceMTU: "dhcp.option.interface_mtu"
                            case DHCPOption.Code.hostName: "dhcp.option.hostname"
                            case DHCPOption.Code.domainName: "dhcp.option.domain_name"
                            case DHCPOption.Code.renewalTime: "dhcp.option.renewal_time_value"
                            case DHCPOption.Code.rebindingTime: "dhcp.option.rebinding_time_value"
                            default: nil
                            }
                            guard let key else { continue }
                            var values: [String] = []
                            if let a = o.addresses { values = a.map(\.description) }
                            else if let t = o.text { values = [t] }
                            else if let v = o.number { values = [String(v)] }
                            else if let t = o.messageType { values = [String(t.rawValue)] }
                            if !values.isEmpty { f[key, default: []] += values }
                        }
                    }
                    add("dhcp", f)
                case .dns(let m):
                    var f: Fields = ["dns.id": n(m.id), "dns.flags": n(m.flags), "dns.count.queries": n(m.qdcount),
                                     "dns.count.answers": n(m.ancount), "dns.count.auth_rr": n(m.nscount), "dns.count.add_rr": n(m.arcount)]
                    func tsharkName(_ name: String) -> String { name == "." ? "<Root>" : String(name.dropLast()) }
                    if let questions = try? m.questions(in: b), !questions.isEmpty {
                        f["dns.qry.name"] = questions.map { tsharkName($0.name) }
                        f["dns.qry.type"] = questions.map { String($0.type) }
                    }
                    var records: [DNSResourceRecord] = []
                    for section in DNSSection.allCases { records += m.readableRecords(section, in: b).0 }
                    if !records.isEmpty {
                        f["dns.resp.name"] = records.map { tsharkName($0.name) }
                        f["dns.resp.type"] = records.map { String($0.type) }
                        let a = records.compactMap { $0.type == 1 ? $0.address?.description : nil }
                        if !a.isEmpty { f["dns.a"] = a }
                        let aaaa = records.compactMap { $0.type == 28 ? $0.address?.description : nil }
                        if !aaaa.isEmpty { f["dns.aaaa"] = aaaa }
                        let cname = records.compactMap { $0.type == 5 ? $0.target.map(tsharkName) : nil }
                        if !cname.isEmpty { f["dns.cname"] = cname }
                    }
                    add("dns", f)
                case .vxlan(let v):
                    add("vxlan", ["vxlan.flags": n(UInt16(v.flags) << 8 | UInt16(v.reserved1 >> 16)), "vxlan.vni": n(v.vni)])
                case .gre(let g):
                    var f: Fields = ["gre.flags_and_version": n(g.flagsAndVersion), "gre.proto": n(g.protocolType)]
                    if let k = g.key, g.version == 0 { f["gre.key"] = n(k) }
                    if let s = g.sequenceNumber { f["gre.sequence_number"] = n(s) }
                    if let c = g.checksum { f["gre.checksum"] = n(c) }
                    add("gre", f)
                case .geneve(let g):
                    add("geneve", ["geneve.version": n(g.version), "geneve.proto_type": n(g.protocolType), "geneve.vni": n(g.vni),
                                   "geneve.flags.oam": n(g.oam ? 1 : 0), "geneve.flags.critical": n(g.critical ? 1 : 0)])
                case .nullLoopback, .payload:
                    break
                }
            }
            return out
        }
    }

    /// tshark prints numbers in decimal or `0x` hex and booleans as 0/1: compare them as numbers.
    static func normalize(_ value: String) -> String {
        if value.hasPrefix("0x"), let v = UInt64(value.dropFirst(2), radix: 16) { return String(v) }
        return value
    }

    struct Mismatch: CustomStringConvertible {
        var file: String, packet: Int, proto: String, instance: Int, field: String, ours: [String], tshark: [String]
        var description: String { "\(file)#\(packet) \(proto)[\(instance)] \(field): ours \(ours) tshark \(tshark)" }
    }

    static let nestedRepeats: Set<String> = ["dhcp.hw.type", "dhcp.hw.len", "icmp.type", "icmp.code", "icmp.checksum", "icmp.ident", "icmp.seq"]

    /// Where tshark and the RFC part ways, each with the reason; everything else must agree.
    static func knownDisagreement(_ file: String, _ packet: Int, _ field: String) -> Bool {
        switch (file, packet, field) {
        // Wireshark guesses that this client sends `secs` little-endian (its "secs byte order"
        // heuristic); RFC 2131 says network byte order, which is what Hopscope reads.
        case ("pyroute2/captures/test_parser/test_washing_machine_request.pcap", 1, "dhcp.secs"): true
        default: false
        }
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tshark")

    struct Fixture: Decodable {
        var tshark: String
        var packets: [[String: [Fields]]]
    }

    /// Compares one capture; returns (fields compared per protocol, mismatches).
    static func compare(capture path: String) throws -> ([String: Int], [Mismatch]) {
        let rel = path.hasPrefix(labCaptureDirectory.path)
            ? "lab/" + URL(fileURLWithPath: path).lastPathComponent
            : String(path.dropFirst(sharedPcapDirectory.path.count + 1))
        let fixtureURL = fixtures.appendingPathComponent(rel + ".json")
        guard let data = try? Data(contentsOf: fixtureURL) else { return ([:], []) }
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        guard let (link, frames, _) = try? readCaptureUntilError(path) else { return ([:], []) }
        var compared: [String: Int] = [:]
        var mismatches: [Mismatch] = []
        for (index, frame) in frames.prefix(fixture.packets.count).enumerated() {
            let packet = frame.decode(link)
            let theirs = fixture.packets[index]
            for (proto, instances) in ourFields(packet, frame.bytes) {
                guard let tsharkInstances = theirs[proto] else { continue }
                for (k, ours) in instances.enumerated() where k < tsharkInstances.count {
                    for (field, values) in ours {
                        guard let tv = tsharkInstances[k][field] else { continue }
                        compared[proto, default: 0] += 1
                        // Fields tshark repeats inside nested trees (the client-id option's hardware
                        // type, the ICMP message an ICMP error quotes) compare by their first values.
                        let theirs = nestedRepeats.contains(field) && tv.count > values.count ? Array(tv.prefix(values.count)) : tv
                        if values.map(normalize) != theirs.map(normalize), !Self.knownDisagreement(rel, index + 1, field) {
                            mismatches.append(Mismatch(file: rel, packet: index + 1, proto: proto, instance: k, field: field, ours: values, tshark: tv))
                        }
                    }
                }
            }
        }
        return (compared, mismatches)
    }

    @Test func everyFieldMatchesTshark() throws {
        var compared: [String: Int] = [:]
        var mismatches: [Mismatch] = []
        for path in sharedCaptures() + labCaptures() {
            let (c, m) = try Self.compare(capture: path)
            compared.merge(c, uniquingKeysWith: +)
            mismatches += m
        }
        let report = mismatches.map(\.description).joined(separator: "\n")
        try report.write(toFile: "/tmp/tshark-mismatches.txt", atomically: true, encoding: .utf8)
        print("tshark fields compared: \(compared.sorted { $0.key < $1.key }), mismatches: \(mismatches.count)")
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20).map(\.description).joined(separator: "\n"))")
        // The comparison must have had something to compare for every protocol it covers.
        for proto in ["eth", "vlan", "ieee8021ad", "sll", "arp", "ip", "ipv6", "icmp", "icmpv6", "udp", "tcp", "dhcp", "dns", "vxlan", "gre", "geneve"] {
            #expect(compared[proto, default: 0] >= 9, "too few \(proto) fields compared with tshark: \(compared[proto, default: 0])")
        }
        #expect(compared.values.reduce(0, +) > 30_000)
    }
}
