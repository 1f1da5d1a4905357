import ArgumentParser
import Capture
import Foundation
import Packets

extension CommandGroups {
    /// Commands of the packets area (decoding capture files).
    static var packets: [any ParsableCommand.Type] { [ReadCommand.self] }
}

/// `hopscope read FILE`: decodes a pcap or pcapng file offline, like `tcpdump -n -r`.
struct ReadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Decode a pcap or pcapng capture file, one line per packet (like tcpdump -n -r).",
        discussion: """
            Decodes Ethernet, 802.1Q/QinQ, Linux cooked (SLL, SLL2) and raw-IP captures: ARP, IPv4, \
            IPv6 with extension headers, ICMP, ICMPv6 with neighbour discovery, UDP, TCP, DHCP, DNS, \
            and the inner packet of VXLAN (ports 4789 and 8472), Geneve and GRE tunnels, on the same line.
            Sequence numbers are absolute (as tcpdump -S prints them); times are UTC.
            --json prints every decoded field of every packet as a JSON array, with the packet's flow \
            identity (what cross-hop correlation matches on).
            A packet that is cut short or malformed ends with [|proto] or [malformed proto: reason].
            Exit status: 0 when the file was read, 2 when it could not be opened, filtered or read.
            """)

    @Argument(help: ArgumentHelp("The capture file (pcap or pcapng).", valueName: "FILE"))
    var file: String

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp("Keep only packets matching this BPF filter (tcpdump syntax), compiled by libpcap.", valueName: "BPF"))
    var filter: String?

    @Option(name: .customShort("c"), help: ArgumentHelp("Stop after COUNT packets (after filtering).", valueName: "COUNT"))
    var count: Int?

    @Flag(name: [.customShort("j"), .long], help: "Print every decoded field as JSON.")
    var json = false

    @Flag(name: .customShort("e"), help: "Print link-level headers (MAC addresses, EtherType, VLAN tags), like tcpdump -e.")
    var linkHeaders = false

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("-c needs a positive number of packets, not \(count)") }
    }

    func run() throws {
        let capture: OfflineCapture
        do {
            capture = try OfflineCapture(path: file)
            if let filter { try capture.setFilter(filter) }
        } catch {
            printError("hopscope read: \(error)")
            printError(FileManager.default.fileExists(atPath: file)
                ? "hopscope read: check the filter syntax (see pcap-filter(7)) and that the file is a pcap or pcapng capture"
                : "hopscope read: check the path: no such file")
            throw ExitCode(2)
        }
        if !capture.linkType.isSupported {
            printError("hopscope read: link type \(capture.linkType) (\(capture.linkType.rawValue)) of \(file) is not decoded; packets are shown as raw lengths")
        }
        let output = StandardOutput()
        do {
            if json { try writeJSON(capture, output) } else { try writeLines(capture, output) }
        } catch {
            output.flush()
            printError("hopscope read: \(error)")
            throw ExitCode(2)
        }
        output.flush()
    }

    private func writeLines(_ capture: OfflineCapture, _ output: StandardOutput) throws {
        var packet = Packet()
        var text = TextBuffer(capacity: 1 << 16)
        let options = SummaryOptions(linkHeaders: linkHeaders)
        let linkType = capture.linkType
        try capture.forEach(limit: count) { frame in
            packet.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
            text.timeOfDay(seconds: frame.seconds, nanoseconds: frame.nanoseconds)
            text.append(" ")
            packet.writeSummary(in: frame.bytes, to: &text, options: options)
            text.append("\n")
            if text.count >= 1 << 15 {
                text.withBytes { output.write($0) }
                text.removeAll()
            }
            return true
        }
        text.withBytes { output.write($0) }
    }

    private func writeJSON(_ capture: OfflineCapture, _ output: StandardOutput) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var packet = Packet()
        var first = true
        let linkType = capture.linkType
        output.write(Array("[".utf8))
        try capture.forEach(limit: count) { frame in
            packet.decode(frame.bytes, linkType: linkType, wireLength: frame.wireLength)
            let detail = packet.detail(in: frame.bytes, seconds: frame.seconds, nanoseconds: frame.nanoseconds)
            output.write(Array((first ? "\n" : ",\n").utf8))
            first = false
            output.write(Array(try encoder.encode(detail)))
            return true
        }
        output.write(Array("\n]\n".utf8))
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

/// Buffered writes to standard output in large chunks (one write per 64 KiB, not per line).
final class StandardOutput {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    func write(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue } else { break } }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
