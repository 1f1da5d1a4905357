import CPcap
import Foundation
import Namespaces

/// A libpcap call that failed, naming the call, the hop (interface and namespace) and libpcap's
/// own message, with advice where the cause is common.
public struct PcapError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var hop: String
    public var message: String

    public init(operation: String, hop: String, message: String) {
        self.operation = operation
        self.hop = hop
        self.message = message
    }

    public var description: String {
        "\(operation) on \(hop) failed: \(message)"
    }
}

/// How one live capture handle is set up. The defaults suit writing a busy hop to file without
/// drops: full-size packets, a kernel ring much larger than tcpdump's 2 MiB, and delivery in
/// blocks (TPACKET_V3) handed over at least every 100 ms, which costs far fewer wakeups than
/// immediate mode at high rates (measured by scripts/bench/capture.sh).
public struct LiveCaptureOptions: Sendable, Equatable {
    /// Bytes kept of each packet (tcpdump's default: the whole packet).
    public var snapshotLength: Int32 = 262_144
    /// Size of the kernel ring buffer in bytes. A larger ring absorbs bursts while the writer is busy.
    public var bufferSize: Int32 = 32 << 20
    /// Deliver each packet as soon as it arrives instead of in blocks (`pcap_set_immediate_mode`):
    /// lower latency for interactive use, more wakeups per packet.
    public var immediate = false
    /// Receive frames not addressed to the interface, as tcpdump does by default.
    public var promiscuous = true
    /// A BPF filter in tcpdump syntax, compiled by libpcap; nil captures everything.
    public var filter: String?

    public init(snapshotLength: Int32 = 262_144, bufferSize: Int32 = 32 << 20, immediate: Bool = false,
                promiscuous: Bool = true, filter: String? = nil) {
        self.snapshotLength = snapshotLength
        self.bufferSize = bufferSize
        self.immediate = immediate
        self.promiscuous = promiscuous
        self.filter = filter
    }
}

/// Packet counters from the kernel for one handle. Wraps `pcap_stats`.
public struct PcapStatistics: Sendable, Equatable, Codable {
    /// Packets the kernel passed the filter (`ps_recv`).
    public var received: UInt64
    /// Packets the kernel dropped because the ring was full (`ps_drop`): the reader fell behind.
    public var droppedByKernel: UInt64

    public init(received: UInt64 = 0, droppedByKernel: UInt64 = 0) {
        self.received = received
        self.droppedByKernel = droppedByKernel
    }
}

/// One activated live libpcap handle on an interface, created inside the interface's network
/// namespace and owning its `pcap_t` (closed in `deinit`).
///
/// Concurrency: the handle is created on a thread inside the target namespace (the socket keeps
/// that namespace afterwards) and then read by exactly one dedicated thread. `breakLoop()` may be
/// called from any thread; `statistics()` is serialised by a lock. Everything else belongs to the
/// reading thread.
public final class LivePcapHandle: @unchecked Sendable {
    /// The raw handle; valid until deinit.
    let pcap: OpaquePointer
    /// Where the handle captures, for messages: `IF@NETNS`.
    public let hopLabel: String
    /// Whether packets are handed over one by one (`pcap_set_immediate_mode`) rather than in blocks.
    public let immediate: Bool
    /// The link-layer header type of the capture, e.g. 1 for Ethernet. Wraps `pcap_datalink`.
    public var linkType: Int32 { pcap_datalink(pcap) }
    private let statsLock = NSLock()
    private var lastStatistics = PcapStatistics()

    /// Opens and activates a capture on `interface` inside `namespace`, compiling and installing
    /// `options.filter`. Timestamps have nanosecond precision.
    ///
    /// Throws `PcapError` naming the failing libpcap step (no such device, permission, a filter
    /// that does not compile), or `SystemCallError` when the namespace cannot be entered.
    /// Wraps `pcap_create`, `pcap_set_*`, `pcap_activate`, `pcap_compile`, `pcap_setfilter`.
    public static func open(interface: String, in namespace: NamespaceRef, options: LiveCaptureOptions) throws -> LivePcapHandle {
        let label = namespace == .current ? interface : "\(interface)@\(namespace.description)"
        let handle = try inNetworkNamespace(namespace) { () throws -> LivePcapHandle in
            var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
            guard let p = pcap_create(interface, &errbuf) else {
                throw PcapError(operation: "pcap_create", hop: label, message: errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            }
            let fail = { (op: String) -> PcapError in
                PcapError(operation: op, hop: label, message: String(cString: pcap_geterr(p)))
            }
            // The handle must be closed on every failure path below, so it is owned from here on.
            let owned = LivePcapHandle(pcap: p, hopLabel: label, immediate: options.immediate)
            guard pcap_set_snaplen(p, options.snapshotLength) == 0 else { throw fail("pcap_set_snaplen") }
            guard pcap_set_promisc(p, options.promiscuous ? 1 : 0) == 0 else { throw fail("pcap_set_promisc") }
            guard pcap_set_immediate_mode(p, options.immediate ? 1 : 0) == 0 else { throw fail("pcap_set_immediate_mode") }
            guard pcap_set_buffer_size(p, options.bufferSize) == 0 else { throw fail("pcap_set_buffer_size") }
            // Without immediate mode the kernel hands over a block at most this late, which bounds
            // the delay of the live view and of a stop.
            guard pcap_set_timeout(p, 100) == 0 else { throw fail("pcap_set_timeout") }
            guard pcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO)) == 0 else {
                throw fail("pcap_set_tstamp_precision")
            }
            let status = pcap_activate(p)
            if status < 0 {
                throw PcapError(operation: "pcap_activate", hop: label, message: activationMessage(status, p, interface: interface, namespace: namespace))
            }
            if let filter = options.filter, !filter.isEmpty {
                var program = bpf_program()
                guard pcap_compile(p, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                    throw PcapError(operation: "compiling the filter \"\(filter)\"", hop: label,
                                    message: String(cString: pcap_geterr(p)) + "; the filter uses tcpdump's syntax (pcap-filter(7))")
                }
                defer { pcap_freecode(&program) }
                guard pcap_setfilter(p, &program) == 0 else { throw fail("pcap_setfilter") }
            }
            return owned
        }
        return handle
    }

    private init(pcap: OpaquePointer, hopLabel: String, immediate: Bool) {
        self.pcap = pcap
        self.hopLabel = hopLabel
        self.immediate = immediate
    }

    deinit {
        pcap_close(pcap)
    }

    /// Makes a blocked or running `pcap_dispatch` return soon. Safe from any thread (libpcap
    /// wakes the reader through an eventfd on Linux). Wraps `pcap_breakloop`.
    public func breakLoop() {
        pcap_breakloop(pcap)
    }

    /// The kernel's counters for this handle so far. Wraps `pcap_stats`.
    public func statistics() -> PcapStatistics {
        statsLock.lock()
        defer { statsLock.unlock() }
        var s = pcap_stat()
        if pcap_stats(pcap, &s) == 0 {
            lastStatistics = PcapStatistics(received: UInt64(s.ps_recv), droppedByKernel: UInt64(s.ps_drop))
        }
        return lastStatistics
    }

    /// The last libpcap error text of this handle. Wraps `pcap_geterr`.
    var lastError: String { String(cString: pcap_geterr(pcap)) }

    /// A message for a failed `pcap_activate` that says what to do about the common causes.
    private static func activationMessage(_ status: Int32, _ p: OpaquePointer, interface: String, namespace: NamespaceRef) -> String {
        let text = String(cString: pcap_geterr(p))
        switch status {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            let place = namespace == .current ? "this namespace" : "netns \(namespace.description)"
            return "no interface \(interface) in \(place) (\(text)); list them with `ip -n \(namespace == .current ? "NETNS" : namespace.description) link`, or name an OVS port to capture it through a mirror"
        case PCAP_ERROR_PERM_DENIED:
            return "permission denied (\(text)); capturing needs root or CAP_NET_RAW"
        case PCAP_ERROR_IFACE_NOT_UP:
            return "interface \(interface) is down; bring it up with `ip link set \(interface) up`"
        default:
            return text.isEmpty ? "error \(status)" : text
        }
    }
}
