import CPcap
import Foundation
import Packets

/// A capture file (pcap or pcapng) opened for reading through libpcap, optionally filtered by a
/// BPF expression that libpcap compiles.
///
/// Owns its `pcap_t` and closes it in `deinit`. Not thread-safe: read it from one thread (it is
/// not `Sendable`). Frames handed to `forEach` are borrowed from libpcap's buffer and valid only
/// during the call, which is what makes reading allocation-free.
/// Wraps `pcap_open_offline_with_tstamp_precision`, `pcap_compile`, `pcap_setfilter` and
/// `pcap_next_ex`.
public final class OfflineCapture {
    /// The file as given.
    public let path: String
    /// The link type of the file's frames (for pcapng, of its first interface; libpcap rejects
    /// files whose interfaces differ in link type).
    public let linkType: LinkType
    /// The snap length the file was written with.
    public let snapLength: Int
    private let handle: OpaquePointer

    /// Opens a capture file. Timestamps are read with nanosecond precision whatever the file has.
    ///
    /// - Throws: `OfflineCaptureError` with libpcap's message and the file name when the file is
    ///   missing, unreadable, or not a pcap/pcapng file libpcap understands.
    public init(path: String) throws(OfflineCaptureError) {
        self.path = path
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            throw OfflineCaptureError(operation: "open", path: path, message: String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.handle = handle
        linkType = LinkType(rawValue: pcap_datalink(handle))
        snapLength = Int(pcap_snapshot(handle))
    }

    deinit { pcap_close(handle) }

    /// Keeps only the frames a BPF filter expression (tcpdump syntax) accepts.
    ///
    /// - Throws: `OfflineCaptureError` with libpcap's compiler message when the expression does not
    ///   compile for this file's link type.
    public func setFilter(_ expression: String) throws(OfflineCaptureError) {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw OfflineCaptureError(operation: "compile filter '\(expression)'", path: path, message: String(cString: pcap_geterr(handle)))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            throw OfflineCaptureError(operation: "set filter '\(expression)'", path: path, message: String(cString: pcap_geterr(handle)))
        }
    }

    /// Calls `body` with each frame in file order until the file ends, `limit` frames were read,
    /// or `body` returns false. Returns how many frames `body` saw.
    ///
    /// - Throws: what `body` throws, or `OfflineCaptureError` when the file is damaged part-way
    ///   (libpcap's message says where); frames before the damage have been delivered.
    @discardableResult
    public func forEach(limit: Int? = nil, _ body: (CapturedFrame) throws -> Bool) throws -> Int {
        var count = 0
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while limit.map({ count < $0 }) ?? true {
            let status = pcap_next_ex(handle, &header, &data)
            if status == PCAP_ERROR_BREAK { break }
            if status < 0 {
                throw OfflineCaptureError(operation: "read", path: path, message: String(cString: pcap_geterr(handle)))
            }
            guard status == 1, let header, let data else { continue }
            let h = header.pointee
            let frame = CapturedFrame(seconds: Int64(h.ts.tv_sec), nanoseconds: Int32(truncatingIfNeeded: h.ts.tv_usec),
                                      wireLength: Int(h.len),
                                      bytes: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)))
            count += 1
            if try !body(frame) { break }
        }
        return count
    }
}

/// One frame read from a capture: its timestamp, lengths and bytes.
///
/// `bytes` is borrowed from libpcap and valid only inside the callback that received it; copy it
/// (`Array(frame.bytes)`) to keep it.
public struct CapturedFrame {
    /// Capture time: seconds since the Unix epoch, and nanoseconds within the second.
    public var seconds: Int64
    public var nanoseconds: Int32
    /// Length of the frame on the wire (pcap `len`).
    public var wireLength: Int
    public var bytes: UnsafeRawBufferPointer

    public var capturedLength: Int { bytes.count }

    public init(seconds: Int64, nanoseconds: Int32, wireLength: Int, bytes: UnsafeRawBufferPointer) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.wireLength = wireLength
        self.bytes = bytes
    }
}

/// A capture file could not be opened, filtered or read. Carries libpcap's own message.
public struct OfflineCaptureError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    /// libpcap's error text (`pcap_geterr` or the open error buffer).
    public var message: String

    public var description: String {
        // libpcap's open errors already start with the file name; do not say it twice.
        let text = message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
        return "cannot \(operation) \(path): \(text)"
    }
}
