import Foundation
import HopscopeModel
import Namespaces

/// TCP connection attempts and listeners inside network namespaces, on plain sockets.
///
/// Each socket is created on a thread that entered the namespace (the thread rule), and keeps
/// that namespace afterwards. Used by the lab checks: a listener in an instance stands in for
/// sshd, and a connect from the external namespace is the user trying to reach it.
public enum TCPProbe {
    /// What a connection attempt met.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// The three-way handshake completed.
        case connected
        /// A RST came back (nothing listening, or a REJECT).
        case refused
        /// No answer within the deadline (dropped on the way, or filtered).
        case timedOut
        /// Another error, such as no route to host.
        case failed(String)

        public var description: String {
            switch self {
            case .connected: "connected"
            case .refused: "connection refused"
            case .timedOut: "no answer (timed out)"
            case .failed(let why): why
            }
        }
    }

    /// A listening socket; closes it when released.
    public final class Listener: Sendable {
        let descriptor: Int32
        public let port: UInt16
        init(descriptor: Int32, port: UInt16) {
            self.descriptor = descriptor
            self.port = port
        }
        deinit { close(descriptor) }
    }

    /// Listens on `port` (all addresses) inside `namespace`. The kernel completes handshakes
    /// from the backlog, so nothing needs to accept for a connect to succeed.
    /// Throws `SystemCallError` when the socket cannot be made or bound.
    public static func listen(in namespace: NamespaceRef, port: UInt16) async throws -> Listener {
        let fd = try await withNetworkNamespace(namespace) { () throws -> Int32 in
            let fd = try systemCall("socket", context: "netns \(namespace)") {
                socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = socketAddress(.any, port: port)
            do {
                try systemCall("bind port \(port)", context: "netns \(namespace)") {
                    withUnsafePointer(to: &addr) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
                try systemCall("listen", context: "netns \(namespace)") { Glibc.listen(fd, 16) }
            } catch {
                close(fd)
                throw error
            }
            return fd
        }
        return Listener(descriptor: fd, port: port)
    }

    /// Tries to connect from inside `namespace` (from `source`, when given) to
    /// `destination:port`, waiting at most `timeout` for the handshake.
    public static func connect(from namespace: NamespaceRef, source: IPv4Address? = nil,
                               to destination: IPv4Address, port: UInt16,
                               timeout: Duration = .seconds(2)) async -> Outcome {
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        do {
            return try await withNetworkNamespace(namespace) { () throws -> Outcome in
                let fd = try systemCall("socket", context: "netns \(namespace)") {
                    socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                }
                defer { close(fd) }
                if let source {
                    var local = socketAddress(source, port: 0)
                    try systemCall("bind \(source)", context: "netns \(namespace)") {
                        withUnsafePointer(to: &local) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            }
                        }
                    }
                }
                var remote = socketAddress(destination, port: port)
                let rc = withUnsafePointer(to: &remote) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                if rc == 0 { return .connected }
                if errno != EINPROGRESS { return outcome(errno: errno) }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ready: Int32
                repeat { ready = poll(&pfd, 1, milliseconds) } while ready < 0 && errno == EINTR
                if ready == 0 { return .timedOut }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                return soError == 0 ? .connected : outcome(errno: soError)
            }
        } catch {
            return .failed("\(error)")
        }
    }

    private static func outcome(errno code: Int32) -> Outcome {
        switch code {
        case ECONNREFUSED: return .refused
        case ETIMEDOUT: return .timedOut
        default: return .failed(String(cString: strerror(code)))
        }
    }

    private static func socketAddress(_ address: IPv4Address, port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = address.value.bigEndian
        return addr
    }
}
