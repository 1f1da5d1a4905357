import Foundation
import Namespaces
import Synchronization

/// What a capture session captures, where it writes, and when it stops.
public struct CaptureConfiguration: Sendable {
    /// The hops, in path order from the sender (the order the timeline expects packets in).
    public var points: [CapturePoint]
    public var options: LiveCaptureOptions
    /// Each hop stops after this many packets (tcpdump's `-c`, applied per hop).
    public var packetLimitPerHop: Int?
    /// Each hop stops when its pcap file reaches this many bytes.
    public var fileSizeLimitPerHop: Int?
    /// The whole session stops after this long.
    public var duration: Duration?
    /// Directory for the per-hop pcap files and the merged pcapng; nil writes no files.
    public var outputDirectory: String?
    /// Copy packets into `CaptureSession.packets` for live analysis (costs a copy per packet).
    public var deliverPackets: Bool
    /// How many packet batches the stream holds for a slow consumer before counting them as missed.
    public var streamBatchLimit: Int
    /// Where partial files are recorded while written, so a crash leaves none behind for long.
    public var journal: CleanupJournal?

    public init(points: [CapturePoint], options: LiveCaptureOptions = .init(), packetLimitPerHop: Int? = nil,
                fileSizeLimitPerHop: Int? = nil, duration: Duration? = nil, outputDirectory: String? = nil,
                deliverPackets: Bool = false, streamBatchLimit: Int = 4096) {
        self.points = points
        self.options = options
        self.packetLimitPerHop = packetLimitPerHop
        self.fileSizeLimitPerHop = fileSizeLimitPerHop
        self.duration = duration
        self.outputDirectory = outputDirectory
        self.deliverPackets = deliverPackets
        self.streamBatchLimit = streamBatchLimit
    }
}

/// Counters of one hop while it runs and when it ended.
public struct HopProgress: Sendable, Equatable {
    public var label: String
    /// Packets read and written by Hopscope.
    public var packets: Int
    /// Bytes on the wire of those packets.
    public var bytes: Int
    /// The kernel's view: packets that passed the filter, and those dropped because the ring was full.
    public var kernel: PcapStatistics
}

/// The outcome of one hop after the session ended.
public struct HopResult: Sendable {
    public var point: CapturePoint
    public var progress: HopProgress
    public var stopReason: HopStopReason
    /// The committed pcap file, when files were written.
    public var file: String?
}

/// The outcome of a finished session: per-hop results and the files written.
public struct CaptureResult: Sendable {
    public var hops: [HopResult]
    /// The merged pcapng with one interface per hop, when files were written.
    public var mergedFile: String?
    /// Packets the stream consumer did not take in time (the files still hold them).
    public var packetsMissedByStream: Int
    public var started: Date
    public var ended: Date
}

/// Captures on many interfaces in many namespaces at once.
///
/// Each hop's libpcap handle is created inside its namespace (`inNetworkNamespace`) and read by a
/// dedicated OS thread that writes the hop's pcap file directly from the libpcap callback, so
/// neither the cooperative pool nor a copy sits on the hot path. Packets are optionally copied into
/// `packets`, an `AsyncStream` of batches. The session stops on `stop()` (Ctrl-C handlers call
/// it), on the configured duration, or when every hop reached its packet or size limit; `finish()`
/// then commits the per-hop files atomically and merges them into one pcapng.
///
/// Ownership: the session owns the handles, files and threads; an unfinished session's partial
/// files are removed when it is released. Concurrency: `stop()` and `progress()` are callable from
/// any thread or task.
public final class CaptureSession: Sendable {
    public let configuration: CaptureConfiguration
    /// The packet batches, when `deliverPackets` is set; finishes when every hop stopped.
    public let packets: AsyncStream<[CapturedPacket]>
    /// Where this session writes, when it writes files.
    public let outputDirectory: String?
    public let started: Date

    private let readers: [HopReader]
    private let allStopped = DispatchGroup()
    private let streamMissed = SharedCounter()
    private let continuation: AsyncStream<[CapturedPacket]>.Continuation

    /// Opens every hop (all or nothing: a hop that fails closes the ones opened before) and starts
    /// reading. Throws `PcapError` naming the failing hop, or `SystemCallError` for the namespace
    /// or the output directory.
    public init(_ configuration: CaptureConfiguration) throws {
        precondition(!configuration.points.isEmpty, "a capture session needs at least one capture point")
        self.configuration = configuration
        let (stream, continuation) = AsyncStream<[CapturedPacket]>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.streamBatchLimit))
        self.packets = stream
        self.continuation = continuation
        self.outputDirectory = configuration.outputDirectory
        if let dir = configuration.outputDirectory {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        var deliver: (@Sendable ([CapturedPacket]) -> Void)?
        if configuration.deliverPackets {
            let missed = streamMissed
            deliver = { batch in
                if case .dropped = continuation.yield(batch) { missed.value.add(batch.count, ordering: .relaxed) }
            }
        }
        var readers: [HopReader] = []
        for (i, point) in configuration.points.enumerated() {
            let handle = try LivePcapHandle.open(interface: point.interface, in: point.namespace, options: configuration.options)
            var file: PcapDumpFile?
            if let dir = configuration.outputDirectory {
                let path = "\(dir)/\(String(format: "%02d", i + 1))-\(point.fileStem).pcap"
                try configuration.journal?.record(.removeFile(path: AtomicOutputFile.temporaryPath(for: path)),
                                                  note: "capture file of \(point.label) being written")
                file = try PcapDumpFile(path: path, for: handle)
            }
            readers.append(HopReader(index: i, point: point, handle: handle, file: file,
                                     packetLimit: configuration.packetLimitPerHop,
                                     sizeLimit: configuration.fileSizeLimitPerHop, deliver: deliver))
        }
        self.readers = readers
        self.started = Date()
        for reader in readers {
            allStopped.enter()
            let thread = Thread { [allStopped] in
                reader.run()
                allStopped.leave()
            }
            thread.name = "hopscope-capture-\(reader.point.label)"
            thread.qualityOfService = .userInteractive
            thread.start()
        }
        allStopped.notify(queue: .global()) { continuation.finish() }
        if let duration = configuration.duration {
            let (s, attos) = duration.components
            let nanos = Int(s) * 1_000_000_000 + Int(attos / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanos)) { [weak self] in self?.stop() }
        }
    }

    /// Stops every hop soon (each finishes the packet at hand). Safe from any thread, a signal
    /// source or a task; calling it again does nothing more.
    public func stop() {
        for reader in readers { reader.requestStop() }
    }

    /// Counters of every hop now, for the live view.
    public func progress() -> [HopProgress] {
        readers.map {
            HopProgress(label: $0.point.label, packets: $0.packets.load(ordering: .relaxed),
                        bytes: $0.bytes.load(ordering: .relaxed), kernel: $0.handle.statistics())
        }
    }

    /// True once every hop stopped reading.
    public var isFinished: Bool { allStopped.wait(timeout: .now()) == .success }

    /// Waits (suspending, not blocking a pool thread) until every hop stopped, then commits the
    /// per-hop files and writes the merged pcapng. Throws when a file cannot be completed; no
    /// partial file is left under a final name in that case.
    public func finish() async throws -> CaptureResult {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            allStopped.notify(queue: .global()) { done.resume() }
        }
        let ended = Date()
        let finalProgress = progress()
        var hops: [HopResult] = []
        for (reader, progress) in zip(readers, finalProgress) {
            try reader.file?.commit()
            hops.append(HopResult(point: reader.point, progress: progress, stopReason: reader.stopReason, file: reader.file?.path))
        }
        var merged: String?
        if let dir = outputDirectory {
            let path = "\(dir)/all-hops.pcapng"
            try configuration.journal?.record(.removeFile(path: AtomicOutputFile.temporaryPath(for: path)), note: "merged capture being written")
            try PcapngMerger.merge(hops: hops.map { ($0.point, $0.file!, $0.progress.kernel) }, into: path,
                                   startNanoseconds: Int64(started.timeIntervalSince1970 * 1e9),
                                   endNanoseconds: Int64(ended.timeIntervalSince1970 * 1e9))
            merged = path
        }
        return CaptureResult(hops: hops, mergedFile: merged, packetsMissedByStream: streamMissed.value.load(ordering: .relaxed),
                             started: started, ended: ended)
    }

    deinit {
        for reader in readers { reader.requestStop() }
        allStopped.wait()
    }
}

/// An atomic counter that closures can share (an `Atomic` itself cannot be captured).
final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}
