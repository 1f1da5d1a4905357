import Foundation
import Testing
@testable import OpenVSwitch

/// The fast flow-dump parser against the parser it replaced (`ReferenceFlowParser.swift`): on every
/// real dump under ../shared/data, on every line alone, on damaged lines and on benchmark-shaped
/// flows, both give the same `FlowDump` / `OpenFlowRule` or the same `FlowParseError`.
@Suite struct FlowParserEquivalenceTests {
    /// Every `dump-flows` text in the shared data: the ovs-flows fixtures and the sosreports.
    static let dumpFiles: [String] = {
        let ovsFlows = ((try? Fixtures.files(under: "ovs-flows")) ?? []).filter { !$0.hasSuffix("MANIFEST.md") }
        let sos = ((try? Fixtures.files(under: "sosreport")) ?? []).filter { $0.contains("dump-flows") && !$0.contains("dpctl") && !$0.contains("dpif") }
        return ovsFlows + sos
    }()

    enum Outcome: Equatable {
        case parsed(FlowDump)
        case rule(OpenFlowRule)
        case failed(FlowParseError)
    }
    static func outcome(_ body: () throws -> FlowDump) -> Outcome {
        do { return .parsed(try body()) } catch let e as FlowParseError { return .failed(e) } catch { return .failed(FlowParseError(line: -1, column: -1, message: "\(error)")) }
    }
    static func ruleOutcome(_ body: () throws -> OpenFlowRule) -> Outcome {
        do { return .rule(try body()) } catch let e as FlowParseError { return .failed(e) } catch { return .failed(FlowParseError(line: -1, column: -1, message: "\(error)")) }
    }

    @Test func theDataIsThere() {
        #expect(Self.dumpFiles.count >= 40, "expected ovs-flows fixtures and sosreport dumps under \(Fixtures.root.path)")
    }

    /// Whole dumps parse to equal FlowDumps (every flow, match item, action, header and other line).
    @Test(arguments: dumpFiles)
    func wholeDumpsAgree(file: String) throws {
        let text = try String(contentsOf: Fixtures.url(file), encoding: .utf8)
        let new = Self.outcome { try FlowDump(parsing: text) }
        let old = Self.outcome { try FlowDump.referenceParse(text) }
        #expect(new == old, "\(file)")
        // CRLF line ends and a text without a final newline take the other branches of the splitter.
        let crlf = text.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(Self.outcome { try FlowDump(parsing: crlf) } == Self.outcome { try FlowDump.referenceParse(crlf) }, "\(file) with CRLF")
        let trimmed = String(text.dropLast())
        #expect(Self.outcome { try FlowDump(parsing: trimmed) } == Self.outcome { try FlowDump.referenceParse(trimmed) }, "\(file) without its last byte")
    }

    /// Each line alone, and each line cut short or damaged at several places, parses the same or
    /// fails with the same line, column and message.
    @Test(arguments: dumpFiles)
    func singleAndDamagedLinesAgree(file: String) throws {
        let text = try String(contentsOf: Fixtures.url(file), encoding: .utf8)
        var checked = 0
        for (n, line) in text.split(separator: "\n").enumerated() where line.contains("actions=") {
            let raw = String(line)
            var variants = [raw]
            let u = Array(raw.utf8)
            for cut in stride(from: 7, to: u.count, by: max(7, u.count / 9)) {
                variants.append(String(decoding: u[..<cut], as: UTF8.self))
                for damage in ["/", "(", ")", "\"", "=", ",", "x", "0x", "[", "->", " ", ":"] {
                    variants.append(String(decoding: u[..<cut], as: UTF8.self) + damage + String(decoding: u[cut...], as: UTF8.self))
                }
            }
            for v in variants {
                let new = Self.ruleOutcome { try OpenFlowRule(parsing: v, line: n + 1) }
                let old = Self.ruleOutcome { try OpenFlowRule.referenceParse(v, line: n + 1) }
                #expect(new == old, "\(file):\(n + 1) variant \(v)")
                checked += 1
            }
        }
        #expect(checked > 0 || !text.contains("actions="))
    }

    /// Output parsed while it arrives (`FlowDumpStream`, behind `OVSNode.fetchFlowDump`) gives the
    /// same text and FlowDump as parsing it whole, whatever the chunk sizes, for every real dump,
    /// a dump cut mid-line, an empty output and a damaged one (same error).
    @Test(arguments: dumpFiles)
    func streamedDumpsAgree(file: String) throws {
        let text = try String(contentsOf: Fixtures.url(file), encoding: .utf8)
        let big = String(repeating: text, count: max(1, 300_000 / max(1, text.utf8.count)))
        for sample in [text, String(text.dropLast(7)), big, "", "\n", big + "priority=1,nw_src=1.2.3 actions=drop\n" + text] {
            let bytes = Array(sample.utf8)
            for chunkSize in [1 << 16, 4093, 100_000] where chunkSize < 5000 ? bytes.count < 400_000 : true {
                let stream = FlowDumpStream()
                var i = 0
                while i < bytes.count {
                    let j = min(bytes.count, i + chunkSize)
                    bytes[i..<j].withUnsafeBytes { stream.append($0) }
                    i = j
                }
                let streamed: Outcome
                do {
                    let (t, d) = try stream.finish()
                    #expect(t == sample)
                    streamed = .parsed(d)
                } catch let e as FlowParseError { streamed = .failed(e) }
                #expect(streamed == Self.outcome { try FlowDump(parsing: sample) }, "\(file), \(bytes.count) bytes in chunks of \(chunkSize)")
            }
        }
    }

    /// Hand-written lines for syntax the real dumps lack (names, masks, flags, learn, ct, errors).
    @Test func unusualLinesAgree() {
        let lines = [
            " cookie=0x1, duration=1.5s, table=3, n_packets=9, n_bytes=99, idle_timeout=10, hard_timeout=20, send_flow_rem reset_counts priority=7,in_port=\"tap-1\",dl_src=fa:16:3e:00:00:01/ff:ff:ff:00:00:00,nw_src=10.0.0.0/255.255.0.0,nw_dst=10.1.0.0/16,ipv6_src=fe80::/64,ipv6_dst=::1/ffff::,ct_state=+trk-est|+new,tcp_flags=+syn-ack,nw_frag=later,tun_id=0x5/0xff,metadata=0x1,reg0=0x1/0x1,xxreg0=0x1,ct_label=0x112233445566778899aabbccddeeff00 actions=drop",
            "priority=1,icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=fa:16:3e:00:00:02 actions=learn(table=5,priority=9,idle_timeout=3,hard_timeout=4,cookie=0x9,fin_idle_timeout=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],reg1=0x5,in_port=7,load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],load:0x1->NXM_NX_REG0[3],output:OXM_OF_IN_PORT[],foo=bar,delete_learned),output:NXM_NX_REG1[0..15]",
            "table=1,priority=2 actions=ct(commit,force,zone=0x5,table=4,alg=ftp,exec(load:0x1->NXM_NX_CT_MARK[],set_field:0x2->ct_label),nat(src=1.2.3.4)),ct(zone=99999),ct(zone=NXM_NX_REG6[0..15]),ct_clear,resubmit(,5),resubmit(1,2,ct),resubmit(1,2,x),resubmit:3,resubmit(\"p\",),goto_table:9",
            "arp,arp_op=2,arp_spa=1.2.3.4,arp_tpa=5.6.7.8,arp_sha=00:11:22:33:44:55 actions=mod_vlan_vid:5,set_vlan_pcp:3,push_vlan:0x8100,pop_vlan,strip_vlan,set_tunnel:0x5,set_tunnel64:0x6,mod_dl_src:fa:16:3e:00:00:03,mod_dl_dst:fa:16:3e:00:00:04,mod_nw_src:1.1.1.1,mod_nw_dst:2.2.2.2,mod_tp_src:80,mod_tp_dst:443,mod_nw_tos:4,dec_ttl,dec_ttl(1,2),note:00.11,set_queue:1,pop_queue,write_metadata:0x1/0x3,write_metadata:0x5,clone(output:3,drop),clone,exit,controller(reason=no_match),CONTROLLER:65535,NORMAL,flood,IN_PORT,LOCAL,ALL,17,output:LOCAL,output:0x10,output(port=1,max_len=10),frobnicate:9,move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_NX_REG0[0..3]->NXM_NX_REG1[0..4],move:foo[]->bar[],set_field:10.0.0.1->nw_src,set_field:fa:16:3e:00:00:05/ff:ff:ff:ff:ff:ff->eth_dst,set_field:\"x\"->in_port,set_field:1->nope,load:0x1->nope[],load:bad->NXM_NX_REG0[],load:0x1,conjunction(5,1/2)",
            "ip,dl_vlan=5,dl_vlan_pcp=3,vlan_tci=0x1000/0x1000,nw_proto=6,nw_tos=4,nw_ecn=1,nw_ttl=3,tp_src=0x50/0xfff0,tp_dst=80,pkt_mark=0x4,ct_zone=5,ct_mark=0x1/0x1,conj_id=5,actset_output=2,recirc_id=0x1,dp_hash=0x1/0x1,skb_priority=0x1,nw_frag=0x1/0x3,ct_state=0x21/0x21,tcp_flags=0x2,mplsm,rarp,eth,frob=1,in_port=LOCAL,in_port=0x5,in_port_oxm=5 actions=output:5",
            " table=0, priority=1 actions=drop", "priority=70000 actions=drop", "table=300 actions=drop", "cookie=0x11112222333344445, actions=drop",
            "dl_src=zz actions=drop", "nw_src=1.2.3.4/33 actions=drop", "ipv6_src=nope actions=drop", "ct_state=+bogus actions=drop", "nw_frag=maybe actions=drop",
            "reg0=0x100000000 actions=drop", "in_port=\"x actions=drop", "in_port= actions=drop", "actions=conjunction(1)", "actions=conjunction(1,3/2)",
            "actions=goto_table:x", "actions=mod_vlan_vid:5000", "actions=mod_dl_src:zz", "actions=resubmit(,300)", "actions=mod_nw_src:1.2", "actions=write_metadata:/x",
            "actions=move:NXM_NX_REG0[0..3]->NXM_NX_REG1[0..5]", "actions=learn(load:0x1->NXM_NX_REG0[],load:x->y[])", "priority=1,table=2 actions=drop", "dl_type=0x0800,nw_src=10.0.0.1/0.0.0.0,tun_src=1.2.3.4/32,ipv6_label=0x5,tun_flags=+oam actions=NORMAL",
            "  cookie=0x0, duration=1.0s, table=0, n_packets=0, n_bytes=0, out_port=5, importance=3, priority=0,actions=drop", "priority=0, actions=drop", "actions=", "no actions here",
            "in_port=tap\u{e9},dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=output:\"t\u{e9}\"",
        ]
        for (n, l) in lines.enumerated() {
            #expect(Self.ruleOutcome { try OpenFlowRule(parsing: l, line: n + 1) } == Self.ruleOutcome { try OpenFlowRule.referenceParse(l, line: n + 1) }, "\(l)")
        }
        let dump = lines.joined(separator: "\n")
        #expect(Self.outcome { try FlowDump(parsing: dump) } == Self.outcome { try FlowDump.referenceParse(dump) })
    }

    /// The benchmark's flow shapes, as ovs-ofctl prints them, over many ports.
    @Test func benchmarkShapedDumpAgrees() throws {
        var lines = ["NXST_FLOW reply (xid=0x4):"]
        for i in 0..<300 {
            let p = 100 + i, z = 1 + i % 50
            let m = String(format: "fa:16:3e:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
            let a = "10.\(20 + i / 62500).\((i / 250) % 250).\(i % 250 + 2)"
            let h = " cookie=0x0, duration=\(i).5\(i)s, table=\(i % 100), n_packets=\(i * 3), n_bytes=\(i * 300), idle_age=\(i), "
            lines += [
                h + "priority=100,in_port=\(p) actions=load:0x\(String(p, radix: 16))->NXM_NX_REG5[],load:0x\(String(z, radix: 16))->NXM_NX_REG6[],resubmit(,71)",
                h + "priority=90,dl_vlan=\(z),dl_dst=\(m) actions=load:0x\(String(p, radix: 16))->NXM_NX_REG5[],strip_vlan,resubmit(,81)",
                h + "priority=95,arp,reg5=0x\(String(p, radix: 16)),in_port=\(p),dl_src=\(m),arp_spa=\(a) actions=resubmit(,94)",
                h + "priority=80,udp,reg5=0x\(String(p, radix: 16)),in_port=\(p),dl_src=\(m),nw_src=\(a),tp_src=68,tp_dst=67 actions=resubmit(,73)",
                h + "priority=65,ip,reg5=0x\(String(p, radix: 16)),in_port=\(p),dl_src=\(m),nw_src=\(a) actions=ct(table=72,zone=NXM_NX_REG6[0..15])",
                h + "priority=74,ct_state=+est-rel-rpl,ip,reg5=0x\(String(p, radix: 16)) actions=resubmit(,73)",
                h + "priority=90,ct_state=+new-est,ip,reg5=0x\(String(p, radix: 16)) actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,91)",
                h + "priority=70,ct_state=+new-est,ip,reg5=0x\(String(p, radix: 16)) actions=conjunction(\(1000 + i),2/2)",
                h + "priority=70,conj_id=\(1000 + i),ct_state=+new-est,ip,reg5=0x\(String(p, radix: 16)) actions=load:0x\(String(1000 + i, radix: 16))->NXM_NX_REG7[],ct(commit,zone=NXM_NX_REG6[0..15]),output:\(p)",
                h + "priority=77,ct_state=+new-est,tcp,reg5=0x\(String(p, radix: 16)),tp_dst=\(22 + i) actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:\(p)",
            ]
        }
        let text = lines.joined(separator: "\n") + "\n"
        let new = try FlowDump(parsing: text)
        #expect(new.flows.count == 3000)
        #expect(new == (try FlowDump.referenceParse(text)))
    }
}
