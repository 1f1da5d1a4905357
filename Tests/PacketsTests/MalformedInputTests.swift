import Foundation
import HopscopeModel
import Packets
import Testing

/// Short and broken frames give `truncated` or `malformed` issues, never a crash, and the two are
/// told apart: short because the snap length cut the frame, or short although the whole frame
/// was captured.
@Suite struct MalformedInputTests {
    typealias B = FrameBuilder

    func decode(_ frame: [UInt8], wireLength: Int? = nil) -> Packet {
        Packet(decoding: frame, linkType: .ethernet, wireLength: wireLength)
    }

    @Test func shortEthernetIsTruncatedWhenTheSnapLengthCutIt() {
        let cut = decode(Array(repeating: 0xAB, count: 10), wireLength: 60)
        #expect(cut.issue?.kind == .truncated)
        #expect(cut.issue?.layer == .ethernet)
        #expect(cut.issue?.needed == 14 && cut.issue?.available == 10)
        let whole = decode(Array(repeating: 0xAB, count: 10))
        #expect(whole.issue?.kind == .malformed)
    }

    @Test func ipv4HeaderLengthBelowFiveWordsIsMalformed() {
        var frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1)))
        frame[14] = 0x44
        let packet = decode(frame)
        #expect(packet.issue?.kind == .malformed)
        #expect(packet.issue?.reason == .headerLengthTooSmall)
        #expect(packet.layers.map(\.protocolID) == [.ethernet])
    }

    @Test func ipv4WrongVersionIsMalformed() {
        var frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1)))
        frame[14] = 0x55
        #expect(decode(frame).issue?.reason == .badVersion)
    }

    @Test func ipv4TotalLengthBeyondTheFrameIsMalformedButDecodingGoesOn() {
        let frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, totalLength: 200, B.icmpEcho(id: 7, seq: 9)))
        let packet = decode(frame)
        #expect(packet.issue?.kind == .malformed)
        #expect(packet.issue?.reason == .lengthBeyondEnclosing)
        #expect(packet.layers.map(\.protocolID).contains(.icmp))
        let cut = decode(frame, wireLength: 214)
        #expect(cut.issue == nil, "a snap-length cut inside the payload is no error: \(String(describing: cut.issue))")
    }

    @Test func udpLengthBelowItsHeaderIsMalformed() {
        let frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 17, B.udp(1000, 2000, length: 4, [1, 2, 3])))
        let packet = decode(frame)
        #expect(packet.issue?.kind == .malformed)
        #expect(packet.issue?.layer == .udp)
        #expect(packet.issue?.reason == .lengthTooSmall)
    }

    @Test func tcpDataOffsetBelowFiveIsMalformed() {
        var tcp = [UInt8](repeating: 0, count: 20)
        tcp[12] = 0x40
        let packet = decode(B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 6, tcp)))
        #expect(packet.issue?.kind == .malformed)
        #expect(packet.issue?.layer == .tcp)
    }

    @Test func tcpOptionsPastTheHeaderAreCaughtWithoutReadingPastTheFrame() throws {
        // Regression: a TCP header cut inside its options once made the option reader run past the
        // frame (found by the tshark comparison, before the fuzzer ran).
        var tcp = [UInt8](repeating: 0, count: 24)
        tcp[12] = 0xF0
        tcp[20] = 0xFE
        tcp[21] = 40
        let frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 6, tcp))
        let packet = decode(frame, wireLength: frame.count + 100)
        #expect(packet.issue?.kind == .truncated)
        frame.withUnsafeBytes { b in
            for layer in packet.layers {
                if case .tcp(let h) = layer.header(in: b) { #expect(h.options.end <= b.count) }
            }
            _ = packet.summary(in: b)
            _ = packet.detail(in: b)
        }
    }

    @Test func dnsCompressionLoopIsMalformedNotAHang() {
        // A question whose name is a pointer to itself.
        var dns = B.be16(0x4242) + [0x01, 0x00] + B.be16(1) + B.be16(0) + B.be16(0) + B.be16(0)
        dns += [0xC0, 12] + B.be16(1) + B.be16(1)
        let packet = decode(B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 17, B.udp(5353, 53, dns))))
        #expect(packet.issue?.kind == .malformed)
        #expect(packet.issue?.reason == .pointerLoop)
    }

    @Test func dnsPointerOutsideTheMessageIsMalformed() {
        var dns = B.be16(0x4242) + [0x01, 0x00] + B.be16(1) + B.be16(0) + B.be16(0) + B.be16(0)
        dns += [0xC0, 200] + B.be16(1) + B.be16(1)
        let packet = decode(B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 17, B.udp(5353, 53, dns))))
        #expect(packet.issue?.reason == .pointerOutOfMessage)
    }

    @Test func shortDHCPIsTruncatedUnderASnapLength() {
        let dhcp = [UInt8](repeating: 0, count: 100)
        let frame = B.ethernet(B.ipv4("0.0.0.0", "255.255.255.255", proto: 17, B.udp(68, 67, dhcp)))
        let packet = decode(frame, wireLength: frame.count + 300)
        #expect(packet.issue?.kind == .truncated)
        #expect(packet.issue?.layer == .dhcp)
    }

    @Test func deepTunnelNestingStopsAtTheLayerLimit() {
        var frame = B.ethernet(B.ipv4("10.0.0.1", "10.0.0.2", proto: 1, B.icmpEcho(id: 1, seq: 1)))
        for _ in 0..<5 {
            frame = B.ethernet(B.ipv4("198.18.0.1", "198.18.0.2", proto: 17, B.udp(1234, 4789, B.vxlan(vni: 1, frame))))
        }
        let packet = decode(frame)
        #expect(packet.layers.count == LayerStack.capacity)
        #expect(packet.issue?.reason == .tooManyLayers)
    }

    /// The malformed and truncated captures of the tcpdump test suite (and the other suites'
    /// broken ones): every frame decodes, summarises, details and encodes without a crash, and
    /// the ones known to be broken report it.
    @Test(arguments: [
        "tcpdump/tcp_rst_data-trunc.pcap", "tcpdump/tcp_rst_diag_payload-trunc.pcap", "tcpdump/heapoverflow-tcp_print.pcap",
        "tcpdump/tcp-auth-heapoverflow.pcap", "tcpdump/tcp_header_heapoverflow.pcap", "tcpdump/kday2.pcap", "tcpdump/kday3.pcap",
        "tcpdump/kday4.pcap", "tcpdump/kday5.pcap", "tcpdump/kday6.pcap", "tcpdump/kday7.pcap", "tcpdump/kday8.pcap",
        "tcpdump/arp-oobr.pcap", "tcpdump/arp-too-long-tha.pcap", "tcpdump/icmp-rfc8335-missing-bytes.pcap", "tcpdump/icmp_ext_oob_poc.pcap",
        "tcpdump/icmp-cksum-oobr-1.pcap", "tcpdump/icmp-cksum-oobr-2.pcap", "tcpdump/icmp-cksum-oobr-3.pcapng", "tcpdump/icmp-cksum-oobr-4.pcapng",
        "tcpdump/icmp-icmp_print-oobr-1.pcap", "tcpdump/icmp-icmp_print-oobr-2.pcap", "tcpdump/icmp-length-zero.pcapng",
        "tcpdump/icmpv6-length-zero.pcapng", "tcpdump/icmp6_mobileprefix_asan.pcap", "tcpdump/icmp6_nodeinfo_oobr.pcap",
        "tcpdump/bootp_asan.pcap", "tcpdump/bootp_asan-2.pcap", "tcpdump/dns-zlip-1.pcap", "tcpdump/dns-zlip-2.pcap", "tcpdump/dns-zlip-3.pcap",
        "tcpdump/dns-badlabel.pcap", "tcpdump/dns_fwdptr.pcap", "tcpdump/ipv4_invalid_length.pcap", "tcpdump/ipv4_invalid_hdr_length.pcap",
        "tcpdump/ipv4_invalid_total_length.pcap", "tcpdump/ipv4_invalid_total_length_2.pcap", "tcpdump/ip_printroute_asan.pcap",
        "tcpdump/ip_ts_opts_asan.pcap", "tcpdump/heapoverflow-in_checksum.pcap", "tcpdump/heapoverflow-ip_demux_print.pcap",
        "tcpdump/ipv6_invalid_length.pcap", "tcpdump/ipv6_invalid_length_2.pcap", "tcpdump/ipv6_jumbogram_invalid_length.pcap",
        "tcpdump/ipv6_39_byte_header.pcap", "tcpdump/ipv6_missing_jumbo_payload_option.pcap", "tcpdump/ipv6_frag6_negative_len.pcap",
        "tcpdump/ipv6hdr-heapoverflow.pcap", "tcpdump/ipv6-next-header-oobr-1.pcap", "tcpdump/ipv6-next-header-oobr-2.pcap",
        "tcpdump/ipv6-rthdr-oobr.pcap", "tcpdump/ip6_frag_asan.pcap", "tcpdump/cve2015-0261-ipv6.pcap", "tcpdump/LINKTYPE_IPV6_invalid.pcap",
        "tcpdump/LINKTYPE_IPV4_invalid.pcap", "tcpdump/gre-heapoverflow-1.pcap", "tcpdump/gre-heapoverflow-2.pcap",
        "tcpdump/udp-length-heapoverflow.pcap", "tcpdump/ipv6-bad-version.pcap",
        "skydive/flow/pcaptraces/icmpv4-truncated.pcap", "skydive/flow/pcaptraces/vxlan-icmpv4-truncated.pcap",
        "skydive/flow/pcaptraces/ntp-corrupted.pcap", "pyroute2/captures/test_parser/test_truncated_packet.pcap",
        "pyroute2/captures/test_parser/test_invalid_client_id_option.pcap", "pyroute2/captures/test_parser/test_invalid_router_option.pcap",
        "gopacket/layers-test-packets/dns_test__testDNSMalformedPacket.pcap", "gopacket/layers-test-packets/dns_test__testDNSMalformedPacket2.pcap",
        "gopacket/layers-test-packets/dns_test__testAnotherMalformedDNS.pcap", "gopacket/layers-test-packets/dns_test__testMalformedDNSAgain.pcap",
        "gopacket/layers-test-packets/dns_test__testMalformedDNSOhGodMakeItStop.pcap", "gopacket/layers-test-packets/dns_test__testMalformedDNSOPT.pcap",
        "gopacket/layers-test-packets/dns_test__testPacketDNSPanic7.pcap",
    ])
    func brokenCapturesNeverCrash(_ file: String) throws {
        let path = sharedPcapDirectory.appendingPathComponent(file).path
        let (link, frames, _) = try readCaptureUntilError(path)
        #expect(!frames.isEmpty, "\(file) has no frames libpcap reads")
        for frame in frames {
            let packet = frame.decode(link)
            frame.bytes.withUnsafeBytes { b in
                _ = packet.summary(in: b)
                _ = packet.summary(in: b, options: SummaryOptions(linkHeaders: true))
                _ = packet.identities(in: b)
                #expect((try? JSONEncoder().encode(packet.detail(in: b))) != nil)
            }
        }
    }

    /// Per capture: how many frames report a truncated and a malformed issue (decode or detail).
    func issueCounts(_ file: String) throws -> (truncated: Int, malformed: Int) {
        let (link, frames, _) = try readCaptureUntilError(sharedPcapDirectory.appendingPathComponent(file).path)
        var counts = (truncated: 0, malformed: 0)
        for frame in frames {
            let packet = frame.decode(link)
            let issue = frame.bytes.withUnsafeBytes { packet.detail(in: $0).issue }
            if issue?.kind == .truncated { counts.truncated += 1 }
            if issue?.kind == .malformed { counts.malformed += 1 }
        }
        return counts
    }

    /// What the fuzzer exercises, over every frame of every shared capture, plus the fuzz
    /// regression fixtures (Fixtures/fuzz: first byte the link type index of FuzzPackets.swift).
    @Test func everyFrameOfEverySharedCaptureDecodesSummarisesAndEncodes() throws {
        var frames = 0
        for path in sharedCaptures() {
            guard let (link, stored, _) = try? readCaptureUntilError(path) else { continue }
            for frame in stored {
                let packet = frame.decode(link)
                frame.bytes.withUnsafeBytes { b in
                    _ = packet.summary(in: b, options: SummaryOptions(linkHeaders: true))
                    _ = packet.identities(in: b)
                    _ = try? JSONEncoder().encode(packet.detail(in: b))
                }
                frames += 1
            }
        }
        #expect(frames > 3000)
    }

    @Test func fuzzRegressionFixturesDecode() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") && $0 != "README.md" }
        #expect(!files.isEmpty)
        let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .rawFile, .ipv4, .ipv6, .null, .loop]
        for name in files {
            let data = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            guard let first = data.first else { continue }
            let frame = Array(data.dropFirst())
            for wireLength in [frame.count, frame.count + 100] {
                let packet = Packet(decoding: frame, linkType: linkTypes[Int(first) % linkTypes.count], wireLength: wireLength)
                frame.withUnsafeBytes { b in
                    _ = packet.summary(in: b)
                    _ = packet.identities(in: b)
                    _ = try? JSONEncoder().encode(packet.detail(in: b))
                }
            }
        }
    }

    /// Broken captures whose damage is in a header: the decoders report it, with the right kind
    /// (cut by the snap length, or a length, label or pointer that cannot be).
    @Test(arguments: [
        ("tcpdump/arp-oobr.pcap", DecodeError.Kind.malformed), ("tcpdump/dns-badlabel.pcap", .malformed),
        ("tcpdump/dns_fwdptr.pcap", .malformed), ("tcpdump/ipv4_invalid_length.pcap", .malformed),
        ("tcpdump/ipv4_invalid_hdr_length.pcap", .malformed), ("tcpdump/ipv4_invalid_total_length.pcap", .malformed),
        ("tcpdump/ipv6_invalid_length.pcap", .malformed), ("tcpdump/ipv6hdr-heapoverflow.pcap", .malformed),
        ("tcpdump/gre-heapoverflow-1.pcap", .malformed), ("tcpdump/icmp-cksum-oobr-1.pcap", .malformed),
        ("tcpdump/icmp6_nodeinfo_oobr.pcap", .malformed), ("pyroute2/captures/test_parser/test_invalid_router_option.pcap", .malformed),
        ("gopacket/layers-test-packets/dns_test__testMalformedDNSOhGodMakeItStop.pcap", .malformed),
        ("tcpdump/udp-length-heapoverflow.pcap", .truncated), ("tcpdump/ipv6-rthdr-oobr.pcap", .truncated),
        ("tcpdump/tcp_header_heapoverflow.pcap", .truncated),
    ])
    func brokenHeadersAreReported(_ file: String, _ kind: DecodeError.Kind) throws {
        let counts = try issueCounts(file)
        #expect((kind == .truncated ? counts.truncated : counts.malformed) > 0, "\(file): \(counts)")
    }
}
