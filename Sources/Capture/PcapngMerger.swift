import CPcap
import Foundation

/// Merges the per-hop pcap files of a session into one pcapng: one interface block per hop (named
/// `IF@NETNS`, described in words), packets in timestamp order across hops, and one statistics block
/// per hop with the kernel's received and dropped counts.
enum PcapngMerger {
    /// Reads every hop file with libpcap and writes the merged file atomically at `path`.
    /// Throws `PcapError` for an unreadable hop file, `SystemCallError` for write errors; the
    /// merged file is then not created.
    static func merge(hops: [(point: CapturePoint, file: String, kernel: PcapStatistics)], into path: String,
                      startNanoseconds: Int64, endNanoseconds: Int64) throws {
        let cursors = try hops.map { try SavefileCursor(path: $0.file, hopLabel: $0.point.label) }
        let writer = try PcapngWriter(path: path)
        do {
            for (hop, cursor) in zip(hops, cursors) {
                try writer.addInterface(PcapngInterface(name: hop.point.label, description: hop.point.about,
                                                        linkType: UInt16(truncatingIfNeeded: cursor.linkType),
                                                        snapshotLength: UInt32(cursor.snapshotLength)))
            }
            var delivered = [UInt64](repeating: 0, count: cursors.count)
            // A linear scan for the earliest head: sessions have a handful of hops, not hundreds.
            while true {
                var earliest: Int?
                for (i, c) in cursors.enumerated() where c.hasPacket {
                    if earliest == nil || c.timestampNanoseconds < cursors[earliest!].timestampNanoseconds { earliest = i }
                }
                guard let i = earliest else { break }
                let c = cursors[i]
                try writer.writePacket(interface: UInt32(i), timestampNanoseconds: c.timestampNanoseconds,
                                       originalLength: c.originalLength, data: c.data)
                delivered[i] += 1
                try c.advance()
            }
            for (i, hop) in hops.enumerated() {
                try writer.writeStatistics(interface: UInt32(i), PcapngInterfaceStatistics(
                    startNanoseconds: startNanoseconds, endNanoseconds: endNanoseconds,
                    received: hop.kernel.received, droppedByOS: hop.kernel.droppedByKernel, delivered: delivered[i]))
            }
            try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// Reads a pcap or pcapng file packet by packet with libpcap, keeping the current packet.
///
/// Ownership: owns the offline `pcap_t` (closed in deinit); `data` is valid until `advance()`.
/// Wraps `pcap_open_offline_with_tstamp_precision` and `pcap_next_ex`.
final class SavefileCursor {
    private let pcap: OpaquePointer
    private let hopLabel: String
    private var header: UnsafeMutablePointer<pcap_pkthdr>?
    private var bytes: UnsafePointer<UInt8>?
    private(set) var hasPacket = false

    init(path: String, hopLabel: String) throws {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let p = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            throw PcapError(operation: "reading \(path)", hop: hopLabel, message: errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        pcap = p
        self.hopLabel = hopLabel
        try advance()
    }

    deinit { pcap_close(pcap) }

    var linkType: Int32 { pcap_datalink(pcap) }
    var snapshotLength: Int32 { pcap_snapshot(pcap) }

    var timestampNanoseconds: Int64 {
        let ts = header!.pointee.ts
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_usec)
    }

    var originalLength: UInt32 { header!.pointee.len }

    var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: Int(header!.pointee.caplen)) }

    /// Moves to the next packet; `hasPacket` turns false at the end of the file.
    func advance() throws {
        var h: UnsafeMutablePointer<pcap_pkthdr>?
        var b: UnsafePointer<UInt8>?
        let r = pcap_next_ex(pcap, &h, &b)
        switch r {
        case 1:
            header = h
            bytes = b
            hasPacket = true
        case PCAP_ERROR_BREAK:
            hasPacket = false
        default:
            hasPacket = false
            throw PcapError(operation: "pcap_next_ex", hop: hopLabel, message: String(cString: pcap_geterr(pcap)))
        }
    }
}
