import CShims
import Foundation

/// Runs `body` once per namespace file descriptor, each time on an OS thread that has entered
/// that namespace with `setns(2)`, at most `maxConcurrent` at a time. Results come back in the
/// order of `namespaces`; a namespace that cannot be entered, or whose body throws, yields
/// `.failure` for that one only.
///
/// The threads are dedicated workers started for this call (never pool threads, never a Swift
/// task's): each takes the next namespace, enters it and runs the body there, and ends when none
/// is left, so no thread outlives the call inside another namespace (the thread rule). Reusing a
/// worker for several namespaces saves a thread start per namespace; a body that needs a clean
/// thread of its own uses `inNetworkNamespace` instead.
///
/// The caller's thread blocks until every body has finished. Bodies must be synchronous and
/// must not hand work to other threads.
public func forEachNetworkNamespace<T>(
    _ namespaces: [(fd: Int32, label: String)],
    maxConcurrent: Int,
    _ body: (Int) throws -> T
) -> [Result<T, any Error>] {
    if namespaces.isEmpty { return [] }
    return withoutActuallyEscaping(body) { escapable in
        let results = ResultsBox<T>(count: namespaces.count)
        let group = DispatchGroup()
        // The threads reach the body through this box, which is emptied before returning: a
        // Thread keeps its block alive a little after it signals, and the body must not be
        // referenced by then (withoutActuallyEscaping checks).
        let work = BodyBox(escapable)
        defer { work.clear() }
        for worker in 0..<min(max(1, maxConcurrent), namespaces.count) {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let i = results.claimNext() {
                    let ns = namespaces[i]
                    results.set(i, Result { () throws -> T in
                        try enterNetworkNamespace(fd: ns.fd, label: ns.label)
                        return try work.call(i)
                    })
                }
            }
            thread.name = "hopscope-netns-\(worker)"
            thread.start()
        }
        group.wait()
        return results.all()
    }
}

/// Moves the calling thread into the network namespace open as `fd`. Wraps `setns`.
/// Only ever called on a thread that ends when its work is done.
func enterNetworkNamespace(fd: Int32, label: String) throws {
    try systemCall("setns", context: "netns \(label)") { hs_setns(fd, hs_clone_newnet()) }
}

/// Hands out the namespaces to the workers and collects their results; the lock orders the
/// accesses, `group.wait()` the final read.
private final class ResultsBox<T>: @unchecked Sendable {
    private var items: [Result<T, any Error>?]
    private var next = 0
    private let lock = NSLock()
    init(count: Int) { items = Array(repeating: nil, count: count) }
    /// The next namespace no worker has taken yet, or nil when all are taken.
    func claimNext() -> Int? {
        lock.withLock {
            guard next < items.count else { return nil }
            next += 1
            return next - 1
        }
    }
    func set(_ i: Int, _ r: Result<T, any Error>) { lock.withLock { items[i] = r } }
    func all() -> [Result<T, any Error>] { lock.withLock { items.map { $0! } } }
}

/// Lets the non-Sendable body reach the worker threads while the caller blocks on them; the
/// caller clears it once every thread has finished, so no thread holds the body afterwards.
private final class BodyBox<T>: @unchecked Sendable {
    private var body: ((Int) throws -> T)?
    init(_ body: @escaping (Int) throws -> T) { self.body = body }
    func call(_ i: Int) throws -> T { try body!(i) }
    func clear() { body = nil }
}
