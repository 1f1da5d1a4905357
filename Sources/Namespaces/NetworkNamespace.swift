import CShims
import Foundation
import HopscopeModel

/// A reference to a network namespace that can be entered: by name (`ip netns` style, a file
/// under /run/netns), by a process inside it, or by any nsfs path.
public enum NamespaceRef: Hashable, Sendable, CustomStringConvertible {
    /// The namespace of this process (where it started), no `setns` needed.
    case current
    /// A named namespace: `/run/netns/NAME` (or `/var/run/netns/NAME`).
    case named(String)
    /// The namespace a process is in: `/proc/PID/ns/net`.
    case process(Int32)
    /// Any nsfs path or bind mount.
    case path(String)

    /// The file to open for `setns`, or nil for `.current`.
    public var path: String? {
        switch self {
        case .current: return nil
        case .named(let name):
            let run = "/run/netns/\(name)"
            if FileManager.default.fileExists(atPath: run) { return run }
            let varRun = "/var/run/netns/\(name)"
            return FileManager.default.fileExists(atPath: varRun) ? varRun : run
        case .process(let pid): return "/proc/\(pid)/ns/net"
        case .path(let p): return p
        }
    }

    public var description: String {
        switch self {
        case .current: "(this namespace)"
        case .named(let n): n
        case .process(let pid): "pid \(pid)"
        case .path(let p): p
        }
    }
}

/// A failed system call, naming the operation, the errno and the namespace it was made for.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var errno: Int32
    public var context: String?

    public init(operation: String, errno: Int32, context: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.context = context
    }

    public var description: String {
        let what = String(cString: strerror(errno))
        return "\(operation) failed: \(what) (errno \(errno))" + (context.map { " [\($0)]" } ?? "")
    }
}

/// Runs a system call that returns -1 (or a negative value) on failure, retrying on EINTR, and
/// throws `SystemCallError` naming `operation` otherwise. The one funnel for syscall errors.
@discardableResult
public func systemCall<T: SignedInteger>(_ operation: @autoclosure () -> String, context: String? = nil, _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = errno
        if e == EINTR { continue }
        throw SystemCallError(operation: operation(), errno: e, context: context)
    }
}

/// The thread rule, made into a function: runs `body` on a fresh OS thread that first enters
/// the namespace `ns` with `setns(2)`, and returns its result.
///
/// `setns` changes only the calling thread, and sockets, pcap handles and `/proc/thread-self/net`
/// keep the namespace they were made in. Running the body on a thread of its own that ends
/// afterwards guarantees that no pool thread (and no Swift task) is ever left in another
/// namespace. The body must be synchronous and must not hop to other threads; anything it
/// creates there (sockets, handles) stays in `ns` after it returns.
///
/// The caller's thread blocks until the body ends; from async code use
/// `withNetworkNamespace(_:_:)`, which suspends instead.
///
/// Throws `SystemCallError` when the namespace cannot be opened or entered (it disappeared, or the
/// process lacks CAP_SYS_ADMIN), or whatever `body` throws.
public func inNetworkNamespace<T>(_ ns: NamespaceRef, _ body: () throws -> T) throws -> T {
    guard let path = ns.path else { return try body() }
    return try withoutActuallyEscaping(body) { escapable in
        let box = ResultBox<T>()
        box.work = escapable
        let done = DispatchSemaphore(value: 0)
        // The thread object may outlive the wait below, so its block must not hold the body:
        // the box hands the body over and drops it before the caller is woken.
        let thread = Thread {
            box.run(path: path, label: ns.description)
            done.signal()
        }
        thread.name = "hopscope-netns-\(ns.description)"
        thread.start()
        done.wait()
        return try box.result!.get()
    }
}

/// The async form of `inNetworkNamespace(_:_:)`: suspends the task (freeing its pool thread)
/// while the body runs on its own OS thread inside `ns`.
public func withNetworkNamespace<T: Sendable>(_ ns: NamespaceRef, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    guard let path = ns.path else {
        return try await withCheckedThrowingContinuation { cont in
            Thread { cont.resume(with: Result { try body() }) }.start()
        }
    }
    return try await withCheckedThrowingContinuation { cont in
        let thread = Thread {
            cont.resume(with: Result {
                try enterNetworkNamespace(path: path, label: ns.description)
                return try body()
            })
        }
        thread.name = "hopscope-netns-\(ns.description)"
        thread.start()
    }
}

/// Moves the calling thread into the network namespace at `path`. Wraps `setns`.
/// Only ever called on a thread that ends when its work is done.
func enterNetworkNamespace(path: String, label: String) throws {
    let fd = try systemCall("open \(path)", context: "netns \(label)") { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    try enterNetworkNamespace(fd: fd, label: label)
}

/// Carries the body into the namespace thread and its result back to the waiting caller; the
/// semaphore orders the accesses, and the caller waits before the body's lifetime ends.
private final class ResultBox<T>: @unchecked Sendable {
    var work: (() throws -> T)?
    var result: Result<T, any Error>?

    /// Runs the body inside the namespace and releases it, so nothing holds it once the caller wakes.
    func run(path: String, label: String) {
        guard let body = work else { return }
        work = nil
        result = Result { () throws -> T in
            try enterNetworkNamespace(path: path, label: label)
            return try body()
        }
    }
}
