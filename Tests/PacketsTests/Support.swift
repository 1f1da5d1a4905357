import Capture
import Foundation
import Namespaces
import Packets
import Testing

/// The shared real captures, by path relative to the package root (resolves in every worktree and CI).
let sharedPcapDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/data/pcap").standardizedFileURL

/// The lab's reference captures (recorded by scripts/record-captures from a healthy lab).
let labCaptureDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("captures").standardizedFileURL

func labCaptures() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: labCaptureDirectory.path)) ?? []
    return names.filter { $0.hasSuffix(".pcap") }.sorted().map { labCaptureDirectory.appendingPathComponent($0).path }
}

/// One frame of a capture file, copied out of libpcap's buffer.
struct StoredFrame {
    var seconds: Int64
    var nanoseconds: Int32
    var wireLength: Int
    var bytes: [UInt8]

    func decode(_ linkType: LinkType) -> Packet {
        bytes.withUnsafeBytes { Packet(decoding: $0, linkType: linkType, wireLength: wireLength) }
    }
}

/// Reads every frame of a capture file through libpcap.
func readCapture(_ path: String, filter: String? = nil) throws -> (LinkType, [StoredFrame]) {
    let capture = try OfflineCapture(path: path)
    if let filter { try capture.setFilter(filter) }
    var frames: [StoredFrame] = []
    try capture.forEach { frame in
        frames.append(StoredFrame(seconds: frame.seconds, nanoseconds: frame.nanoseconds, wireLength: frame.wireLength, bytes: Array(frame.bytes)))
        return true
    }
    return (capture.linkType, frames)
}

/// Reads the frames libpcap delivers before it stops; returns the error it stopped with, if any
/// (libpcap refuses pcapng files whose interfaces differ in link type, part-way through).
func readCaptureUntilError(_ path: String) throws -> (LinkType, [StoredFrame], OfflineCaptureError?) {
    let capture = try OfflineCapture(path: path)
    var frames: [StoredFrame] = []
    do {
        try capture.forEach { frame in
            frames.append(StoredFrame(seconds: frame.seconds, nanoseconds: frame.nanoseconds, wireLength: frame.wireLength, bytes: Array(frame.bytes)))
            return true
        }
    } catch let error as OfflineCaptureError {
        return (capture.linkType, frames, error)
    }
    return (capture.linkType, frames, nil)
}

/// Every pcap and pcapng file under a directory of the shared captures, sorted, as paths.
func sharedCaptures(under sub: String = "") -> [String] {
    let root = sharedPcapDirectory.appendingPathComponent(sub)
    guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
    var out: [String] = []
    while let item = walker.nextObject() as? String {
        if item.hasSuffix(".pcap") || item.hasSuffix(".pcapng") { out.append(root.appendingPathComponent(item).path) }
    }
    return out.sorted()
}

/// Runs a tool (tshark, tcpdump) to completion and returns its standard output and exit status,
/// through `HostCommand` (async: the test's thread is not held while the tool runs).
func toolOutput(_ executable: String, _ arguments: [String]) async throws -> (output: Data, status: Int32) {
    let r = try await HostCommand.run([executable] + arguments, timeout: .seconds(300), check: false)
    return (Data(r.standardOutput.utf8), r.exitCode)
}
