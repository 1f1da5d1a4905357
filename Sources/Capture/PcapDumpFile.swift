import CPcap
import Foundation

/// One hop's pcap file, written with libpcap's dumper (nanosecond pcap, the handle's link type)
/// through an `AtomicOutputFile`: it appears under its final name only after `commit()`.
///
/// Ownership: owns the `pcap_dumper_t` (closed in `commit`, `abandon` or deinit). Concurrency:
/// used only by the hop's reading thread, then committed by the session after that thread ended.
final class PcapDumpFile {
    private let file: AtomicOutputFile
    private var dumper: OpaquePointer?
    /// Bytes written so far, including the 24-byte file header and 16 bytes per record.
    private(set) var bytesWritten: Int = 24

    var path: String { file.finalPath }
    var temporaryPath: String { file.temporaryPath }

    /// Opens the temporary file and writes the pcap header for `handle`'s link type and snaplen.
    /// Wraps `pcap_dump_fopen`.
    init(path: String, for handle: LivePcapHandle) throws {
        file = try AtomicOutputFile(path: path, bufferSize: 4 << 20)
        guard let d = pcap_dump_fopen(handle.pcap, file.stream) else {
            let message = handle.lastError
            file.abandon()
            throw PcapError(operation: "pcap_dump_fopen \(path)", hop: handle.hopLabel, message: message)
        }
        dumper = d
    }

    /// Appends one packet record. Called from the libpcap callback, so it stays minimal.
    /// Wraps `pcap_dump`.
    @inline(__always)
    func write(_ header: UnsafePointer<pcap_pkthdr>, _ bytes: UnsafePointer<UInt8>) {
        guard let dumper else { return }
        pcap_dump(UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self), header, bytes)
        bytesWritten += 16 + Int(header.pointee.caplen)
    }

    /// Flushes, syncs and closes the file, then moves it to its final name.
    func commit() throws {
        guard let d = dumper else { return }
        dumper = nil
        try file.commit { _ in pcap_dump_close(d) }
    }

    /// Removes the partial file.
    func abandon() {
        guard let d = dumper else { return }
        dumper = nil
        file.abandon { _ in pcap_dump_close(d) }
    }

    deinit { abandon() }
}
