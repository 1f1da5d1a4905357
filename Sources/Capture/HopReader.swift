import CPcap
import Foundation
import Synchronization

/// One packet as captured at one hop: when, how long it was on the wire, and the bytes kept.
public struct CapturedPacket: Sendable, Equatable {
    /// Index of the hop in the session's capture points.
    public var hop: Int
    /// Capture time in nanoseconds since the Unix epoch.
    public var timestampNanoseconds: Int64
    /// Length on the wire; `data.count` is smaller when the snapshot length cut the packet.
    public var originalLength: Int
    /// The captured bytes, starting with the link-layer header.
    public var data: [UInt8]

    public init(hop: Int, timestampNanoseconds: Int64, originalLength: Int, data: [UInt8]) {
        self.hop = hop
        self.timestampNanoseconds = timestampNanoseconds
        self.originalLength = originalLength
        self.data = data
    }
}

/// Why a hop stopped capturing.
public enum HopStopReason: Sendable, Equatable, CustomStringConvertible {
    case requested
    case packetLimit(Int)
    case sizeLimit(Int)
    case failed(String)

    public var description: String {
        switch self {
        case .requested: "stopped"
        case .packetLimit(let n): "reached \(n) packets"
        case .sizeLimit(let b): "file reached \(b) bytes"
        case .failed(let why): "failed: \(why)"
        }
    }
}

/// The reading side of one hop: a dedicated thread blocked in `pcap_dispatch`, writing every
/// packet to the hop's pcap file from inside the libpcap callback (no copy) and, when asked,
/// copying packets into batches for the session's packet stream.
///
/// Concurrency: `run()` executes on its own `Thread` (never the cooperative pool). Counters are
/// atomics read by the live view; `requestStop()` is callable from any thread.
final class HopReader: @unchecked Sendable {
    let index: Int
    let point: CapturePoint
    let handle: LivePcapHandle
    let file: PcapDumpFile?
    private let packetLimit: Int?
    private let sizeLimit: Int?
    private let deliver: (@Sendable ([CapturedPacket]) -> Void)?

    let packets = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    private let stopRequested = Atomic<Bool>(false)
    /// False once a limit was reached: packets after it are not written, even in the same block.
    private var accepting = true
    /// Set by the reading thread before it ends; read after the thread has finished.
    private(set) var stopReason: HopStopReason = .requested
    private var pending: [CapturedPacket] = []

    init(index: Int, point: CapturePoint, handle: LivePcapHandle, file: PcapDumpFile?, packetLimit: Int?, sizeLimit: Int?,
         deliver: (@Sendable ([CapturedPacket]) -> Void)?) {
        self.index = index
        self.point = point
        self.handle = handle
        self.file = file
        self.packetLimit = packetLimit
        self.sizeLimit = sizeLimit
        self.deliver = deliver
    }

    /// Asks the reading thread to stop after the packet at hand. Wraps `pcap_breakloop`.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        handle.breakLoop()
    }

    /// The reading loop; returns when a stop was requested, a limit was reached or libpcap failed.
    /// After a requested stop it drains what the kernel already holds (see `drain`).
    func run() {
        withExtendedLifetime(self) {
            while !stopRequested.load(ordering: .acquiring) {
                if dispatch() == PCAP_ERROR {
                    stopReason = .failed(handle.lastError)
                    return
                }
            }
            if accepting { drain() }
        }
    }

    /// Reads what the ring holds now (blocking until a block is handed over, unless non-blocking).
    private func dispatch() -> Int32 {
        let n = pcap_dispatch(handle.pcap, -1, { user, header, bytes in
            guard let user, let header, let bytes else { return }
            Unmanaged<HopReader>.fromOpaque(user).takeUnretainedValue().take(header, bytes)
        }, Unmanaged.passUnretained(self).toOpaque().assumingMemoryBound(to: UInt8.self))
        flushBatch()
        return n
    }

    /// Without immediate mode the kernel hands over a partly filled block only when its timeout
    /// (100 ms) expires, so packets that arrived just before a stop would be lost, as they are
    /// with `tcpdump -w`. Waiting one timeout and reading without blocking writes them too.
    private func drain() {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard pcap_setnonblock(handle.pcap, 1, &errbuf) == 0 else { return }
        if !handle.immediate { usleep(150_000) }
        var rounds = 0
        while rounds < 1000, accepting, dispatch() > 0 { rounds += 1 }
    }

    /// Handles one packet inside the libpcap callback. Kept short: this is the hot path.
    @inline(__always)
    private func take(_ header: UnsafePointer<pcap_pkthdr>, _ data: UnsafePointer<UInt8>) {
        guard accepting else { return }
        let count = packets.load(ordering: .relaxed) + 1
        if let file {
            file.write(header, data)
        }
        packets.store(count, ordering: .relaxed)
        bytes.add(Int(header.pointee.len), ordering: .relaxed)
        if deliver != nil {
            let h = header.pointee
            let ns = Int64(h.ts.tv_sec) * 1_000_000_000 + Int64(h.ts.tv_usec)
            pending.append(CapturedPacket(hop: index, timestampNanoseconds: ns, originalLength: Int(h.len),
                                          data: Array(UnsafeBufferPointer(start: data, count: Int(h.caplen)))))
        }
        if let packetLimit, count >= packetLimit {
            stop(.packetLimit(packetLimit))
        } else if let sizeLimit, let file, file.bytesWritten >= sizeLimit {
            stop(.sizeLimit(sizeLimit))
        }
    }

    private func stop(_ reason: HopStopReason) {
        stopReason = reason
        accepting = false
        stopRequested.store(true, ordering: .releasing)
        handle.breakLoop()
    }

    private func flushBatch() {
        guard let deliver, !pending.isEmpty else { return }
        deliver(pending)
        pending.removeAll(keepingCapacity: true)
    }
}
