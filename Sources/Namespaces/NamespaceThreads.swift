import Foundation

/// Runs `body` once per namespace file descriptor, each on a fresh OS thread that enters that
/// namespace with `setns(2)` and ends afterwards (the thread rule), at most `maxConcurrent` at a
/// time. Results come back in the order of `namespaces`; a namespace that cannot be entered, or
/// whose body throws, yields `.failure` for that one only.
///
/// The caller's thread blocks until every body has finished. Bodies must be synchronous and
/// must not hand work to other threads.
public func forEachNetworkNamespace<T>(
    _ namespaces: [(fd: Int32, label: String)],
    maxConcurrent: Int,
    _ body: (Int) throws -> T
) -> [Result<T, any Error>] {
    withoutActuallyEscaping(body) { escapable in
        let results = ResultsBox<T>(count: namespaces.count)
        let slots = DispatchSemaphore(value: max(1, maxConcurrent))
        let group = DispatchGroup()
        // The threads reach the body through this box, which is emptied before returning: a
        // Thread keeps its block alive a little after it signals, and the body must not be
        // referenced by then (withoutActuallyEscaping checks).
        let work = BodyBox(escapable)
        defer { work.clear() }
        for (i, ns) in namespaces.enumerated() {
            slots.wait()
            group.enter()
            let thread = Thread {
                defer {
                    slots.signal()
                    group.leave()
                }
                let r = Result { () throws -> T in
                    try enterNetworkNamespace(path: "/proc/self/fd/\(ns.fd)", label: ns.label)
                    return try work.call(i)
                }
                results.set(i, r)
            }
            thread.name = "hopscope-netns-\(ns.label)"
            thread.start()
        }
        group.wait()
        return results.all()
    }
}

/// Collects per-thread results; the lock orders the writes, `group.wait()` the final read.
private final class ResultsBox<T>: @unchecked Sendable {
    private var items: [Result<T, any Error>?]
    private let lock = NSLock()
    init(count: Int) { items = Array(repeating: nil, count: count) }
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
