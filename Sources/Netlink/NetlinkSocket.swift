import CMnl
import Foundation
import Namespaces

/// An rtnetlink socket (libmnl `mnl_socket`) bound to the network namespace it was created in.
///
/// The socket keeps its namespace for life, whatever thread later uses it, so `open(in:)` creates
/// it on a thread that entered the namespace (the thread rule) and hands it back. It owns its
/// `mnl_socket*` and releases it in `deinit`; the 64 KiB receive buffer is borrowed from a
/// process-wide pool for each receive (see `ReceiveBufferPool`).
///
/// Concurrency: not thread-safe; use one socket from one thread at a time (it is not `Sendable`).
/// Failure: socket calls throw `NetlinkError` with `.system` naming the call and errno.
public final class NetlinkSocket: NetlinkTransport {
    private let handle: OpaquePointer
    private var sequence: UInt32 = 0
    public let portID: UInt32
    public let namespaceLabel: String

    /// Largest datagram accepted: the kernel fills dump datagrams up to 32 KiB; one message of a
    /// device with many virtual functions can be larger.
    public static let receiveBufferSize = 1 << 16

    /// Opens and binds a NETLINK_ROUTE socket in the calling thread's network namespace, with
    /// extended acknowledgements turned on. Wraps `mnl_socket_open2`, `mnl_socket_bind`.
    public init(namespaceLabel: String = NamespaceRef.current.description) throws {
        self.namespaceLabel = namespaceLabel
        let context = "netns \(namespaceLabel)"
        guard let socket = mnl_socket_open2(NETLINK_ROUTE, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw NetlinkError(operation: "socket", namespace: namespaceLabel,
                               reason: .system(SystemCallError(operation: "mnl_socket_open2(NETLINK_ROUTE)", errno: errno, context: context)))
        }
        do {
            try systemCall("mnl_socket_bind", context: context) { mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) }
            var on: Int32 = 1
            // Without it the kernel's explanation of an EINVAL is lost; old kernels refuse it harmlessly.
            _ = mnl_socket_setsockopt(socket, NetlinkSocketOption.extendedAck.rawValue, &on, socklen_t(MemoryLayout<Int32>.size))
        } catch let e as SystemCallError {
            mnl_socket_close(socket)
            throw NetlinkError(operation: "bind", namespace: namespaceLabel, reason: .system(e))
        }
        handle = socket
        portID = mnl_socket_get_portid(socket)
    }

    /// Opens a socket inside `namespace` (on a short-lived thread that entered it) and returns it;
    /// the socket then works from any thread. Throws `SystemCallError` when the namespace cannot
    /// be entered (gone, or no CAP_SYS_ADMIN), `NetlinkError` when the socket cannot be made.
    public static func open(in namespace: NamespaceRef, label: String? = nil) throws -> NetlinkSocket {
        let name = label ?? namespace.description
        return try inNetworkNamespace(namespace) { try NetlinkSocket(namespaceLabel: name) }
    }

    deinit {
        mnl_socket_close(handle)
    }

    /// The socket's file descriptor, for poll/select.
    public var fileDescriptor: Int32 { mnl_socket_get_fd(handle) }

    public func nextSequenceNumber() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// Wraps `mnl_socket_sendto`.
    public func send(_ message: [UInt8]) throws {
        do {
            let sent = try message.withUnsafeBytes { bytes in
                try systemCall("mnl_socket_sendto", context: "netns \(namespaceLabel)") {
                    mnl_socket_sendto(handle, bytes.baseAddress, bytes.count)
                }
            }
            guard sent == message.count else {
                throw SystemCallError(operation: "mnl_socket_sendto (sent \(sent) of \(message.count) bytes)", errno: EMSGSIZE)
            }
        } catch let e as SystemCallError {
            throw NetlinkError(operation: "send", namespace: namespaceLabel, reason: .system(e))
        }
    }

    /// Wraps `mnl_socket_recvfrom`; a datagram larger than the buffer fails with ENOSPC.
    public func receive<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let buffer = ReceiveBufferPool.shared.take()
        defer { ReceiveBufferPool.shared.give(buffer) }
        let count: Int
        do {
            count = try systemCall("mnl_socket_recvfrom", context: "netns \(namespaceLabel)") {
                mnl_socket_recvfrom(handle, buffer.baseAddress, buffer.count)
            }
        } catch let e as SystemCallError {
            throw NetlinkError(operation: "receive", namespace: namespaceLabel, reason: .system(e))
        }
        return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }
}

/// Receive buffers shared by every socket of the process: a buffer is only needed during one
/// `receive`, and an inventory keeps a socket per namespace open, so a buffer per socket would
/// make the kernel fault in fresh pages for every namespace read. With the pool, as many
/// buffers exist as receives ever ran at the same time (one per reading thread), and they stay
/// warm.
///
/// Thread-safe (a lock around the free list); the buffers are never freed.
final class ReceiveBufferPool: @unchecked Sendable {
    static let shared = ReceiveBufferPool()
    private var free: [UnsafeMutableRawBufferPointer] = []
    private let lock = NSLock()

    /// A buffer of `NetlinkSocket.receiveBufferSize` bytes, for the caller alone until `give`.
    func take() -> UnsafeMutableRawBufferPointer {
        if let b = lock.withLock({ free.popLast() }) { return b }
        return UnsafeMutableRawBufferPointer.allocate(byteCount: NetlinkSocket.receiveBufferSize, alignment: 8)
    }

    /// Hands a buffer from `take` back for the next receive.
    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        lock.withLock { free.append(buffer) }
    }
}
