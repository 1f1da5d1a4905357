// Benchmark driver for the Packets decoders (run by scripts/bench/packets.sh, built -c release).
//
//   packets-bench generate FILE COUNT many|few   write a mixed pcap (ICMP, TCP, DNS, DHCP, ARP, VXLAN)
//   packets-bench MODE FILE                      one pass over FILE; prints "MODE packets wall-s cpu-s checksum"
//   packets-bench sizes                          bytes of the values decoding and correlation copy
//
// Modes: pcap-loop (libpcap read loop through OfflineCapture only), decode (structured decode of
// every frame: layers, validation, issue), decode-fields (decode, then every field of every layer
// read into its header value, as JSON output does), decode-identities (decode + outer/inner flow
// identities), summaries (decode + one-line summary with timestamp, written to /dev/null).
// Each loop works on one Packet through a pointer: a Packet captured by the closure would be
// copied out of its box for every non-mutating call.
import Capture
import Foundation
import HopscopeModel
import Packets

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("packets-bench: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: packets-bench generate FILE COUNT many|few | packets-bench MODE FILE | packets-bench sizes") }

if arguments[1] == "generate" {
    guard arguments.count == 5, let count = Int(arguments[3]), ["many", "few"].contains(arguments[4]) else {
        fail("usage: packets-bench generate FILE COUNT many|few")
    }
    var generator = MixedCaptureGenerator(manyHosts: arguments[4] == "many")
    try generator.write(to: arguments[2], count: count)
    exit(0)
}

if arguments[1] == "sizes" {
    print("Layer \(MemoryLayout<Layer>.size) LayerHeader \(MemoryLayout<LayerHeader>.size) Packet \(MemoryLayout<Packet>.size) "
          + "FlowIdentity \(MemoryLayout<FlowIdentity>.size) PacketIdentities \(MemoryLayout<PacketIdentities>.size)")
    exit(0)
}
guard arguments.count == 3 else { fail("usage: packets-bench MODE FILE") }
let mode = arguments[1]
let capture: OfflineCapture
do { capture = try OfflineCapture(path: arguments[2]) } catch { fail("\(error)") }

/// Seconds of `clock` (CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID for CPU time).
func now(_ clock: clockid_t) -> Double {
    var t = timespec()
    clock_gettime(clock, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// One pass of a mode: the number of packets and a checksum that keeps the work observable.
func run(_ mode: String, _ capture: OfflineCapture) throws -> (packets: Int, checksum: Int) {
    let linkType = capture.linkType
    var packets = 0
    var checksum = 0
    var packet = Packet()
    try withUnsafeMutablePointer(to: &packet) { packet in
        switch mode {
        case "pcap-loop":
            try capture.forEach { frame in
                packets += 1
                checksum &+= frame.capturedLength
                return true
            }
        case "decode":
            try capture.forEach { frame in
                packet.pointee.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
                packets += 1
                checksum &+= packet.pointee.layers.count
                return true
            }
        case "decode-fields":
            try capture.forEach { frame in
                packet.pointee.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
                for layer in packet.pointee.layers {
                    checksum &+= layer.header(in: frame.bytes).offset
                }
                packets += 1
                return true
            }
        case "decode-identities":
            try capture.forEach { frame in
                packet.pointee.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
                let identities = packet.pointee.identities(in: frame.bytes)
                packets += 1
                checksum &+= Int(truncatingIfNeeded: identities.outer?.payloadDigest ?? 0) &+ (identities.inner == nil ? 0 : 1)
                return true
            }
        case "summaries":
            var text = TextBuffer(capacity: 1 << 17)
            let devNull = open("/dev/null", O_WRONLY)
            defer { close(devNull) }
            try capture.forEach { frame in
                packet.pointee.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
                text.timeOfDay(seconds: frame.seconds, nanoseconds: frame.nanoseconds)
                text.append(" ")
                packet.pointee.writeSummary(in: frame.bytes, to: &text)
                text.append("\n")
                if text.count >= 1 << 16 {
                    checksum &+= text.withBytes { write(devNull, $0.baseAddress, $0.count) }
                    text.removeAll()
                }
                packets += 1
                return true
            }
            checksum &+= text.withBytes { write(devNull, $0.baseAddress, $0.count) }
        default:
            fail("unknown mode \(mode)")
        }
    }
    return (packets, checksum)
}

let wallStart = now(CLOCK_MONOTONIC), cpuStart = now(CLOCK_PROCESS_CPUTIME_ID)
let (packets, checksum) = try run(mode, capture)
let wall = now(CLOCK_MONOTONIC) - wallStart, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
print("\(mode) \(packets) \(String(format: "%.4f", wall)) \(String(format: "%.4f", cpu)) \(checksum & 1)")

/// Writes a classic pcap (microseconds, Ethernet) of a repeating mix: ICMP echo request and reply,
/// TCP SYN (with options) and data, DNS query and response, DHCP discover and offer, ARP request
/// and reply, and VXLAN-encapsulated ICMP, with many distinct hosts (65,536 addresses in 10.0.0.0/16, random
/// ports) or few (4 hosts).
struct MixedCaptureGenerator {
    var manyHosts: Bool
    private var random = SplitMix(seed: 42)

    init(manyHosts: Bool) { self.manyHosts = manyHosts }

    mutating func host() -> UInt32 {
        manyHosts ? 0x0A00_0000 | UInt32(truncatingIfNeeded: random.next() & 0xFFFF) : 0xC000_0201 + UInt32(random.next() & 3)
    }

    mutating func write(to path: String, count: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { fail("cannot create \(path)") }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var out: [UInt8] = []
        out.reserveCapacity(1 << 22)
        // Global header: magic, v2.4, thiszone, sigfigs, snaplen 65535, LINKTYPE_ETHERNET.
        out += le32(0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(65535) + le32(1)
        for i in 0..<count {
            let frame = makeFrame(i)
            let micros = UInt32(i % 1_000_000)
            out += le32(1_700_000_000 + UInt32(i / 1_000_000)) + le32(micros) + le32(UInt32(frame.count)) + le32(UInt32(frame.count))
            out += frame
            if out.count >= 1 << 22 {
                file.write(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        file.write(Data(out))
        try file.close()
    }

    mutating func makeFrame(_ i: Int) -> [UInt8] {
        let src = host(), dst = host()
        let sport = manyHosts ? UInt16(truncatingIfNeeded: random.next() | 1024) : 40000
        switch i % 10 {
        case 0, 1: return ethernet(src, dst, 0x0800, ipv4(src, dst, 1, i, icmpEcho(request: i % 10 == 0, i)))
        case 2: return ethernet(src, dst, 0x0800, ipv4(src, dst, 6, i, tcp(sport, 80, syn: true, payload: 0)))
        case 3: return ethernet(src, dst, 0x0800, ipv4(src, dst, 6, i, tcp(80, sport, syn: false, payload: 120)))
        case 4: return ethernet(src, dst, 0x0800, ipv4(src, dst, 17, i, udp(sport, 53, dnsQuery(i))))
        case 5: return ethernet(src, dst, 0x0800, ipv4(src, dst, 17, i, udp(53, sport, dnsResponse(i, dst))))
        case 6: return ethernet(src, 0xFFFF_FFFF, 0x0800, ipv4(0, 0xFFFF_FFFF, 17, i, udp(68, 67, dhcp(discover: true, i, src))))
        case 7: return ethernet(src, dst, 0x0806, arp(request: i % 20 == 7, src, dst))
        default:
            let inner = ethernet(src &+ 1, dst &+ 1, 0x0800, ipv4(src &+ 1, dst &+ 1, 1, i, icmpEcho(request: true, i)))
            return ethernet(0xC633_0001, 0xC633_0002, 0x0800, ipv4(0xC633_0001, 0xC633_0002, 17, i, udp(sport, 4789, vxlan(100 + UInt32(i % 7), inner))))
        }
    }

    func ethernet(_ src: UInt32, _ dst: UInt32, _ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        [0xFA, 0x16, 0x3E] + Array(be32(dst).suffix(3)) + [0xFA, 0x16, 0x3E] + Array(be32(src).suffix(3)) + be16(type) + payload
    }

    func ipv4(_ src: UInt32, _ dst: UInt32, _ proto: UInt8, _ id: Int, _ payload: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x45, 0] + be16(UInt16(20 + payload.count)) + be16(UInt16(truncatingIfNeeded: id)) + [0x40, 0, 64, proto, 0, 0]
            + be32(src) + be32(dst)
        let sum = checksum(h)
        h[10] = UInt8(sum >> 8); h[11] = UInt8(sum & 0xFF)
        return h + payload
    }

    func icmpEcho(request: Bool, _ i: Int) -> [UInt8] {
        var m: [UInt8] = [request ? 8 : 0, 0, 0, 0] + be16(UInt16(truncatingIfNeeded: i >> 4)) + be16(UInt16(truncatingIfNeeded: i))
        m += (0..<56).map { UInt8(truncatingIfNeeded: $0 &+ i) }
        let sum = checksum(m)
        m[2] = UInt8(sum >> 8); m[3] = UInt8(sum & 0xFF)
        return m
    }

    func tcp(_ sport: UInt16, _ dport: UInt16, syn: Bool, payload: Int) -> [UInt8] {
        let options: [UInt8] = syn ? [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7] : [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1]
        let offset = UInt8((20 + options.count) / 4) << 4
        return be16(sport) + be16(dport) + be32(1000) + be32(syn ? 0 : 2000) + [offset, syn ? 0x02 : 0x18] + be16(64240) + [0, 0, 0, 0]
            + options + [UInt8](repeating: 0x41, count: payload)
    }

    func udp(_ sport: UInt16, _ dport: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    func dnsName(_ i: Int) -> [UInt8] {
        let label = Array("host\(i % 1000)".utf8)
        return [UInt8(label.count)] + label + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0]
    }

    func dnsQuery(_ i: Int) -> [UInt8] {
        be16(UInt16(truncatingIfNeeded: i)) + [0x01, 0x00] + be16(1) + be16(0) + be16(0) + be16(0) + dnsName(i) + be16(1) + be16(1)
    }

    func dnsResponse(_ i: Int, _ address: UInt32) -> [UInt8] {
        var m = be16(UInt16(truncatingIfNeeded: i)) + [0x81, 0x80] + be16(1) + be16(2) + be16(0) + be16(0) + dnsName(i) + be16(1) + be16(1)
        for k in 0..<2 { m += [0xC0, 12] + be16(1) + be16(1) + be32(300) + be16(4) + be32(address &+ UInt32(k)) }
        return m
    }

    func dhcp(discover: Bool, _ i: Int, _ client: UInt32) -> [UInt8] {
        var m: [UInt8] = [1, 1, 6, 0] + be32(UInt32(truncatingIfNeeded: i)) + [0, 0, 0x80, 0] + [UInt8](repeating: 0, count: 16)
        m += [0xFA, 0x16, 0x3E] + Array(be32(client).suffix(3)) + [UInt8](repeating: 0, count: 10 + 64 + 128)
        m += [99, 130, 83, 99, 53, 1, 1, 61, 7, 1, 0xFA, 0x16, 0x3E] + Array(be32(client).suffix(3))
        m += [50, 4] + be32(client) + [12, 6] + Array("vm-\(i % 100)".utf8).prefix(6) + [UInt8](repeating: 0x30, count: max(0, 6 - "vm-\(i % 100)".utf8.count))
        m += [55, 4, 1, 3, 6, 15, 255]
        return m + [UInt8](repeating: 0, count: 8)
    }

    func arp(request: Bool, _ src: UInt32, _ dst: UInt32) -> [UInt8] {
        [0, 1, 8, 0, 6, 4, 0, request ? 1 : 2, 0xFA, 0x16, 0x3E] + Array(be32(src).suffix(3)) + be32(src)
            + (request ? [0, 0, 0, 0, 0, 0] : [0xFA, 0x16, 0x3E] + Array(be32(dst).suffix(3))) + be32(dst) + [UInt8](repeating: 0, count: 18)
    }

    func vxlan(_ vni: UInt32, _ inner: [UInt8]) -> [UInt8] {
        [0x08, 0, 0, 0] + Array(be32(vni << 8)) + inner
    }

    func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
}

/// A small deterministic generator (SplitMix64) so every run writes the same file.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
