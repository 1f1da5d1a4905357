import Foundation

/// One thing an active Hopscope operation created and must undo: a link, an OVS mirror, a
/// namespace, a process, a partial file. Recorded in a `CleanupJournal` *before* it is created,
/// so that undoing must also succeed when the creation never happened.
public enum CleanupAction: Codable, Sendable, Hashable, CustomStringConvertible {
    /// `ip link del NAME` inside `namespace` (a named netns, nil for the current one). Deleting one
    /// end of a veth pair removes both. A link that no longer exists counts as undone.
    case deleteLink(name: String, namespace: String?)
    /// Runs `argv` (never a shell) inside `namespace` with `environment`; a failure whose stderr
    /// contains `alreadyUndoneWhen` counts as undone (e.g. OVS's `no row "X" in table Mirror`).
    case run(argv: [String], namespace: String?, environment: [String: String], alreadyUndoneWhen: String?)
    /// `ip netns del NAME`.
    case deleteNamespace(name: String)
    /// SIGTERM (then SIGKILL after 2 s) to `pid`, only while it is still the process that started
    /// at `startTime` (clock ticks since boot, /proc/PID/stat field 22), so a reused PID is never hit.
    case stopProcess(pid: Int32, startTime: UInt64)
    /// Removes a file, e.g. a capture that was still being written.
    case removeFile(path: String)

    public var description: String {
        switch self {
        case .deleteLink(let name, let ns): "delete link \(name)" + (ns.map { " in netns \($0)" } ?? "")
        case .run(let argv, let ns, _, _): "run `\(argv.joined(separator: " "))`" + (ns.map { " in netns \($0)" } ?? "")
        case .deleteNamespace(let name): "delete netns \(name)"
        case .stopProcess(let pid, _): "stop process \(pid)"
        case .removeFile(let path): "remove \(path)"
        }
    }
}

/// A recorded action with what it is for, in the operator's words.
public struct CleanupEntry: Codable, Sendable, Hashable, Identifiable {
    public var id: UUID
    public var action: CleanupAction
    public var note: String
    public var recorded: Date
}

/// What a journal file holds: who wrote it and what is still to be undone, oldest first.
struct CleanupJournalFile: Codable {
    var ownerPID: Int32
    var ownerStartTime: UInt64
    var purpose: String
    var entries: [CleanupEntry]
}

/// An undo that failed, with the reason; the entry stays in its journal for the next replay.
public struct CleanupFailure: Error, Sendable, CustomStringConvertible {
    public var entry: CleanupEntry
    public var reason: String
    public var description: String { "could not \(entry.action) (\(entry.note)): \(reason)" }
}

/// The outcome of replaying journals: what was undone and what could not be.
public struct CleanupReport: Sendable {
    public var undone: [CleanupEntry] = []
    public var failures: [CleanupFailure] = []
    /// Journals skipped because their owner is still running.
    public var journalsInUse: [String] = []
}

/// An on-disk, write-ahead record of temporary things one Hopscope process creates (mirrors, veth
/// pairs, namespaces, processes, partial files), so that they are removed even after Ctrl-C, a
/// crash or SIGKILL: the owner undoes them when done, and otherwise the next Hopscope run or
/// `hopscope cleanup` replays every journal whose owner process is gone.
///
/// Each journal is one JSON file `DIR/<pid>-<uuid>.json`, rewritten atomically (temporary file,
/// fsync, rename) on every change. Concurrency: methods are serialised by a lock; safe from any
/// thread or task. Undo order is the reverse of recording order.
public final class CleanupJournal: @unchecked Sendable {
    /// Where journals live: `$HOPSCOPE_STATE_DIR/cleanup`, else `/run/hopscope/cleanup` (a tmpfs,
    /// cleared at boot together with the namespaces and links it would describe).
    public static var defaultDirectory: String {
        let base = ProcessInfo.processInfo.environment["HOPSCOPE_STATE_DIR"] ?? "/run/hopscope"
        return base + "/cleanup"
    }

    public let path: String
    private let lock = NSLock()
    private var file: CleanupJournalFile

    /// Creates a new, empty journal for this process. Throws when the directory cannot be made or
    /// written (the caller must then not create anything it cannot record).
    public init(directory: String = CleanupJournal.defaultDirectory, purpose: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let pid = getpid()
        path = "\(directory)/\(pid)-\(UUID().uuidString).json"
        file = CleanupJournalFile(ownerPID: pid, ownerStartTime: processStartTime(pid) ?? 0, purpose: purpose, entries: [])
        try save()
    }

    /// The entries still to undo, oldest first.
    public var entries: [CleanupEntry] { lock.withLock { file.entries } }

    /// Records `action` before it is carried out. Returns the entry id for `forget`.
    @discardableResult
    public func record(_ action: CleanupAction, note: String) throws -> UUID {
        try lock.withLock {
            let entry = CleanupEntry(id: UUID(), action: action, note: note, recorded: Date())
            file.entries.append(entry)
            try save()
            return entry.id
        }
    }

    /// Drops an entry whose thing was removed by its owner (e.g. a partial file that was committed).
    public func forget(_ id: UUID) throws {
        try lock.withLock {
            file.entries.removeAll { $0.id == id }
            try save()
        }
    }

    /// Undoes every entry, newest first, forgetting each that succeeded, and deletes the journal
    /// file when nothing is left. Failures stay recorded for a later `hopscope cleanup`.
    @discardableResult
    public func undoAll() async -> CleanupReport {
        var report = CleanupReport()
        for entry in entries.reversed() {
            do {
                try await Self.undo(entry.action)
                try? forget(entry.id)
                report.undone.append(entry)
            } catch {
                report.failures.append(CleanupFailure(entry: entry, reason: "\(error)"))
            }
        }
        lock.withLock {
            if file.entries.isEmpty { unlink(path) }
        }
        return report
    }

    /// Replays every journal in `directory` whose owner process has ended (or every journal, with
    /// `includingLiveOwners`): undoes its entries newest first and deletes the journal when all
    /// succeeded. Unreadable journals are reported as failures and left in place.
    public static func replayAbandoned(directory: String = CleanupJournal.defaultDirectory,
                                       includingLiveOwners: Bool = false) async -> CleanupReport {
        var report = CleanupReport()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let journalPath = "\(directory)/\(name)"
            let contents: CleanupJournalFile
            do {
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                contents = try decoder.decode(CleanupJournalFile.self, from: Data(contentsOf: URL(fileURLWithPath: journalPath)))
            } catch {
                let entry = CleanupEntry(id: UUID(), action: .removeFile(path: journalPath), note: "unreadable journal", recorded: Date())
                report.failures.append(CleanupFailure(entry: entry, reason: "cannot read \(journalPath): \(error); inspect and delete it by hand"))
                continue
            }
            if contents.ownerPID == getpid() { continue }
            if !includingLiveOwners, processStartTime(contents.ownerPID) == contents.ownerStartTime {
                report.journalsInUse.append(journalPath)
                continue
            }
            var remaining = contents
            for entry in contents.entries.reversed() {
                do {
                    try await undo(entry.action)
                    report.undone.append(entry)
                    remaining.entries.removeAll { $0.id == entry.id }
                } catch {
                    report.failures.append(CleanupFailure(entry: entry, reason: "\(error)"))
                }
            }
            if remaining.entries.isEmpty {
                unlink(journalPath)
            } else {
                try? write(remaining, to: journalPath)
            }
        }
        return report
    }

    // MARK: undoing one action

    /// Carries out one undo; "already gone" counts as success.
    static func undo(_ action: CleanupAction) async throws {
        switch action {
        case .deleteLink(let name, let ns):
            let r = try await HostCommand.run(["ip", "link", "del", name], in: ns.map { .named($0) } ?? .current, check: false)
            // A missing link (or a namespace that is already gone with it) is what undo wants.
            if !r.succeeded && !r.standardError.contains("Cannot find device") && !r.standardError.contains("Cannot open network namespace") {
                throw CommandError(argv: r.argv, namespace: ns, reason: .exited(r.exitCode), standardError: r.standardError)
            }
        case .run(let argv, let ns, let env, let alreadyUndone):
            let r = try await HostCommand.run(argv, in: ns.map { .named($0) } ?? .current, environment: env, check: false)
            if !r.succeeded && !(alreadyUndone.map { r.standardError.contains($0) } ?? false) {
                throw CommandError(argv: r.argv, namespace: ns, reason: .exited(r.exitCode), standardError: r.standardError)
            }
        case .deleteNamespace(let name):
            let r = try await HostCommand.run(["ip", "netns", "del", name], check: false)
            if !r.succeeded && FileManager.default.fileExists(atPath: NamespaceRef.named(name).path!) {
                throw CommandError(argv: r.argv, namespace: nil, reason: .exited(r.exitCode), standardError: r.standardError)
            }
        case .stopProcess(let pid, let startTime):
            guard processStartTime(pid) == startTime else { return }
            kill(pid, SIGTERM)
            for _ in 0..<20 {
                try await Task.sleep(for: .milliseconds(100))
                if processStartTime(pid) != startTime || isZombie(pid) { return }
            }
            kill(pid, SIGKILL)
        case .removeFile(let path):
            if unlink(path) != 0 && errno != ENOENT {
                throw SystemCallError(operation: "unlink \(path)", errno: errno)
            }
        }
    }

    // MARK: file

    private func save() throws {
        try Self.write(file, to: path)
    }

    private static func write(_ contents: CleanupJournalFile, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(contents)
        let temporary = path + ".tmp"
        let fd = try systemCall("open \(temporary)") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                offset += try systemCall("write \(temporary)") { Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset) }
            }
        }
        try systemCall("fsync \(temporary)") { fsync(fd) }
        try systemCall("rename \(temporary)") { rename(temporary, path) }
    }
}

/// The start time of process `pid` in clock ticks since boot (/proc/PID/stat field 22), or nil
/// when there is no such process. Together with the PID it identifies a process across PID reuse.
public func processStartTime(_ pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // Fields after the command name (which may contain spaces) start at field 3.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
}

/// True when `pid` has exited but not been reaped (its parent, e.g. PID 1 after `--detach`, did not wait).
private func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
}
