import Foundation
import Packets
import Testing

/// Summaries compared with tcpdump's own output (`tcpdump -n -S -t -#`, run in the test) on the
/// shared real captures.
@Suite struct SummaryOracleTests {
    /// tcpdump's lines per packet; a continuation line (VXLAN's inner frame) is joined with `: `.
    static func tcpdumpLines(_ path: String) async throws -> [String] {
        let data = try await toolOutput("/usr/bin/tcpdump", ["-n", "-S", "-t", "-#", "-r", path]).output
        var packets: [String] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            if let space = trimmed.firstIndex(of: " "), Int(trimmed[..<space]) != nil, trimmed[space...].hasPrefix("  ") {
                packets.append(String(trimmed[trimmed.index(space, offsetBy: 2)...]))
            } else if !line.isEmpty, !packets.isEmpty {
                packets[packets.count - 1] += (packets[packets.count - 1].hasSuffix(" ") ? "" : ": ") + line
            }
        }
        return packets
    }

    /// True when `longer` is `shorter` followed by more detail (`: HTTP: GET /`, `, xid 0x1`).
    static func extends(_ longer: String, _ shorter: String) -> Bool {
        guard longer.hasPrefix(shorter) else { return false }
        let rest = longer.dropFirst(shorter.count)
        return rest.hasPrefix(": ") || rest.hasPrefix(", ") || rest.hasPrefix(" ")
    }

    /// True when tcpdump printed more of an application than Hopscope decodes (NTP, DHCPv6,
    /// SNMP, HTTP, ...): the lines agree up to where Hopscope says `UDP, length N` or stops.
    static func tcpdumpDecodesFurther(_ tcpdump: String, _ ours: String) -> Bool {
        guard let udp = ours.range(of: ": UDP, length ") else { return false }
        return tcpdump.hasPrefix(String(ours[..<udp.lowerBound]) + ": ")
    }

    /// tcpdump follows what it cannot name with a hex dump (`\t0x0000:  ...`).
    static func tcpdumpAddsHexDump(_ tcpdump: String, _ ours: String) -> Bool {
        tcpdump.hasPrefix(ours + " \t0x0000:") || tcpdump.hasPrefix(ours + ": \t0x0000:")
    }

    /// Packets whose every layer Hopscope summarises in tcpdump's words: an IP or ARP packet of
    /// the protocols below, nothing left raw that tcpdump would name (an unknown EtherType, IP
    /// protocol or GRE payload, an experimental TCP option, a DNS record type printed only in part).
    static func isCore(_ packet: Packet, _ b: UnsafeRawBufferPointer) -> Bool {
        guard packet.issue == nil, packet.layers.contains(where: { $0.isNetwork || $0.protocolID == .arp }) else { return false }
        var previous: ProtocolID?
        for layer in packet.layers {
            defer { previous = layer.protocolID }
            switch layer.header(in: b) {
            case .ethernet, .linuxSLL, .nullLoopback, .ipv4, .ipv6, .udp, .dhcp, .geneve, .vxlan: continue
            case .arp(let a): if a.hardwareType != 1 || a.protocolType != EtherType.ipv4 { return false }
            case .payload:
                switch previous {
                case .tcp?, .udp?, .icmp?, .icmpv6?: continue
                default: return false
                }
            case .vlan(let v): if v.tpid != EtherType.vlan { return false }
            case .icmp(let h): if !(h.isEcho || h.type == 3 || h.type == 11) { return false }
            case .icmpv6(let h): if !(h.isEcho || (133...137).contains(h.type) || h.type == 2) { return false }
            case .gre(let g): if g.version != 0 { return false }
            case .tcp(let h):
                guard let options = try? TCPOption.all(in: b, of: h) else { return false }
                if options.contains(where: { ![0, 1, 2, 3, 4, 5, 8].contains($0.kind) }) { return false }
            case .dns(let m):
                let records = DNSSection.allCases.flatMap { m.readableRecords($0, in: b).0 }
                if records.contains(where: { ![1, 2, 5, 12, 15, 16, 28, 33, 41].contains($0.type) }) { return false }
            default: return false
            }
        }
        return true
    }

    /// Captures where tcpdump 4.99.3 and the protocol disagree, each with the reason.
    static let knownDifferences: [String: String] = [
        "tcpdump/vxlan_port_8472.pcap": "tcpdump decodes UDP 8472 as OTV; Linux uses it for VXLAN, so Hopscope decodes VXLAN",
        "tcpdump/icmp-length-zero.pcapng": "IPv4 total length 0 from offload: tcpdump 4.99.3 says bad-len, Hopscope decodes the frame",
        "tcpdump/ipv4_tcp_http_xml_tso.pcap": "TSO super-packet (IPv4 total length 0): tcpdump 4.99.3 says bad-len",
        "tcpdump/bigtcp-ipv4.pcap": "BIG TCP (IPv4 total length 0): tcpdump 4.99.3 says bad-len; its master decodes it as Hopscope does",
        "tcpdump/bigtcp-ipv6.pcap": "BIG TCP (IPv6 payload length 0 with a jumbo option): tcpdump 4.99.3 stops at [|tcp]",
        "tcpdump/bigtcp-ipv4-geneve-ipv4.pcap": "BIG TCP inside Geneve: see bigtcp-ipv4", "tcpdump/bigtcp-ipv4-geneve-ipv6.pcap": "see bigtcp-ipv4",
        "tcpdump/bigtcp-ipv4-vxlan-ipv4.pcap": "see bigtcp-ipv4", "tcpdump/bigtcp-ipv4-vxlan-ipv6.pcap": "see bigtcp-ipv4",
        "tcpdump/bigtcp-ipv6-geneve-ipv4.pcap": "BIG TCP over IPv6 underlay: tcpdump 4.99.3 stops at [|udp]",
        "tcpdump/bigtcp-ipv6-geneve-ipv6.pcap": "see bigtcp-ipv6-geneve-ipv4", "tcpdump/bigtcp-ipv6-vxlan-ipv4.pcap": "see bigtcp-ipv6-geneve-ipv4",
        "tcpdump/bigtcp-ipv6-vxlan-ipv6.pcap": "see bigtcp-ipv6-geneve-ipv4",
    ]

    /// Every packet of the shared captures whose layers Hopscope summarises in tcpdump's words
    /// prints what tcpdump prints (or tcpdump's line continues with detail Hopscope does not
    /// decode, or Hopscope's continues with what it adds: DHCP message types, VXLAN's inner packet).
    @Test func summariesMatchTcpdump() async throws {
        var total = 0, exact = 0, extended = 0, core = 0
        var failures: [String] = []
        var report = ""
        for path in sharedCaptures() {
            let rel = String(path.dropFirst(sharedPcapDirectory.path.count + 1))
            guard let (link, frames, _) = try? readCaptureUntilError(path), link.isSupported else { continue }
            let expected = try await Self.tcpdumpLines(path)
            for (i, frame) in frames.enumerated() where i < expected.count {
                let packet = frame.decode(link)
                let ours = frame.bytes.withUnsafeBytes { packet.summary(in: $0) }
                let theirs = expected[i]
                total += 1
                let isCore = frame.bytes.withUnsafeBytes { Self.isCore(packet, $0) }
                if isCore { core += 1 }
                if ours == theirs { exact += 1; continue }
                if Self.extends(theirs, ours) || Self.extends(ours, theirs) || Self.tcpdumpDecodesFurther(theirs, ours)
                    || Self.tcpdumpAddsHexDump(theirs, ours) { extended += 1; continue }
                report += "\(rel)#\(i + 1)\n  ours: \(ours)\n  tcpd: \(theirs)\n"
                if isCore && Self.knownDifferences[rel] == nil { failures.append("\(rel)#\(i + 1)\n  ours:    \(ours)\n  tcpdump: \(theirs)") }
            }
        }
        try? report.write(toFile: FileManager.default.temporaryDirectory.appendingPathComponent("hopscope-summary-differences.txt").path,
                          atomically: true, encoding: .utf8)
        print("summaries vs tcpdump: \(exact) exact, \(extended) extended, of \(total) packets (\(core) in the protocols summarised like tcpdump)")
        try? failures.joined(separator: "\n").write(toFile: FileManager.default.temporaryDirectory.appendingPathComponent("hopscope-summary-failures.txt").path,
                                                     atomically: true, encoding: .utf8)
        #expect(failures.isEmpty, "\(failures.count) summaries differ from tcpdump:\n\(failures.prefix(15).joined(separator: "\n"))")
        #expect(exact > 3000)
    }
}
