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
        let work = SendableBox(escapable)
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
                    return try work.value(i)
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

/// Lets the non-Sendable body reach the worker threads while the caller blocks on them.
private struct SendableBox<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
